"""Run tools the way the evaluation needs: own timeout, own process group, raw log kept.

One hung, crashing or missing tool never stops the evaluation: :func:`run_command` always
returns a :class:`ToolRun`. A tool that outlives its timeout is killed together with
everything it started (its whole process group: mpirun's ranks too). Ctrl-C kills the
running tool the same way, then propagates so the caller can stop cleanly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from multiarc.evaluation.extract import metrics_from_ccl_csv, metrics_from_step
from multiarc.evaluation.model import Metric, ParseProblem, StepResult
from multiarc.evaluation.parsers.sycl_ls import parse_sycl_ls
from multiarc.evaluation.parsers.xpu_smi import parse_discovery, parse_dump

from multiarc import paths

from .conditions import busy_warning, gpu_holders
from .run_writer import RunFolder
from .steps import BENCHMARK_ENV, StepSpec, log_name

KILL_GRACE_S = 2.0


@dataclass
class ToolRun:
    """What one tool run did."""

    argv: list[str]
    exit_code: int | None  # None: never started, or killed at its timeout
    output: str  # stdout and stderr, interleaved as the tool printed them (2>&1)
    duration_s: float
    timed_out: bool = False
    error: str = ""  # one line: why it did not run or did not finish

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.error


def resolve_tool(
    name: str, env: Mapping[str, str], extra_dirs: Iterable[Path] = paths.TOOL_SEARCH_DIRS
) -> str | None:
    """Absolute path of ``name``: the step environment's PATH first, then the install folders."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) else None
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found:
        return found
    for folder in extra_dirs:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after a grace period."""
    for sig, wait_s in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            # The leader is gone; make sure no member of its group survives it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def run_command(
    argv: list[str],
    *,
    env: Mapping[str, str],
    timeout_s: float,
    cwd: Path | None = None,
    log_path: Path | None = None,
) -> ToolRun:
    """Run ``argv`` (argv[0] resolved on env's PATH), output to ``log_path`` as it comes.

    Never raises for the tool's sake (missing, failing, hanging, crashing); a
    KeyboardInterrupt kills the tool's process group and is re-raised after the partial
    output was written.
    """
    started = time.monotonic()
    exe = resolve_tool(argv[0], env)
    if exe is None:
        message = (
            f"{argv[0]}: command not found (PATH and {', '.join(map(str, paths.TOOL_SEARCH_DIRS))})"
        )
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text("")
        return ToolRun(list(argv), None, "", 0.0, error=message)
    full = [exe, *argv[1:]]
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        sink = open(log_path, "w+b")  # noqa: SIM115 - closed below
    else:
        sink = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    timed_out = False
    error = ""
    exit_code: int | None = None
    try:
        try:
            proc = subprocess.Popen(
                full,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as err:
            return ToolRun(
                full,
                None,
                "",
                time.monotonic() - started,
                error=f"{argv[0]} could not start: {err.strerror or err}",
            )
        try:
            exit_code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            error = f"timed out after {timeout_s:g} s; killed with its process group"
        except BaseException:  # Ctrl-C / SIGTERM: do not leave the tool running
            _kill_group(proc)
            raise
        if exit_code is not None and exit_code < 0:
            error = f"killed by {signal_name(-exit_code)}"
        elif exit_code == 127 and not error:
            error = "exit 127: command or one of its parts not found"
        sink.flush()
        sink.seek(0)
        output = sink.read().decode("utf-8", errors="replace")
    finally:
        sink.close()
    return ToolRun(
        full,
        None if timed_out else exit_code,
        output,
        time.monotonic() - started,
        timed_out=timed_out,
        error=error,
    )


# Variables bash sets for itself; they are not part of the oneAPI environment.
SHELL_NOISE = frozenset({"_", "SHLVL", "PWD", "OLDPWD", "BASH_EXECUTION_STRING"})
# bash -c SCRIPT multiarc-eval SETVARS ENV_FILE: sourced once, its environment written out
# (also what a fleet node runs, sent by fleet_run)
SETVARS_SCRIPT = 'source "$1" --force; rc=$?; env -0 > "$2"; exit $rc'
SETVARS_TIMEOUT_S = 120.0


def capture_setvars(
    setvars: Path, env: Mapping[str, str], timeout_s: float = SETVARS_TIMEOUT_S
) -> tuple[dict[str, str] | None, ToolRun]:
    """``source setvars.sh --force`` in bash once; the resulting environment and its output.

    The output (what the original appends to benchmark_detail_log.txt first) is in the
    ToolRun. The environment is None when bash or the script failed.
    """
    with tempfile.TemporaryDirectory(prefix="multiarc-setvars-") as tmp:
        env_file = Path(tmp) / "env"
        argv = ["bash", "-c", SETVARS_SCRIPT, "multiarc-eval", str(setvars), str(env_file)]
        run = run_command(argv, env=env, timeout_s=timeout_s)
        run.argv = ["bash", "-c", f"source {setvars} --force"]
        if not run.ok or not env_file.is_file():
            if not run.error:
                run.error = f"sourcing {setvars} failed (exit {run.exit_code})"
            return None, run
        captured: dict[str, str] = {}
        for item in env_file.read_bytes().split(b"\0"):
            key, sep, value = item.decode("utf-8", errors="replace").partition("=")
            if sep and key and key not in SHELL_NOISE:
                captured[key] = value
    return captured, run


# ----------------------------------------------------------------------------- steps of `basic`


@dataclass
class StepOutcome:
    """A finished step: its record plus the figures and problems read from its output."""

    result: StepResult
    metrics: list[Metric]
    problems: list[ParseProblem]


class StepObserver(Protocol):
    """What the live view hears while the plan runs."""

    def step_started(self, index: int, spec: StepSpec) -> None: ...

    def step_finished(self, index: int, spec: StepSpec, result: StepResult) -> None: ...


def read_step_output(spec: StepSpec, output: str, run_dir: Path) -> StepOutcome:
    """Metrics and parse problems of one step's output (oneCCL: its -o CSV when written)."""
    metrics: list[Metric] = []
    problems: list[ParseProblem] = []
    if spec.kind in _STATUS_PARSERS:
        problems = list(_STATUS_PARSERS[spec.kind](output).problems)
    elif spec.kind == "ccl":
        csv_path = run_dir / spec.csv_name
        csv_text = csv_path.read_text(errors="replace") if csv_path.is_file() else ""
        if csv_text:
            metrics, problems = metrics_from_ccl_csv(csv_text, spec.ccl_op, step=spec.name)
        if not metrics:
            metrics, text_problems = metrics_from_step("ccl", output, step=spec.name)
            problems += text_problems
    elif spec.kind:
        metrics, problems = metrics_from_step(
            spec.kind, output, devices=spec.devices, step=spec.name
        )
    return StepOutcome(StepResult(spec.name, list(spec.argv), None, 0.0, ""), metrics, problems)


_STATUS_PARSERS = {
    "sycl-ls": parse_sycl_ls,
    "xpu-smi-discovery": parse_discovery,
    "xpu-smi-dump": parse_dump,
}


def spv_workdir(ze_peak: str | None, root: Path, target: Path) -> list[str]:
    """Copy the ze_peak ``.spv`` kernels into ``target``; the names copied.

    Looked up next to the ze_peak binary and in the installed level-zero-tests folder
    (under ``root`` when replaying), as the original copies ./tools/level-zero-tests/*.spv.
    """
    folders = [root / str(paths.LEVEL_ZERO_TESTS_DIR).lstrip("/")]
    if ze_peak:
        folders.insert(0, Path(ze_peak).resolve().parent)
    copied: list[str] = []
    for folder in folders:
        for spv in sorted(folder.glob("*.spv")) if folder.is_dir() else []:
            if spv.name not in copied:
                shutil.copy2(spv, target / spv.name)
                copied.append(spv.name)
    return copied


def execute_steps(
    specs: list[StepSpec],
    *,
    env: Mapping[str, str],
    run: RunFolder,
    root: Path = Path("/"),
    observer: StepObserver | None = None,
    first_index: int = 1,
    detail: bool = True,
) -> tuple[list[StepOutcome], bool]:
    """Run every step in order; (outcomes, interrupted).

    A failing, hanging or crashing tool is recorded and the next step runs. On Ctrl-C (or
    SIGTERM turned into KeyboardInterrupt) the running tool is killed, the rest are marked
    not run, and everything written so far stays in the run folder. ``detail``: append each
    tool's output to the detail log (the repeats of confirm.py are not).
    """
    outcomes: list[StepOutcome] = []
    total = len(specs) + first_index - 1
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="multiarc-spv-") as spv_tmp:
        runner = _StepRunner(env=env, run=run, root=root, spv_dir=Path(spv_tmp), detail=detail)
        for offset, spec in enumerate(specs):
            index = first_index + offset
            rel_log = log_name(index, total, spec.name)
            if interrupted:
                result = StepResult(
                    spec.name,
                    list(spec.argv),
                    None,
                    0.0,
                    rel_log,
                    skipped_reason="not run: interrupted",
                )
                outcomes.append(StepOutcome(result, [], []))
                continue
            try:
                if observer is not None:
                    observer.step_started(index, spec)
                outcome = runner.run(spec, rel_log)
            except KeyboardInterrupt:
                interrupted = True
                outcome = runner.interrupted(spec, rel_log)
            outcomes.append(outcome)
            if observer is not None:
                try:
                    observer.step_finished(index, spec, outcome.result)
                except KeyboardInterrupt:
                    interrupted = True
    return outcomes, interrupted


