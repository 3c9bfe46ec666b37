"""``report.md``: the report as GitHub-flavoured markdown tables (for tickets and chats)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from .run_report import VERDICT_ORDER, RunReport


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _fmt(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_markdown(report: RunReport) -> str:
    counts = report.counts
    lines = [
        f"# multiarc evaluation report: {report.verdict}",
        "",
        f"Generated {report.generated_at}. Tolerance {report.tolerance * 100:g} % "
        f"(WARN down to {(1 - 2 * report.tolerance) * 100:g} % of the reference). "
        f"Reference: {_cell(report.reference_source or 'none')}. "
        f"Peaks: {_cell(report.gpu_model.name if report.gpu_model else 'unknown device')}.",
        "",
        _cell(report.summary_line()),
        "",
    ]
    lines += _table(
        [str(s) for s in VERDICT_ORDER if str(s) in counts],
        [[counts[str(s)] for s in VERDICT_ORDER if str(s) in counts]],
    )
    if report.checks:
        lines += ["", "## Checks", ""]
        lines += _table(
            ["check", "status", "found", "what to do"],
            ([c.name, c.status, c.reason, c.hint] for c in report.checks),
        )
    if report.steps:
        lines += ["", "## Steps", ""]
        lines += _table(
            ["step", "exit", "duration (s)", "timed out", "remark"],
            (
                [
                    s.name,
                    s.exit_code,
                    f"{s.duration_s:.1f}",
                    "yes" if s.timed_out else "",
                    s.skipped_reason or s.error,
                ]
                for s in report.steps
            ),
        )
    lines += ["", "## Metrics", ""]
    lines += _table(
        [
            "Category",
            "Subcategory",
            "Size",
            "Devices",
            "Measured",
            "Reference",
            "Unit",
            "Ratio",
            "% of peak",
            "Verdict",
            "Note",
        ],
        (
            [
                j.metric.category,
                j.metric.subcategory,
                j.metric.size,
                j.metric.devices,
                f"{j.metric.value:g}",
                "" if j.reference is None else f"{j.reference:g}",
                j.metric.unit,
                _fmt(j.ratio, 3),
                _fmt(j.pct_of_peak, 1),
                f"**{j.verdict}**" if str(j.verdict) == "FAIL" else j.verdict,
                j.note,
            ]
            for j in report.judgements
        ),
    )
    if report.problems:
        lines += ["", "## What could not be read", ""]
        lines += [f"- {_cell(p)}" for p in report.problems]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, report: RunReport) -> Path:
    path.write_text(render_markdown(report), encoding="utf-8")
    return path
