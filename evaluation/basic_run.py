"""``multiarc-eval basic``: checks, every benchmark step, confirm FAILs, reports.

The run as a whole, after the command line is read (cli_run.py): the checks, the run
folder and its meta, the step plan run with live progress (and ``--performance-mode``
around it), the repeats of steps whose figures FAIL (confirm.py), then the reports and
the console summary. Options come in one :class:`BasicOptions`.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from multiarc.devices import GpuModel
from multiarc.errors import EnvironmentNotReady, InputError

from .conditions import run_conditions
from .confirm import run_confirmations
from .live import (
    OK_STAR_LEGEND,
    LiveView,
    checks_line,
    checks_table,
    step_status,
    steps_line,
    verdict_table,
)
from .perfmode import PerformanceMode
from .replay import copy_root
from .run_writer import RunFolder
from .runner import StepOutcome, execute_steps, resolve_tool
from .steps import StepSpec, parse_devices, parse_pairs, plan_steps
from .target import REPLAY_HINT, Target, not_ready, say_recording
from .topology import Topology

INTERRUPTED_EXIT = 130


@dataclass
class BasicOptions:
    """Everything ``basic`` was asked for (its options, the reference read)."""

    output: Path
    devices: str | None = None
    pairs: str = "0-1"
    timeout_scale: float = 1.0
    performance_mode: bool = False
    ref: Any = None  # Reference | None
    ref_path: Path | None = None
    tolerance: float = 0.10
    skip_ccl: bool = False
    perf_root: Path | None = None
    confirm: int = 1  # repeats of a step whose figure FAILs (confirm.py)


def default_reference(target: Target) -> Path | None:
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_basic(console: Console, target: Target, opts: BasicOptions) -> int:
    """The whole run; its exit code (see BASIC_EPILOG in cli_run.py)."""
    started = _now()
    say_recording(console, target)
    facts = checks_mod.gather_facts(target.root, target.env)
    not_ready(facts)
    checks = checks_mod.run_checks(facts)
    console.print(checks_table(checks, console, title=f"checks: {target.label}"))
    gpu_count = checks_mod.software_gpu_count(facts)
    device_list, pair_list = _plan_inputs(target, opts, gpu_count)
    if opts.ref is None:
        console.print(
            "[yellow]note:[/] no reference_perf.csv (use --reference): every figure is INFO"
        )
    run = RunFolder.create(opts.output)
    run.write_checks(checks)
    model = checks_mod.gpu_model(facts)
    meta = _meta(target, opts, facts, checks, gpu_count, started)
    meta["gpu_model"] = model.name if model else None
    run.write_meta(meta)
    console.print(f"run folder: {run.path}", highlight=False)
    specs = plan_steps(
        gpu_count=gpu_count,
        run_dir=run.path,
        devices=device_list,
        pairs=pair_list,
        timeout_scale=opts.timeout_scale,
        skip_ccl=opts.skip_ccl,
    )
    steps: list[StepResult] = []
    setvars_step = _record_setvars(run, target)
    if setvars_step is not None:
        steps.append(setvars_step)
    gpus = device_list if device_list is not None else list(range(gpu_count))
    context = _Context(console, target, opts, run, specs, meta, model)
    outcomes, interrupted = _execute(context, gpus)
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
        reference=opts.ref,
        tolerance=opts.tolerance,
        gpu_model=model,
        meta=meta,
    )
    return _summary(console, target, checks, steps, verdict, interrupted)


def _plan_inputs(
    target: Target, opts: BasicOptions, gpu_count: int
) -> tuple[list[int] | None, list[tuple[int, int]]]:
    if target.recording is None:
        missing = _missing_tools(target.env, gpu_count, opts.skip_ccl)
        if missing:
            raise EnvironmentNotReady(
                f"benchmark tools not found: {', '.join(missing)}",
                "install the bundle's tools (multiarc-install), source setvars.sh; or "
                + REPLAY_HINT,
            )
    device_list = parse_devices(opts.devices, gpu_count)
    pair_list = parse_pairs(opts.pairs, gpu_count)
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
    return device_list, pair_list


def _meta(
    target: Target,
    opts: BasicOptions,
    facts: checks_mod.Facts,
    checks: list[CheckResult],
    gpu_count: int,
    started: str,
) -> dict[str, Any]:
    return {
        "hostname": target.label if target.recording else socket.gethostname(),
        "kernel": facts.kernel,
        "gpus": gpu_count,
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
        "tolerance": opts.tolerance,
        "reference": str(opts.ref_path) if opts.ref_path else None,
        "performance_mode": opts.performance_mode,
        "timeout_scale": opts.timeout_scale,
        "devices": opts.devices or "",
        "pairs": opts.pairs,
        "confirm": opts.confirm,
        "topology": next((c.details for c in checks if c.name == "topology"), None),
        "conditions": run_conditions(target.root, opts.performance_mode, facts.kernel),
        "multiarc_version": multiarc.__version__,
    }


@dataclass
class _Context:
    """One run of ``basic`` while its steps run."""

    console: Console
    target: Target
    opts: BasicOptions
    run: RunFolder
    specs: list[StepSpec]
    meta: dict[str, Any]
    model: GpuModel | None


def _execute(context: _Context, gpus: list[int]) -> tuple[list[StepOutcome], bool]:
    """Every step (performance mode around them), then the repeats of FAIL steps."""
    console, target, opts = context.console, context.target, context.opts
    run, specs, meta = context.run, context.specs, context.meta
    outcomes: list[StepOutcome] = []
    interrupted = False
    with contextlib.ExitStack() as stack:
        perf: PerformanceMode | None = None
        try:
            if opts.performance_mode:
                perf = stack.enter_context(_performance_mode(stack, target, opts, gpus))
                for change in perf.changes:
                    console.print(f"performance mode: {change}", highlight=False)
            view = stack.enter_context(
                LiveView(console, total=len(specs), title=_view_title(target))
            )
            outcomes, interrupted = execute_steps(
                specs, env=target.env, run=run, root=target.root, observer=view
            )
            if not interrupted and opts.confirm > 0:
                repeats, interrupted = _confirm(context, outcomes)
                outcomes += repeats
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
            result = StepResult(
                spec.name, list(spec.argv), None, 0.0, "", skipped_reason="not run: interrupted"
            )
            outcomes.append(StepOutcome(result, [], []))
    return outcomes, interrupted


def _performance_mode(
    stack: contextlib.ExitStack, target: Target, opts: BasicOptions, gpus: list[int]
) -> PerformanceMode:
    root = opts.perf_root
    if root is None and target.recording is not None:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="multiarc-perf-root-"))
        root = copy_root(target.recording, Path(tmp))
    return PerformanceMode(root=root or target.root, env=target.env, gpus=gpus)


def _confirm(context: _Context, outcomes: list[StepOutcome]) -> tuple[list[StepOutcome], bool]:
    """Run again, ``opts.confirm`` times, each step whose figure FAILs (confirm.py)."""
    from multiarc.evaluation.judge import judge

    console, target, opts = context.console, context.target, context.opts

    metrics = [m for o in outcomes for m in o.metrics]
    first = judge(
        metrics,
        opts.ref,
        tolerance=opts.tolerance,
        gpu_model=context.model,
        topology=Topology.from_dict(context.meta.get("topology")),
    )

    def runner(repeats: list[StepSpec]) -> tuple[list[StepOutcome], bool]:
        console.print(
            f"confirming: {len(repeats)} step(s) with FAIL figures run again "
            f"(--confirm {opts.confirm})",
            highlight=False,
        )
        with LiveView(console, total=len(repeats), title="confirm before FAIL") as view:
            return execute_steps(
                repeats,
                env=target.env,
                run=context.run,
                root=target.root,
                observer=view,
                detail=False,
            )

    return run_confirmations(first, context.specs, opts.confirm, runner)


def _summary(
    console: Console,
    target: Target,
    checks: list[CheckResult],
    steps: list[StepResult],
    verdict: Any,
    interrupted: bool,
) -> int:
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
    console.print(checks_line(checks), highlight=False)
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
    if any(j.verdict in (Status.FAIL, Status.UNSTABLE) for j in verdict.judgements) or any(
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
