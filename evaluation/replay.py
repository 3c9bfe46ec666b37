"""``--replay DIR``: run the evaluation against a recorded host instead of this machine.

A :class:`Replay` puts one small shim executable per recorded tool (every ``tool`` in
``DIR/host.json``, plus the standard set the evaluation calls) first on ``PATH`` and points
the system probes at ``DIR/root``. The shims (:mod:`.replay_shim`) live in a temporary
folder that is removed when the replay ends. Everything the evaluation prints or writes
while replaying says that it shows a RECORDING, not this machine.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from multiarc.errors import InputError

from . import replay_shim

# Tools the evaluation may call; each gets a shim even if the recording lacks it, so a
# missing recording shows up as "replay: no recording for ..." instead of the real tool.
STANDARD_TOOLS = (
    "sycl-ls",
    "xpu-smi",
    "lspci",
    "dmesg",
    "ze_peer",
    "ze_peak",
    "matrix_mul_mkl",
    "mpirun",
    "1ccl_benchmark",
)

BANNER = "RECORDING {name}: replayed tool output, not this machine"


@dataclass
class Recording:
    """What ``host.json`` says about the recorded host."""

    path: Path
    description: str
    gpus: int | None
    tools: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def root(self) -> Path:
        return self.path / "root"

    @property
    def banner(self) -> str:
        return BANNER.format(name=self.name)


def load_recording(path: Path) -> Recording:
    """Read and sanity-check ``DIR/host.json``; InputError (exit 2) when it is not a recording."""
    path = Path(path).resolve()
    host_file = path / "host.json"
    hint = "point --replay at a recording folder, e.g. tests/recordings/b60x4"
    if not host_file.is_file():
        raise InputError(f"{path} is not a recording: no host.json", hint)
    try:
        host = json.loads(host_file.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{host_file}: not valid JSON ({err})", hint) from err
    commands = host.get("commands") if isinstance(host, dict) else None
    if not isinstance(commands, list) or not all(
        isinstance(c, dict) and isinstance(c.get("tool"), str) for c in commands
    ):
        raise InputError(f"{host_file}: 'commands' must be a list of entries with a 'tool'", hint)
    for entry in commands:
        tool = entry["tool"]
        if "/" in tool or not tool or tool.startswith("."):
            raise InputError(f"{host_file}: bad tool name {tool!r}", hint)
    gpus = host.get("gpus")
    return Recording(
        path=path,
        description=str(host.get("description", "")),
        gpus=gpus if isinstance(gpus, int) else None,
        tools=tuple(dict.fromkeys(c["tool"] for c in commands)),
        info={k: v for k, v in host.items() if k != "commands"},
    )


def _write_shim(folder: Path, recording: Path, tool: str) -> None:
    script = folder / tool
    command = " ".join(
        shlex.quote(part)
        for part in (sys.executable, "-I", "-S", replay_shim.__file__, str(recording), tool)
    )
    script.write_text(f'#!/bin/sh\n# multiarc replay shim (RECORDING)\nexec {command} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


class Replay:
    """Context manager: shims on PATH for the recording's tools, removed on exit."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.shim_dir: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Replay:
        self._tmp = tempfile.TemporaryDirectory(prefix="multiarc-replay-")
        self.shim_dir = Path(self._tmp.name)
        for tool in dict.fromkeys((*self.recording.tools, *STANDARD_TOOLS)):
            _write_shim(self.shim_dir, self.recording.path, tool)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
        self._tmp = None
        self.shim_dir = None

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default os.environ) with the shim folder first on PATH."""
        env = dict(os.environ if base is None else base)
        if self.shim_dir is not None:
            env[replay_shim.STATE_ENV] = str(self.shim_dir)
        return with_path_first(env, self.shim_dir)


def with_path_first(env: dict[str, str], folder: Path | None) -> dict[str, str]:
    """``env`` with ``folder`` first on PATH (once); unchanged when folder is None."""
    if folder is None:
        return env
    parts = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != str(folder)]
    env = dict(env)
    env["PATH"] = os.pathsep.join([str(folder), *parts])
    return env


def copy_root(recording: Recording, target: Path) -> Path:
    """A writable copy of the recording's root (performance mode never writes into it)."""
    destination = target / "root"
    shutil.copytree(recording.root, destination, symlinks=True)
    return destination
