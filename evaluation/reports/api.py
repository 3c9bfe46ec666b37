"""One call that judges a run and writes its reports (used by ``multiarc-eval basic``).

::

    verdict = write_run_reports(run_dir, checks=..., steps=..., metrics=..., problems=...,
                                reference=load_reference(csv_path), tolerance=0.10,
                                gpu_model=lookup("e211"), meta={...})
    sys.exit(verdict.exit_code)

writes ``run_dir/benchmark_report.csv``, ``report.json`` and ``report.html`` and returns
the verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from multiarc.evaluation.gcpause import gc_paused
from multiarc.evaluation.judge import judge
from multiarc.evaluation.model import (
    CheckResult,
    Judgement,
    Metric,
    ParseProblem,
    Status,
    StepResult,
)
from multiarc.evaluation.reference import Reference

from multiarc.devices import GpuModel

from ..confirm import apply_confirmations, split_repeats
from ..topology import Topology
from . import plot_worker
from .csv_report import write_csv
from .html_report import write_html
from .json_report import write_json
from .markdown_report import write_markdown
from .plots import plot_data, render_plots
from .run_report import MissingFigure, RunReport, missing_figures

prepare_html = plot_worker.warm_up

CSV_NAME = "benchmark_report.csv"
JSON_NAME = "report.json"
HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"


@dataclass
class RunVerdict:
    exit_code: int  # 1 if a check FAILed, a step failed or a metric FAILed, else 0
    verdict: Status  # PASS / WARN / FAIL for the run as a whole
    judgements: list[Judgement]
    counts: dict[str, int]  # metric verdicts {"PASS": n, "WARN": n, "FAIL": n, "INFO": n}
    files: list[Path] = field(default_factory=list)
    summary: str = ""  # one line for the terminal
    missing: list[MissingFigure] = field(default_factory=list)  # reference rows not measured


def build_run_report(
    *,
    checks: Sequence[CheckResult] = (),
    steps: Sequence[StepResult] = (),
    metrics: Sequence[Metric] = (),
    problems: Sequence[ParseProblem] = (),
    reference: Reference | None = None,
    tolerance: float = 0.10,
    gpu_model: GpuModel | None = None,
    meta: dict[str, Any] | None = None,
    bare_log: bool = False,
) -> RunReport:
    """Judge the metrics and gather everything a writer needs (``bare_log``: the metrics
    come from a bare detail log without step records, see missing_figures)."""
    topology = Topology.from_dict((meta or {}).get("topology"))
    originals, repeats = split_repeats(metrics)

    def judged(these: Sequence[Metric]) -> list[Judgement]:
        return judge(these, reference, tolerance=tolerance, gpu_model=gpu_model, topology=topology)

    judgements = judged(originals)
    apply_confirmations(judgements, repeats, judged)
    missing = (
        missing_figures(
            reference, judgements, steps, bare_log_problems=list(problems) if bare_log else None
        )
        if reference is not None
        else []
    )
    return RunReport(
        judgements=judgements,
        repeats=repeats,
        missing=missing,
        checks=list(checks),
        steps=list(steps),
        problems=list(problems),
        tolerance=tolerance,
        reference_source=reference.source if reference is not None else None,
        reference_rows=len(reference) if reference is not None else 0,
        gpu_model=gpu_model,
        meta=dict(meta or {}),
    )


@gc_paused()
def write_report_files(
    run_dir: Path,
    report: RunReport,
    reference: Reference | None = None,
    *,
    html: bool = True,
    markdown: bool = False,
    parallel_plots: bool = True,
) -> list[Path]:
    """benchmark_report.csv, report.json (and report.html, report.md) in ``run_dir``.

    The HTML page's plots are drawn in a worker process (:mod:`.plot_worker`) while the
    other files are written; call :func:`prepare_html` before parsing a big log to start
    that worker even earlier.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    images: Callable[[], list[tuple[str, str]]] | None = None
    if html:
        data = plot_data(report)
        if data.empty:
            images = list
        elif parallel_plots:
            images = plot_worker.draw_async(data)
        else:
            images = partial(render_plots, data)
    files = [
        write_csv(run_dir / CSV_NAME, report.judgements, reference, report.missing),
        write_json(run_dir / JSON_NAME, report),
    ]
    if markdown:
        files.append(write_markdown(run_dir / MARKDOWN_NAME, report))
    if images is not None:
        files.append(write_html(run_dir / HTML_NAME, report, images=images()))
    return files


def write_run_reports(
    run_dir: Path,
    *,
    checks: list[CheckResult],
    steps: list[StepResult],
    metrics: list[Metric],
    problems: list[ParseProblem],
    reference: Reference | None,
    tolerance: float,
    gpu_model: GpuModel | None,
    meta: dict[str, Any],
) -> RunVerdict:
    """Judge ``metrics`` and write benchmark_report.csv, report.json and report.html."""
    report = build_run_report(
        checks=checks,
        steps=steps,
        metrics=metrics,
        problems=problems,
        reference=reference,
        tolerance=tolerance,
        gpu_model=gpu_model,
        meta=meta,
    )
    files = write_report_files(Path(run_dir), report, reference)
    return RunVerdict(
        exit_code=report.exit_code,
        verdict=report.verdict,
        judgements=report.judgements,
        counts=report.counts,
        files=files,
        summary=report.summary_line(),
        missing=report.missing,
    )
