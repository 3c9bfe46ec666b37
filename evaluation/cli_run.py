"""``multiarc-eval quick`` and ``multiarc-eval basic``.

``quick`` runs the device checks only (seconds). ``basic`` runs them, then every step of
Intel's platform_basic_evaluation.sh with the same command lines and environment, each
with its own timeout and raw log, and writes the run folder and the reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from multiarc.evaluation import checks as checks_mod
from multiarc.evaluation.model import (
    SETVARS_STEP,
    CheckResult,
    Metric,
    ParseProblem,
    Status,
    StepResult,
)
from rich.console import Console

import multiarc
from multiarc import paths
from multiarc.errors import EnvironmentNotReady, InputError, reports_errors

from .live import OK_STAR_LEGEND, LiveView, checks_table, step_status, steps_line, verdict_table
from .perfmode import PerformanceMode
from .replay import Recording, Replay, copy_root, load_recording, with_path_first
from .run_writer import RunFolder
from .runner import StepOutcome, ToolRun, capture_setvars, execute_steps, resolve_tool
from .steps import parse_devices, parse_pairs, plan_steps

REPLAY_HINT = "run with --replay tests/recordings/b60x4 to see the pipeline on a recording"
INTERRUPTED_EXIT = 130


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


def _say_recording(console: Console, target: Target) -> None:
    if target.recording is not None:
        console.print(
            f"[bold magenta]{target.recording.banner}[/]\n[dim]{target.recording.description}[/]",
            highlight=False,
        )


def _not_ready(facts: checks_mod.Facts) -> None:
    reason = checks_mod.environment_not_ready(facts)
    if reason is not None:
        raise EnvironmentNotReady(reason, REPLAY_HINT)


def make_console() -> Console:
    """Rich on a terminal; plain, wide lines (no wrapping at 80 columns) in pipes and logs."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=160, no_color=True, highlight=False)


def _exit(code: int) -> NoReturn:
    sys.exit(code)


# ----------------------------------------------------------------------------- quick


QUICK_EPILOG = """\b
Examples:
  multiarc-eval quick
  multiarc-eval quick --json > checks.json
  multiarc-eval quick --replay tests/recordings/b60x4-two-visible   # a RECORDING

\b
Exit codes: 0 no check FAILed (WARN allowed), 1 a check FAILed,
2 usage error, 3 no supported Intel GPU or no lspci (environment not ready).
"""

BASIC_EPILOG = """\b
Examples:
  multiarc-eval basic                              # Intel's steps, GPU 0 and pair 0-1
  sudo multiarc-eval basic --performance-mode --devices all --pairs all
  multiarc-eval basic --reference reference_perf.csv --tolerance 5
  multiarc-eval basic --replay tests/recordings/b60x4 --output /tmp/results

\b
Writes results/<YYYYmmdd_HHMMSS>/: steps/NN-<step>.log (one raw log per step),
benchmark_detail_log.txt (the original's order and content), steps.json,
checks.json, meta.json, the oneCCL CSVs, benchmark_report.csv, report.json,
report.html. Re-judge later with `multiarc-eval report`.

\b
Exit codes: 0 all pass (WARN allowed), 1 a check, step or metric FAILed
(a crashed or timed-out tool, a figure below tolerance or above the peak, a
reference figure not measured), 2 usage or input error (bad option, malformed
reference CSV: nothing runs), 3 environment not ready (no GPU, tools missing,
not root for --performance-mode), 130 interrupted (settings restored).
"""