class _StepRunner:
    """Runs one step: working folder, environment, raw log, detail log, figures."""

    def __init__(
        self, *, env: Mapping[str, str], run: RunFolder, root: Path, spv_dir: Path, detail: bool
    ) -> None:
        self.detail = detail
        self.env = env
        self.run_folder = run
        self.root = root
        self.spv_dir = spv_dir
        self.spv_ready: list[str] | None = None
        self.appended = False  # the current step's output is in the detail log

    def run(self, spec: StepSpec, rel_log: str) -> StepOutcome:
        self.appended = False
        cwd = self.run_folder.path
        note = ""
        if spec.needs_spv:
            if self.spv_ready is None:
                self.spv_ready = spv_workdir(
                    resolve_tool(spec.tool, self.env), self.root, self.spv_dir
                )
            cwd = self.spv_dir
            if not self.spv_ready:
                note = "no .spv kernels found for ze_peak (level-zero-tests folder); "
        holders = gpu_holders(self.root, exclude=(os.getpid(),))
        step_env = {**self.env, **BENCHMARK_ENV, **spec.extra_env}
        tool_run = run_command(
            list(spec.argv),
            env=step_env,
            timeout_s=spec.timeout_s,
            cwd=cwd,
            log_path=self.run_folder.path / rel_log,
        )
        if self.detail:
            self.run_folder.append_detail(tool_run.output)
        self.appended = True
        started = tool_run.exit_code is not None or tool_run.timed_out
        outcome = (
            read_step_output(spec, tool_run.output, self.run_folder.path)
            if started
            else StepOutcome(StepResult(spec.name, [], None, 0.0, ""), [], [])
        )
        outcome.result = StepResult(
            name=spec.name,
            argv=tool_run.argv,
            exit_code=tool_run.exit_code,
            duration_s=round(tool_run.duration_s, 3),
            log_path=rel_log,
            timed_out=tool_run.timed_out,
            error=((note if not tool_run.ok else "") + tool_run.error).strip("; "),
            parse_problems=[str(p) for p in outcome.problems],
            warnings=[busy_warning(holders)] if holders else [],
            conditions={"gpu_holders": [str(h) for h in holders]},
        )
        return outcome

    def interrupted(self, spec: StepSpec, rel_log: str) -> StepOutcome:
        """The step Ctrl-C hit: its partial output kept, marked interrupted."""
        log_path = self.run_folder.path / rel_log
        if self.detail and not self.appended and log_path.is_file():
            self.run_folder.append_detail(log_path.read_text(errors="replace"))
        self.appended = True
        result = StepResult(
            spec.name,
            list(spec.argv),
            None,
            0.0,
            rel_log,
            error="interrupted (Ctrl-C); tool killed",
        )
        return StepOutcome(result, [], [])
