"""``multiarc-eval report`` and ``multiarc-eval compare``: re-judge and compare finished runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from multiarc.evaluation.judge import DEFAULT_TOLERANCE
from multiarc.evaluation.reference import Reference, load_reference
from multiarc.evaluation.run_folder import LoadedRun, default_reference, load_run

from multiarc.devices import TARGET_DEVICE_ID, GpuModel, lookup
from multiarc.errors import InputError, reports_errors

FORMATS = ("csv", "json", "md", "html")
TOLERANCE_HELP = "Tolerance in percent: PASS within it, WARN within twice it, FAIL below."
_PATH_ARG = click.Path(path_type=Path)


def _gpu_model(option: str | None, run: LoadedRun) -> GpuModel | None:
    """The model whose peaks apply: --gpu, else the one report.json names, else the B60."""
    device_id = option or (run.stored.gpu_device_id if run.stored else None) or TARGET_DEVICE_ID
    model = lookup(device_id)
    if model is None:
        raise InputError(
            f"unknown GPU device id {device_id!r}",
            "pass a PCI device id from multiarc/devices.py, e.g. --gpu e211",
        )
    return model


def _reference(option: Path | None, path: Path, run: LoadedRun) -> Reference | None:
    found = option or default_reference(path, run)
    if found is None:
        click.echo(
            "note: no reference_perf.csv found; figures are INFO (pass --reference CSV)", err=True
        )
        return None
    if option is None:
        click.echo(f"reference: {found}", err=True)
    return load_reference(found)


def _emit(text: str, output: str | None, default_file: Path | None) -> None:
    """Print ``text`` or write it to ``output`` ('-' is stdout)."""
    target = output if output is not None else (str(default_file) if default_file else "-")
    if target == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as err:
        raise InputError(
            f"cannot write {target}: {err.strerror}",
            "choose a writable --output FILE or '-' for stdout",
        ) from None
    click.echo(f"wrote {target}", err=True)


REPORT_EPILOG = """\b
Examples:
  multiarc-eval report results/20250101_120000                 # CSV to stdout
  multiarc-eval report results/20250101_120000 --format html   # its report.html
  multiarc-eval report old/benchmark_detail_log.txt --reference reference_perf.csv
  multiarc-eval report report.json --format md -o report.md --tolerance 5

\b
Exit codes: 0 nothing failed (WARN allowed), 1 a metric, check or step
failed, 2 bad input (missing or unreadable PATH, malformed reference CSV,
unknown --gpu): one 'error:' line and a hint, and nothing is written.
"""

COMPARE_EPILOG = """\b
Examples:
  multiarc-eval compare results/20250101_120000 results/20250301_090000
  multiarc-eval compare before/benchmark_detail_log.txt after/ --tolerance 5
  multiarc-eval compare A B --format csv > change.csv

