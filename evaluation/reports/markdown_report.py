"""``report.md``: the report as GitHub-flavoured markdown tables (for tickets and chats).

Metrics are one row per key and device (or pair), as in report.html: a log with a thousand
runs gives a table that fits in a ticket (mean, min-max, worst verdict); every single run
stays in benchmark_report.csv and report.json.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from .run_report import VERDICT_ORDER, MetricRow, RunReport


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _fmt(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _metric_row(row: MetricRow) -> list[object]:
    first, worst = row.first, row.worst
    verdict = str(worst.verdict)
    shown: str = f"**{verdict}**" if verdict == "FAIL" else verdict
    if row.runs == 1:
        measured = f"{first.metric.value:g}"
        ratio, pct = first.ratio, first.pct_of_peak
    else:
        measured = f"{row.mean:.6g} ({row.low:g}-{row.high:g}, {row.runs} runs)"
        ratio, pct = row.ratio, row.pct_of_peak
        shown += " (" + ", ".join(f"{n} {v}" for v, n in row.verdicts.items()) + ")"
    return [
        first.metric.category,
        first.metric.subcategory,
        first.metric.size,
        row.devices,
        measured,
        "" if first.reference is None else f"{first.reference:g}",
        first.metric.unit,
        _fmt(ratio, 3),
        _fmt(pct, 1),
        shown,
        worst.note,
    ]


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
    rows, grouped = report.metric_rows()
    lines += ["", "## Metrics", ""]
    if any(r.runs > 1 for r in rows):
        lines += [
            "One row per metric key and "
            + ("across devices" if grouped else "device (or pair)")
            + ": where a tool ran several times, the mean of its runs (min-max), the worst "
            "verdict and how many runs had each verdict; every run is in benchmark_report.csv "
            "and report.json.",
            "",
        ]
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
        (_metric_row(r) for r in rows),
    )
    if report.missing:
        lines += ["", "## Reference figures not measured", ""]
        lines += _table(
            ["Category", "Subcategory", "Size", "Reference", "Unit", "Verdict", "Why"],
            (
                [m.category, m.subcategory, m.size, m.reference_text, m.unit,
                 f"**{m.verdict}**" if m.verdict == "FAIL" else m.verdict, m.note]
                for m in report.missing
            ),
        )
    if report.problems:
        lines += ["", "## What could not be read", ""]
        lines += [f"- {_cell(p)}" for p in report.problems]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, report: RunReport) -> Path:
    path.write_text(render_markdown(report), encoding="utf-8")
    return path
