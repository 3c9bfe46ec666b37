"""``--performance-mode``: CPU governor ``performance`` and GPU frequency locked, then restored.

On entry every CPU's ``cpufreq/scaling_governor`` becomes ``performance`` (and
``power/energy_perf_bias`` 0, where present), and every evaluated GPU's frequency range is
locked to its maximum with ``xpu-smi config -d N -t 0 --frequencyrange MAX,MAX`` after
reading the current range from ``xpu-smi config -d N``. On exit, however it happens (normal
end, an exception, Ctrl-C, SIGTERM turned into KeyboardInterrupt), every previous value is
written back; interrupts are held off while restoring so a second Ctrl-C cannot leave the
machine half restored.

Files are written under ``root`` (``/`` on a real host; a temporary copy of the recording's
root with ``--replay``, never the recording itself).

Standard library and the ``xpu-smi`` parser only: with ``--inventory`` this module is sent
to each node with those two parser files (:data:`NODE_FILES`) and runs there around the
step plan, with the node's own command runner (``run``).
"""

from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from multiarc.evaluation.parsers.xpu_smi import parse_config, parse_config_change

PERFORMANCE_GOVERNOR = "performance"
PERFORMANCE_EPB = "0"
XPU_SMI_TIMEOUT_S = 60.0
# what a node needs to run this module, relative to multiarc.evaluation (the packages'
# __init__ files are sent empty): the fleet playbook ships exactly these
NODE_FILES = ("perfmode.py", "model.py", "parsers/base.py", "parsers/xpu_smi.py")


class Answer(Protocol):
    """What a command run says (runner.ToolRun, or the node module's record)."""

    @property
    def ok(self) -> bool: ...

    exit_code: int | None
    output: str
    error: str


Runner = Callable[[list[str], Mapping[str, str], float], Answer]


def _tool_runner(argv: list[str], env: Mapping[str, str], timeout_s: float) -> Answer:
    from .runner import run_command  # the controller's runner (not sent to nodes)

    return run_command(argv, env=env, timeout_s=timeout_s)


@dataclass
class SavedFile:
    path: Path
    previous: str


@dataclass
class SavedFrequency:
    device: int
    min_mhz: float
    max_mhz: float


@dataclass
class PerformanceMode:
    """Context manager; ``changes`` and ``problems`` say what it did and what it could not."""

    root: Path
    env: Mapping[str, str]
    gpus: list[int]
    run: Runner = _tool_runner
    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _files: list[SavedFile] = field(default_factory=list)
    _frequencies: list[SavedFrequency] = field(default_factory=list)

    # ------------------------------------------------------------------ entering

    def __enter__(self) -> PerformanceMode:
        try:
            self._set_cpu()
            self._lock_gpus()
        except BaseException:
            self.restore()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    def _cpu_files(self, relative: str) -> list[Path]:
        base = self.root / "sys/devices/system/cpu"
        found = [p for p in base.glob(f"cpu*/{relative}") if re.fullmatch(r"cpu\d+", p.parts[-3])]
        return sorted(found, key=lambda p: int(p.parts[-3][3:]))

    def _write(self, path: Path, value: str) -> bool:
        try:
            previous = path.read_text().strip()
        except OSError as err:
            self.problems.append(f"cannot read {path}: {err.strerror or err}")
            return False
        if previous == value:
            return True
        try:
            path.write_text(value + "\n")
        except OSError as err:
            self.problems.append(f"cannot write {path}: {err.strerror or err}")
            return False
        self._files.append(SavedFile(path, previous))
        return True

    def _set_cpu(self) -> None:
        governors = self._cpu_files("cpufreq/scaling_governor")
        if not governors:
            self.problems.append("no CPU frequency governors (cpufreq) to set")
        before = {g.read_text().strip() for g in governors if g.is_file()}
        changed = 0
        for governor in governors:
            available = governor.with_name("scaling_available_governors")
            if available.is_file() and PERFORMANCE_GOVERNOR not in available.read_text().split():
                self.problems.append(f"{governor.parent.parent.name}: no 'performance' governor")
                continue
            if self._write(governor, PERFORMANCE_GOVERNOR):
                changed += 1
        if governors:
            self.changes.append(
                f"CPU governor {'/'.join(sorted(before)) or '?'} -> {PERFORMANCE_GOVERNOR} "
                f"on {changed} of {len(governors)} CPUs"
            )
        for bias in self._cpu_files("power/energy_perf_bias"):
            self._write(bias, PERFORMANCE_EPB)

    def _lock_gpus(self) -> None:
        for device in self.gpus:
            argv = ["xpu-smi", "config", "-d", str(device)]
            current = self.run(argv, self.env, XPU_SMI_TIMEOUT_S)
            tiles = [
                t
                for t in parse_config(current.output).records
                if t.tile_id == 0 and t.min_frequency_mhz and t.max_frequency_mhz
            ]
            if not current.ok or not tiles:
                why = current.error or f"exit {current.exit_code}"
                self.problems.append(f"GPU {device}: frequency range not readable ({why})")
                continue
            tile = tiles[0]
            assert tile.min_frequency_mhz is not None and tile.max_frequency_mhz is not None
            top = max((*tile.frequency_options_mhz, tile.max_frequency_mhz))
            if self._set_range(device, top, top):
                self._frequencies.append(
                    SavedFrequency(device, tile.min_frequency_mhz, tile.max_frequency_mhz)
                )
                self.changes.append(
                    f"GPU {device} frequency {tile.min_frequency_mhz:g}-"
                    f"{tile.max_frequency_mhz:g} -> {top:g}-{top:g} MHz"
                )

    def _set_range(self, device: int, low: float, high: float) -> bool:
        argv = ["xpu-smi", "config", "-d", str(device), "-t", "0", "--frequencyrange"]
        argv.append(f"{low:g},{high:g}")
        run = self.run(argv, self.env, XPU_SMI_TIMEOUT_S)
        answer = parse_config_change(run.output)
        if run.ok and answer.records and all(r.succeeded for r in answer.records):
            return True
        said = answer.records[0].message if answer.records else (run.error or run.output.strip())
        self.problems.append(f"GPU {device}: {' '.join(argv[1:])} failed: {said[:160]}")
        return False

    # ------------------------------------------------------------------ restoring

    def restore(self) -> None:
        """Write every saved value back (GPUs first, then CPUs), interrupts held off."""
        with _interrupts_held():
            while self._frequencies:
                saved = self._frequencies.pop()
                if self._set_range(saved.device, saved.min_mhz, saved.max_mhz):
                    self.changes.append(
                        f"GPU {saved.device} frequency restored to "
                        f"{saved.min_mhz:g}-{saved.max_mhz:g} MHz"
                    )
            restored = 0
            while self._files:
                saved_file = self._files.pop()
                try:
                    saved_file.path.write_text(saved_file.previous + "\n")
                    restored += 1
                except OSError as err:
                    self.problems.append(
                        f"cannot restore {saved_file.path} to {saved_file.previous!r}: "
                        f"{err.strerror or err}"
                    )
            if restored:
                self.changes.append(f"CPU settings restored ({restored} files)")


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM for the duration (main thread only), then put the handlers back."""
    saved: dict[signal.Signals, Any] = {}
    try:
        for held in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # ValueError: not the main thread
                saved[held] = signal.signal(held, signal.SIG_IGN)
        yield
    finally:
        for held, handler in saved.items():
            signal.signal(held, handler)
