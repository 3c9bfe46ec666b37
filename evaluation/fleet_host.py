"""One host of a fleet run: its fetched raw logs parsed and judged on the controller.

The node ran only the tools (the collection's ``multiarc_eval_steps`` module) and sent back
its run folder: ``facts/<fact>.log``, ``steps/NN-name.log``, the oneCCL CSVs, the probe
files under ``root/`` and ``node.json`` (every command's exit, duration, timeout). Here
the same code as the single-host ``basic`` reads them: the checks from the facts, the
figures from each step's log, the reference verdicts and the reports of the run folder.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiarc.evaluation import checks as checks_mod
from multiarc.evaluation.model import (
    SETVARS_STEP,
    CheckResult,
    Metric,
    ParseProblem,
    StepResult,
)

import multiarc
from multiarc import paths

from .conditions import run_conditions
from .confirm import CONFIRM_SUFFIX, steps_to_confirm
from .run_writer import DETAIL_LOG, RunFolder
from .runner import ToolRun, read_step_output
from .steps import StepSpec


@dataclass
class HostOutcome:
    """What became of one inventory host."""

    host: str
    status: str  # "done", "unreachable", "failed" (before results), "interrupted"
    reason: str = ""
    exit_code: int | None = None  # the host's own verdict, as single-host basic/quick
    folder: Path | None = None
    recording: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # seconds: node_tools_s (the node's fact commands and steps, from node.json),
    # controller_s (unpacking, parsing, judging and the host's reports here)
    timing: dict[str, float] = field(default_factory=dict)
    failing_steps: list[str] = field(default_factory=list)  # steps with FAIL figures


def unpack(archive: Path, dest: Path) -> Path:
    """The fetched ``run.tar.gz`` unpacked as ``dest`` (members checked: no links out)."""
    staging = dest.with_name(dest.name + ".unpack")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(staging, filter="data")
    except tarfile.TarError as err:  # a link out, a device, a damaged archive: all of it
        shutil.rmtree(staging, ignore_errors=True)
        raise ValueError(f"archive refused: {err}") from None
    shutil.rmtree(dest, ignore_errors=True)
    (staging / "run").rename(dest)
    staging.rmdir()
    archive.unlink()
    return dest


def _tool_run(folder: Path, record: dict[str, Any]) -> ToolRun:
    log = folder / str(record.get("log", ""))
    output = log.read_text(errors="replace") if log.is_file() else ""
    return ToolRun(
        argv=list(record.get("argv") or []),
        exit_code=record.get("exit_code"),
        output=output,
        duration_s=float(record.get("duration_s") or 0.0),
        timed_out=bool(record.get("timed_out")),
        error=str(record.get("error") or ""),
    )


@dataclass
class JudgeOptions:
    """How the controller judges every host (the single-host options that apply)."""

    reference: Any = None  # Reference | None, for every host
    reference_path: Path | None = None
    tolerance: float = 0.10
    quick: bool = False
    load_reference: Any = None  # callable(Path) -> Reference, for a recording's own CSV


def judge_host(outcome: HostOutcome, specs: dict[str, StepSpec], opts: JudgeOptions) -> None:
    """Checks, figures and verdicts of one fetched run folder; sets exit_code and meta."""
    folder = outcome.folder
    assert folder is not None
    node = json.loads((folder / "node.json").read_text())
    if isinstance(node.get("started"), float | int) and isinstance(
        node.get("finished"), float | int
    ):
        outcome.timing["node_tools_s"] = round(float(node["finished"]) - float(node["started"]), 3)
    root = folder / "root"
    perf = node.get("performance")
    facts = checks_mod.Facts(root=root)
    facts.tools = {
        name: _tool_run(folder, {**rec, "log": f"facts/{rec.get('log', name + '.log')}"})
        for name, rec in (node.get("facts") or {}).items()
    }
    checks_mod.read_probes(facts, root)
    checks: list[CheckResult] = checks_mod.run_checks(facts)
    run = RunFolder(folder)
    run.write_checks(checks)
    model = checks_mod.gpu_model(facts)
    meta: dict[str, Any] = {
        "hostname": outcome.host,
        "fleet_host": outcome.host,
        "kernel": facts.kernel,
        "gpus": checks_mod.software_gpu_count(facts),
        "node_gpus": node.get("gpus"),
        "gpu_model": model.name if model else None,
        "started": node.get("started"),
        "finished": node.get("finished"),
        "interrupted": bool(node.get("stopped")),
        "replay": {
            "recording": outcome.recording,
            "note": "RECORDING: replayed tool output, not this machine",
        }
        if outcome.recording
        else None,
        "tolerance": opts.tolerance,
        "topology": next((c.details for c in checks if c.name == "topology"), None),
        "conditions": run_conditions(root, isinstance(perf, dict), facts.kernel),
        "multiarc_version": multiarc.__version__,
    }
    if isinstance(perf, dict):  # as one host's meta.json says it
        meta["performance_changes"] = perf.get("changes") or []
        meta["performance_problems"] = perf.get("problems") or []
    outcome.meta = meta
    failed_checks = checks_mod.any_failed(checks)
    if opts.quick:
        run.write_meta(meta)
        outcome.exit_code = 1 if failed_checks else 0
        return
    steps, metrics, problems = _steps(folder, node, specs)
    run.write_steps(steps)
    run.write_meta(meta)
    reference, ref_path = opts.reference, opts.reference_path
    if reference is None and opts.load_reference is not None:
        # the node's installed reference (as single-host basic), else the recording's own
        candidates = [root / str(paths.REFERENCE_CSV).lstrip("/")]
        if outcome.recording:
            candidates.append(Path(outcome.recording) / "reference_perf.csv")
        own = next((c for c in candidates if c.is_file()), None)
        if own is not None:
            reference, ref_path = opts.load_reference(own), own
    meta["reference"] = str(ref_path) if ref_path else None
    from multiarc.evaluation.reports.api import write_run_reports

    verdict = write_run_reports(
        folder,
        checks=checks,
        steps=steps,
        metrics=metrics,
        problems=problems,
        reference=reference,
        tolerance=opts.tolerance,
        gpu_model=model,
        meta=meta,
    )
    outcome.failing_steps = steps_to_confirm(verdict.judgements, list(specs.values()))
    code = verdict.exit_code
    if failed_checks or any(not s.ok and not s.skipped_reason for s in steps):
        code = max(code, 1)
    if any(str(j.verdict) in ("FAIL", "UNSTABLE") for j in verdict.judgements):
        code = max(code, 1)
    outcome.exit_code = code


def _steps(
    folder: Path, node: dict[str, Any], specs: dict[str, StepSpec]
) -> tuple[list[StepResult], list[Metric], list[ParseProblem]]:
    steps: list[StepResult] = []
    metrics: list[Metric] = []
    problems: list[ParseProblem] = []
    with open(folder / DETAIL_LOG, "w", encoding="utf-8") as detail:
        setvars = node.get("setvars")
        if isinstance(setvars, dict):  # first, as the original logs it (not a counted step)
            run = _tool_run(folder, setvars)
            detail.write(run.output)
            steps.append(
                StepResult(
                    name=SETVARS_STEP, argv=run.argv, exit_code=run.exit_code,
                    duration_s=run.duration_s, log_path=str(setvars.get("log", "")),
                    timed_out=run.timed_out, error=run.error,
                )
            )  # fmt: skip
        for record in node.get("steps") or []:
            run = _tool_run(folder, record)
            if CONFIRM_SUFFIX not in str(record.get("name")):  # repeats keep their own logs
                detail.write(run.output)
            spec = specs.get(str(record.get("name")))
            started = run.exit_code is not None or run.timed_out
            found = read_step_output(spec, run.output, folder) if spec and started else None
            if found is not None:
                metrics += found.metrics
                problems += found.problems
            steps.append(
                StepResult(
                    name=str(record.get("name")),
                    argv=run.argv,
                    exit_code=run.exit_code,
                    duration_s=run.duration_s,
                    log_path=str(record.get("log", "")),
                    timed_out=run.timed_out,
                    error=run.error,
                    parse_problems=[str(p) for p in (found.problems if found else [])],
                )
            )
    return steps, metrics, problems
