"""The machine ``quick`` and ``basic`` evaluate: this one, or a recording replayed.

Replaying puts the recording's shims first on PATH and points the probes at its ``root/``;
either way the oneAPI environment (setvars.sh) is sourced as the original does.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from multiarc.evaluation import checks as checks_mod
from rich.console import Console

from multiarc import paths
from multiarc.errors import EnvironmentNotReady

from .replay import Recording, Replay, load_recording, with_path_first
from .runner import ToolRun, capture_setvars

REPLAY_HINT = "run with --replay tests/recordings/b60x4 to see the pipeline on a recording"


@dataclass
class Target:
    """The machine being evaluated: this one, or a recording replayed through shims."""

    root: Path
    env: dict[str, str]
    setvars: ToolRun | None  # sourcing setvars.sh (None when it is not installed)
    recording: Recording | None = None

    @property
    def label(self) -> str:
        if self.recording is not None:
            return f"RECORDING {self.recording.name} ({self.recording.path})"
        return socket.gethostname()


@contextlib.contextmanager
def open_target(replay: Path | None) -> Iterator[Target]:
    """Shims on PATH and probes on DIR/root when replaying; the oneAPI environment sourced."""
    with contextlib.ExitStack() as stack:
        recording = None
        shim_dir = None
        root = Path("/")
        env = dict(os.environ)
        if replay is not None:
            recording = load_recording(replay)
            shims = stack.enter_context(Replay(recording))
            shim_dir = shims.shim_dir
            root = recording.root
            env = shims.environ(env)
        setvars_path = root / str(paths.ONEAPI_SETVARS).lstrip("/")
        setvars_run = None
        if setvars_path.is_file():
            captured, setvars_run = capture_setvars(setvars_path, env)
            if captured is not None:
                env = with_path_first(captured, shim_dir)
        yield Target(root=root, env=env, setvars=setvars_run, recording=recording)


def say_recording(console: Console, target: Target) -> None:
    if target.recording is not None:
        console.print(
            f"[bold magenta]{target.recording.banner}[/]\n[dim]{target.recording.description}[/]",
            highlight=False,
        )


def not_ready(facts: checks_mod.Facts) -> None:
    reason = checks_mod.environment_not_ready(facts)
    if reason is not None:
        raise EnvironmentNotReady(reason, REPLAY_HINT)


def make_console() -> Console:
    """Rich on a terminal; plain, wide lines (no wrapping at 80 columns) in pipes and logs."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=160, no_color=True, highlight=False)


def exit_with(code: int) -> NoReturn:
    sys.exit(code)