\b
Exit codes: 0 no regression, 1 a metric regressed beyond the tolerance,
2 bad input.
"""


@click.command("report", epilog=REPORT_EPILOG)
@click.argument("path", type=_PATH_ARG)
@click.option(
    "--reference",
    "reference_path",
    type=_PATH_ARG,
    default=None,
    help="reference_perf.csv to judge against (default: the one the run used, one "
    "beside it, or the installed one).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 50, max_open=True),
    default=None,
    help=TOLERANCE_HELP + " [default: the run's, else 10]",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="csv: Intel's five columns then ours; json: report.json; md: markdown; "
    "html: self-contained page with plots.",
)
@click.option(
    "--output",
    "-o",
    default=None,
    metavar="FILE|-",
    help="Where to write (default: stdout; for html: report.html beside PATH).",
)
@click.option(
    "--gpu",
    default=None,
    metavar="DEVICE_ID",
    help=f"PCI device id whose peaks apply [default: the run's, else {TARGET_DEVICE_ID}"
    " (Arc Pro B60)]",
)
@reports_errors
def report(
    path: Path,
    reference_path: Path | None,
    tolerance: float | None,
    fmt: str,
    output: str | None,
    gpu: str | None,
) -> None:
    """Judge a finished run again and print or write its report.

    PATH is a results folder (results/<YYYYmmdd_HHMMSS>/), its report.json, or a
    benchmark_detail_log.txt from Intel's platform_basic_evaluation.sh. Its checks and
    steps are kept; its metrics are judged against the reference.
    """
    from multiarc.evaluation.reports.api import build_run_report

    if fmt == "html":
        from multiarc.evaluation.reports.api import prepare_html

        prepare_html()  # matplotlib loads in a worker process while the run is read
    run = load_run(path)
    model = _gpu_model(gpu, run)
    reference = _reference(reference_path, path, run)
    if tolerance is not None:
        tol = tolerance / 100
    elif run.stored is not None and isinstance(run.stored.tolerance, int | float):
        tol = float(run.stored.tolerance)
    else:
        tol = DEFAULT_TOLERANCE
    meta: dict[str, Any] = {**run.meta, "rejudged_from": str(path), "metrics_from": run.kind}
    result = build_run_report(
        checks=run.checks,
        steps=run.steps,
        metrics=run.metrics,
        problems=run.problems,
        reference=reference,
        tolerance=tol,
        gpu_model=model,
        meta=meta,
        bare_log=run.kind == "detail log" and not run.steps,
    )
    default_file = None
    if fmt == "csv":
        from multiarc.evaluation.reports.csv_report import render_csv

        text = render_csv(result.judgements, reference, result.missing)
    elif fmt == "json":
        from multiarc.evaluation.reports.json_report import render_json

        text = render_json(result)
    elif fmt == "md":
        from multiarc.evaluation.reports.markdown_report import render_markdown

        text = render_markdown(result)
    else:
        from multiarc.evaluation.reports import plot_worker
        from multiarc.evaluation.reports.html_report import render_html
        from multiarc.evaluation.reports.plots import plot_data

        text = render_html(result, images=plot_worker.draw_async(plot_data(result))())
        default_file = (path if path.is_dir() else path.parent) / "report.html"
    _emit(text, output, default_file)
    click.echo(result.summary_line(), err=True)
    sys.exit(result.exit_code)


def _compare_rows(table: Any) -> list[dict[str, Any]]:
    rows = []
    for record in table.to_dict(orient="records"):
        rows.append(
            {
                k: (None if isinstance(v, float) and v != v else v)  # NaN -> null
                for k, v in record.items()
            }
        )
    return rows


def _print_compare_table(table: Any, label_a: str, label_b: str, tolerance: float) -> None:
    from multiarc.evaluation.reports.compare import IMPROVED, REGRESSION, SAME
    from rich.console import Console
    from rich.table import Table

    styles = {REGRESSION: "bold red", IMPROVED: "green", SAME: ""}
    out = Table(title=f"A: {label_a}\nB: {label_b}  (tolerance {tolerance * 100:g} %)")
    for column, justify in (
        ("Category", "left"),
        ("Subcategory", "left"),
        ("Size", "left"),
        ("Devices", "left"),
        ("Unit", "left"),
        ("A", "right"),
        ("B", "right"),
        ("Δ %", "right"),
        ("Change", "left"),
    ):
        out.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in _compare_rows(table):
        out.add_row(
            row["category"],
            row["subcategory"],
            row["size"],
            row["devices"],
            row["unit"],
            "" if row["a"] is None else f"{row['a']:g}",
            "" if row["b"] is None else f"{row['b']:g}",
            "" if row["delta_pct"] is None else f"{row['delta_pct']:+.1f}",
            row["change"],
            style=styles.get(row["change"], "dim"),
        )
    Console(width=max(120, Console().width)).print(out)


@click.command("compare", epilog=COMPARE_EPILOG)
@click.argument("run_a", type=_PATH_ARG)
@click.argument("run_b", type=_PATH_ARG)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 50, max_open=True),
    default=10.0,
    show_default=True,
    help="Change in percent beyond which B is a regression.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "csv", "json")),
    default="table",
    show_default=True,
)
@click.option(
    "--only-changed",
    is_flag=True,
    help="Show only the figures that changed (regressions, improvements, only in A or B).",
)
@reports_errors
def compare(run_a: Path, run_b: Path, tolerance: float, fmt: str, only_changed: bool) -> None:
    """Compare the metrics of two runs: A (before) and B (after).

    RUN_A and RUN_B are results folders, report.json files or benchmark_detail_log.txt
    files. Metrics are matched by key and devices; a figure worse in B by more than the
    tolerance is a regression.
    """
    from multiarc.evaluation.conditions import differences
    from multiarc.evaluation.reports.compare import (
        REGRESSION,
        SAME,
        change_counts,
        compare_metrics,
    )

    from .fleet_compare import compare_fleets, is_fleet

    if is_fleet(run_a) and is_fleet(run_b):
        sys.exit(compare_fleets(run_a, run_b, tolerance / 100, fmt, only_changed))
    a, b = load_run(run_a), load_run(run_b)
    table = compare_metrics(a.metrics, b.metrics, tolerance=tolerance / 100)
    counts = change_counts(table)
    if only_changed:
        table = table[table["change"] != SAME].reset_index(drop=True)
    conditions = differences(a.meta.get("conditions"), b.meta.get("conditions"))
    if fmt == "csv":
        click.echo(table.to_csv(index=False, float_format="%.6g"), nl=False)
    elif fmt == "json":
        doc = {
            "a": str(run_a),
            "b": str(run_b),
            "tolerance": tolerance / 100,
            "counts": counts,
            "conditions_differ": conditions,
            "metrics": _compare_rows(table),
        }
        click.echo(json.dumps(doc, indent=1))
    else:
        _print_compare_table(table, str(run_a), str(run_b), tolerance / 100)
    for line in conditions:
        click.echo(f"note: conditions differ: {line}", err=True)
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    click.echo(
        f"{'REGRESSION' if counts[REGRESSION] else 'OK'}: {summary or 'no metrics'}", err=True
    )
    sys.exit(1 if counts[REGRESSION] else 0)


COMMANDS = [report, compare]