@click.command("quick", epilog=QUICK_EPILOG)
@click.option(
    "--replay",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Replay a recorded host (e.g. tests/recordings/b60x4) instead of this machine.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@reports_errors
def quick(replay: Path | None, as_json: bool) -> None:
    """Device checks only, in seconds: GPU count (lspci, xe, sycl-ls, xpu-smi), PCIe link,
    BAR size, intel_iommu=off, kernel, GuC/HuC firmware, oneAPI. Each check is PASS, WARN,
    FAIL or SKIP with a one-line reason and what to do.
    """
    console = make_console()
    with open_target(replay) as target:
        facts = checks_mod.gather_facts(target.root, target.env)
        _not_ready(facts)
        results = checks_mod.run_checks(facts)
    failed = checks_mod.any_failed(results)
    if as_json:
        data = {
            "target": target.label,
            "recording": str(target.recording.path) if target.recording else None,
            "checks": [c.to_dict() for c in results],
            "exit_code": int(failed),
        }
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        _say_recording(console, target)
        console.print(checks_table(results, console, title=f"multiarc-eval quick: {target.label}"))
        console.print(_checks_line(results), highlight=False)
        if target.recording is not None:  # the last line says it, as README promises
            console.print(f"[bold magenta]{target.recording.banner}[/]")
    _exit(1 if failed else 0)


def _checks_line(results: list[CheckResult]) -> str:
    """"checks: WARN (7 PASS, 1 WARN)": the worst status first, then the counts."""
    counts: dict[str, int] = {}
    for c in results:
        counts[str(c.status)] = counts.get(str(c.status), 0) + 1
    shown = ", ".join(f"{n} {s}" for s, n in counts.items())
    verdict = next((s for s in ("FAIL", "WARN") if counts.get(s)), "PASS")
    return f"checks: {verdict} ({shown})"


# ----------------------------------------------------------------------------- basic


def _default_reference(target: Target) -> Path | None:
    installed = target.root / str(paths.REFERENCE_CSV).lstrip("/")
    if installed.is_file():
        return installed
    if target.recording is not None and (target.recording.path / "reference_perf.csv").is_file():
        return target.recording.path / "reference_perf.csv"
    return None


def _missing_tools(env: dict[str, str], gpu_count: int, skip_ccl: bool) -> list[str]:
    wanted = ["sycl-ls", "xpu-smi", "ze_peak", "matrix_mul_mkl"]
    if gpu_count >= 2:
        wanted.append("ze_peer")
    if not skip_ccl:
        wanted.append("mpirun")
    missing = [tool for tool in wanted if resolve_tool(tool, env) is None]
    if not skip_ccl and resolve_tool(str(paths.CCL_BENCHMARK), env) is None:
        missing.append(str(paths.CCL_BENCHMARK))
    return missing


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@click.command("basic", epilog=BASIC_EPILOG)
@click.option(
    "--replay",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Replay a recorded host (e.g. tests/recordings/b60x4) instead of this machine.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("results"),
    show_default=True,
    help="Folder for the run folder <YYYYmmdd_HHMMSS>/.",
)
@click.option(
    "--devices",
    metavar="0|0,1|all",
    help="Run ze_peak and the gemm on these GPUs (default: the original's single run).",
)
@click.option(
    "--pairs",
    metavar="0-1|0-1,2-3|all",
    default="0-1",
    show_default=True,
    help="GPU pairs for ze_peer; 'all' is every ordered pair.",
)
@click.option(
    "--timeout-scale",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Multiply every step's timeout (slow hosts > 1; tests < 1).",
)
@click.option(
    "--performance-mode",
    is_flag=True,
    help="CPU governor 'performance' and GPU frequency locked during the run, then restored "
    "(needs root).",
)
@click.option(
    "--reference",
    type=click.Path(path_type=Path, dir_okay=False),
    help="reference_perf.csv (default: the installed bundle's, else none: all figures INFO).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 50, max_open=True),
    default=10.0,
    show_default=True,
    metavar="PCT",
    help="PASS within PCT below the reference, WARN within twice PCT, FAIL below that.",
)
@click.option("--skip-ccl", is_flag=True, help="Skip the three oneCCL (mpirun) benchmarks.")
@click.option(
    "--perf-root",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    hidden=True,
    help="Write performance-mode settings under this root (tests).",
)
@reports_errors
def basic(
    replay: Path | None,
    output: Path,
    devices: str | None,
    pairs: str,
    timeout_scale: float,
    performance_mode: bool,
    reference: Path | None,
    tolerance: float,
    skip_ccl: bool,
    perf_root: Path | None,
) -> None:
    """The quick checks, then every benchmark of Intel's platform_basic_evaluation.sh
    (sycl-ls, xpu-smi, ze_peer, ze_peak, matrix_mul_mkl, oneCCL), each with its own timeout
    and raw log; writes results/<YYYYmmdd_HHMMSS>/ with benchmark_detail_log.txt, steps.json,
    benchmark_report.csv, report.json and report.html. One failing or hanging tool never
    stops the rest.
    """
    from multiarc.evaluation.reference import load_reference

    parse_devices(devices, 0)  # syntax errors are usage errors, before anything runs
    parse_pairs(pairs, 0)
    console = make_console()
    previous_term = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        with open_target(replay) as target:
            ref_path = reference if reference is not None else _default_reference(target)
            ref = load_reference(ref_path) if ref_path is not None else None
            if performance_mode and target.recording is None and os.geteuid() != 0:
                raise EnvironmentNotReady(
                    "--performance-mode changes CPU governors and GPU frequencies: needs root",
                    "run with sudo, or without --performance-mode",
                )
            code = _run_basic(
                console,
                target,
                output=output,
                devices=devices,
                pairs=pairs,
                timeout_scale=timeout_scale,
                performance_mode=performance_mode,
                ref=ref,
                ref_path=ref_path,
                tolerance=tolerance / 100.0,
                skip_ccl=skip_ccl,
                perf_root=perf_root,
            )
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    _exit(code)


def _run_basic(
    console: Console,
    target: Target,
    *,
    output: Path,
    devices: str | None,
    pairs: str,
    timeout_scale: float,
    performance_mode: bool,
    ref: Any,
    ref_path: Path | None,
    tolerance: float,
    skip_ccl: bool,
    perf_root: Path | None,
) -> int:
    started = _now()
    _say_recording(console, target)
    facts = checks_mod.gather_facts(target.root, target.env)
    _not_ready(facts)
    checks = checks_mod.run_checks(facts)
    console.print(checks_table(checks, console, title=f"checks: {target.label}"))
    gpu_count = checks_mod.software_gpu_count(facts)
    if target.recording is None:
        missing = _missing_tools(target.env, gpu_count, skip_ccl)
        if missing:
            raise EnvironmentNotReady(
                f"benchmark tools not found: {', '.join(missing)}",
                "install the bundle's tools (multiarc-install), source setvars.sh; or "
                + REPLAY_HINT,
            )
    device_list = parse_devices(devices, gpu_count)
    pair_list = parse_pairs(pairs, gpu_count)
    out_of_range = sorted(
        {n for n in device_list or [] if n >= gpu_count}
        | {n for pair in pair_list for n in pair if gpu_count >= 2 and n >= gpu_count}
    )
    if out_of_range:
        # ze_peak would measure device 0 instead and ze_peer would stop: refuse up front.
        raise InputError(
            f"GPU {', '.join(map(str, out_of_range))} not among the {gpu_count} GPU(s) the "
            f"software sees (0..{gpu_count - 1})",
            "pick --devices/--pairs from the GPUs sycl-ls lists, or 'all'",
        )
    if ref is None:
        console.print(
            "[yellow]note:[/] no reference_perf.csv (use --reference): every figure is INFO"
        )
    run = RunFolder.create(output)
    run.write_checks(checks)
    model = checks_mod.gpu_model(facts)
    meta: dict[str, Any] = {
        "hostname": target.label if target.recording else socket.gethostname(),
        "kernel": facts.kernel,
        "gpus": gpu_count,
        "gpu_model": model.name if model else None,
        "started": started,
        "argv": sys.argv,
        "replay": (
            {
                "recording": str(target.recording.path),
                "note": "RECORDING: replayed tool output, not this machine",
                "description": target.recording.description,
            }
            if target.recording
            else None
        ),
        "tolerance": tolerance,
        "reference": str(ref_path) if ref_path else None,
        "performance_mode": performance_mode,
        "timeout_scale": timeout_scale,
        "devices": devices or "",
        "pairs": pairs,
        "topology": next((c.details for c in checks if c.name == "topology"), None),
        "multiarc_version": multiarc.__version__,
    }
    run.write_meta(meta)
    console.print(f"run folder: {run.path}", highlight=False)

    specs = plan_steps(
        gpu_count=gpu_count,
        run_dir=run.path,
        devices=device_list,
        pairs=pair_list,
        timeout_scale=timeout_scale,
        skip_ccl=skip_ccl,
    )
    steps: list[StepResult] = []
    outcomes: list[StepOutcome] = []
    interrupted = False
    setvars_step = _record_setvars(run, target)
    if setvars_step is not None:
        steps.append(setvars_step)
    with contextlib.ExitStack() as stack:
        perf: PerformanceMode | None = None
        try:
            if performance_mode:
                perf_root_dir = perf_root
                if perf_root_dir is None and target.recording is not None:
                    tmp = stack.enter_context(
                        tempfile.TemporaryDirectory(prefix="multiarc-perf-root-")
                    )
                    perf_root_dir = copy_root(target.recording, Path(tmp))
                perf = stack.enter_context(
                    PerformanceMode(
                        root=perf_root_dir or target.root,
                        env=target.env,
                        gpus=device_list if device_list is not None else list(range(gpu_count)),
                    )
                )
                for change in perf.changes:
                    console.print(f"performance mode: {change}", highlight=False)
            view = stack.enter_context(
                LiveView(console, total=len(specs), title=_view_title(target))
            )
            outcomes, interrupted = execute_steps(
                specs, env=target.env, run=run, root=target.root, observer=view
            )
        except KeyboardInterrupt:
            interrupted = True
    if perf is not None:
        meta["performance_changes"] = perf.changes
        meta["performance_problems"] = perf.problems
        for line in perf.changes[-2:] + perf.problems:
            console.print(f"performance mode: {line}", highlight=False)
    done = {o.result.name for o in outcomes}
    for spec in specs:  # steps never reached (interrupted before the runner got there)
        if spec.name not in done:
            outcomes.append(
                StepOutcome(
                    StepResult(
                        spec.name,
                        list(spec.argv),
                        None,
                        0.0,
                        "",
                        skipped_reason=("not run: interrupted"),
                    ),
                    [],
                    [],
                )
            )
    steps += [o.result for o in outcomes]
    metrics: list[Metric] = [m for o in outcomes for m in o.metrics]
    problems: list[ParseProblem] = [p for o in outcomes for p in o.problems]
    run.write_steps(steps)
    meta["finished"] = _now()
    meta["interrupted"] = interrupted
    run.write_meta(meta)
    from multiarc.evaluation.reports.api import write_run_reports

    verdict = write_run_reports(
        run.path,
        checks=checks,
        steps=steps,
        metrics=metrics,
        problems=problems,
        reference=ref,
        tolerance=tolerance,
        gpu_model=model,
        meta=meta,
    )
    if any(j.reference is not None or j.verdict != Status.INFO for j in verdict.judgements):
        console.print(verdict_table(verdict.judgements, console))
    for figure in verdict.missing:
        console.print(
            f"{figure.verdict}: {figure.category} {figure.subcategory} {figure.size}".rstrip()
            + f" not measured ({figure.note})",
            highlight=False,
        )
    failed_steps = [s for s in steps if not s.ok and not s.skipped_reason]
    console.print(steps_line(steps), highlight=False)
    if any(step_status(s)[0] == "ok*" for s in steps):
        console.print(OK_STAR_LEGEND, highlight=False)
    console.print(_checks_line(checks), highlight=False)
    if verdict.summary:
        console.print(verdict.summary, highlight=False)
    for path in verdict.files:
        console.print(f"wrote {path}", highlight=False)
    if target.recording is not None:
        console.print(f"[bold magenta]{target.recording.banner}[/]")
    if interrupted:
        console.print("[bold red]interrupted[/]: steps not run are marked in steps.json")
        return INTERRUPTED_EXIT
    code = verdict.exit_code
    if checks_mod.any_failed(checks) or failed_steps:
        code = max(code, 1)
    if any(j.verdict == Status.FAIL for j in verdict.judgements) or any(
        m.verdict == Status.FAIL for m in verdict.missing
    ):
        code = max(code, 1)
    return code


def _view_title(target: Target) -> str:
    if target.recording is not None:
        return target.recording.banner
    return f"multiarc-eval basic on {target.label}"


def _record_setvars(run: RunFolder, target: Target) -> StepResult | None:
    """The original's first log lines: what ``source setvars.sh --force`` printed."""
    setvars = target.setvars
    if setvars is None:
        return None
    rel = "steps/00-setvars.log"
    (run.path / rel).write_text(setvars.output)
    run.append_detail(setvars.output)
    return StepResult(
        name=SETVARS_STEP,
        argv=setvars.argv,
        exit_code=setvars.exit_code,
        duration_s=round(setvars.duration_s, 3),
        log_path=rel,
        timed_out=setvars.timed_out,
        error=setvars.error,
    )


COMMANDS = [quick, basic]
