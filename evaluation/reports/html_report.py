"""``report.html``: one self-contained page (inline CSS, plots as base64 PNG data: URIs).

Rendered with jinja2 with autoescaping on, so no text from a log, a reference file or a
host name can inject markup.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2
from multiarc.evaluation.model import Status, benchmark_steps

from .run_report import _RANK, VERDICT_ORDER, RunReport, verdict_reasons

# More rows than this (key x devices) are shown per key only, across devices.
TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    return env


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}" if abs(value) < 1e6 else f"{value:.4g}"


def render_html(
    report: RunReport, *, plots: bool = True, images: list[tuple[str, str]] | None = None
) -> str:
    """The page; ``images`` are (caption, data: URI) drawn elsewhere, else drawn here."""
    if images is None:
        images = []
        if plots:
            from .plots import report_plots

            images = report_plots(report)
    rows, grouped = report.metric_rows()
    judged = [r for r in rows if r.worst.verdict is not Status.INFO]
    template = _environment().get_template("report.html.j2")
    counted = benchmark_steps(report.steps)
    return template.render(
        report=report,
        verdict=str(report.verdict),
        why=verdict_reasons(report),
        counts=report.counts,
        order=[str(s) for s in VERDICT_ORDER if s is not Status.SKIP],
        images=images,
        rows=rows,
        judged_rows=sorted(judged, key=lambda r: _RANK[r.worst.verdict]),
        info_rows=[r for r in rows if r.worst.verdict is Status.INFO],
        counted_steps=len(counted),
        warned_steps=sum(1 for s in counted if s.warnings),
        grouped=grouped,
        title=report.meta.get("title") or "multiarc evaluation report",
    )


def write_html(
    path: Path,
    report: RunReport,
    *,
    plots: bool = True,
    images: list[tuple[str, str]] | None = None,
) -> Path:
    path.write_text(render_html(report, plots=plots, images=images), encoding="utf-8")
    return path
