"""Read a finished run back: a results folder, its report.json, or a bare detail log.

``multiarc-eval report`` and ``compare`` accept any of:

- a results folder ``results/<YYYYmmdd_HHMMSS>/`` written by ``multiarc-eval basic``: its
  ``report.json`` gives the metrics (as measured, per GPU and pair), checks and steps; a
  folder without one (Intel's ``platform_basic_evaluation.sh`` writes only the log and
  its CSV, an interrupted run may lack it) is read from its ``benchmark_detail_log.txt``,
  with checks, steps and meta from ``checks.json`` / ``steps.json`` / ``meta.json`` when
  present;
- a ``report.json`` file;
- a ``benchmark_detail_log.txt`` (Intel's original or ours), so old runs can be re-judged.

Anything else is an :class:`~multiarc.errors.InputError` (exit 2) saying what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiarc.evaluation.extract import metrics_from_detail_log
from multiarc.evaluation.gcpause import gc_paused
from multiarc.evaluation.model import CheckResult, Metric, ParseProblem, StepResult
from multiarc.evaluation.parsers.detail_log import TOOLS, split_by_tool
from multiarc.evaluation.reports.json_report import (
    StoredReport,
    checks_from_json,
    load_report_json,
    steps_from_json,
)

from multiarc import paths
from multiarc.errors import InputError

DETAIL_LOG = "benchmark_detail_log.txt"
REPORT_JSON = "report.json"
STEPS_JSON = "steps.json"
CHECKS_JSON = "checks.json"
META_JSON = "meta.json"
REFERENCE_NAME = "reference_perf.csv"

_WHAT = "pass a results folder (results/<YYYYmmdd_HHMMSS>/), its report.json or a " + DETAIL_LOG


@dataclass
class LoadedRun:
    source: Path
    kind: str  # "report.json" or "detail log": where the metrics came from
    metrics: list[Metric]
    problems: list[ParseProblem] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    stored: StoredReport | None = None  # the report.json it was read from, if any


def read_detail_log_text(path: Path) -> str:
    """The text of a detail log; InputError when unreadable or binary."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}", _WHAT) from None
    if b"\x00" in data:
        raise InputError(f"{path} is binary, not a {DETAIL_LOG}", _WHAT)
    # Tools print the odd stray byte; a replacement character costs no figure.
    return data.decode("utf-8", errors="replace")


def metrics_from_log_file(path: Path) -> tuple[list[Metric], list[ParseProblem]]:
    """Metrics of a detail log; InputError when no benchmark tool's output is in it."""
    text = read_detail_log_text(path)
    metrics, problems = metrics_from_detail_log(text)
    if not metrics and not any(s.tool in TOOLS for s in split_by_tool(text)):
        raise InputError(
            f"{path} is not a {DETAIL_LOG}: no ze_peer, ze_peak, matrix_mul_mkl or "
            "1ccl_benchmark output in it",
            _WHAT,
        )
    return metrics, problems


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {path}: {err}", "re-run the evaluation") from None


def _json_list(path: Path, key: str) -> list[Any]:
    """A list from ``path`` (a bare JSON list or ``{key: [...]}``); [] if there is no file."""
    if not path.is_file():
        return []
    data = _json_file(path)
    items = data.get(key) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise InputError(f"{path} holds no list of {key}", "re-run the evaluation")
    return items


def _from_stored(source: Path, stored: StoredReport) -> LoadedRun:
    return LoadedRun(
        source,
        REPORT_JSON,
        stored.metrics,
        stored.problems,
        stored.checks,
        stored.steps,
        stored.meta,
        stored,
    )


def _folder_without_report(path: Path, log: Path) -> LoadedRun:
    metrics, problems = metrics_from_log_file(log)
    try:
        checks = checks_from_json(_json_list(path / CHECKS_JSON, "checks"))
        steps = steps_from_json(_json_list(path / STEPS_JSON, "steps"))
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(
            f"{path}: damaged {CHECKS_JSON} or {STEPS_JSON} ({err})", "re-run the evaluation"
        ) from None
    meta = _json_file(path / META_JSON) if (path / META_JSON).is_file() else {}
    return LoadedRun(
        path, "detail log", metrics, problems, checks, steps, meta if isinstance(meta, dict) else {}
    )


SERVE_JSON = "serve_sweep.json"


def _serving_run(path: Path) -> LoadedRun:
    """A ``multiarc-eval serve`` run: per batch size its throughput and p90 latencies."""
    from multiarc.evaluation.serve.compare_metrics import serving_metrics

    data = _json_file(path / SERVE_JSON)
    if not isinstance(data, dict):
        raise InputError(f"{path / SERVE_JSON} is not a serving sweep", _WHAT)
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    return LoadedRun(path, SERVE_JSON, serving_metrics(data), meta=dict(meta or {}))


@gc_paused()
def load_run(path: Path) -> LoadedRun:
    """Metrics, problems, checks and steps of a results folder, report.json or detail log."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist", _WHAT)
    if path.is_file():
        if path.suffix == ".json":
            return _from_stored(path, load_report_json(path))
        metrics, problems = metrics_from_log_file(path)
        return LoadedRun(path, "detail log", metrics, problems)
    report_json, log = path / REPORT_JSON, path / DETAIL_LOG
    if report_json.is_file():
        stored = load_report_json(report_json)
        run = _from_stored(path, stored)
        if not stored.metrics and log.is_file():
            run.metrics, run.problems = metrics_from_log_file(log)
            run.kind = "detail log"
        return run
    if log.is_file():
        return _folder_without_report(path, log)
    if (path / SERVE_JSON).is_file():
        return _serving_run(path)
    raise InputError(f"{path} holds neither {REPORT_JSON} nor {DETAIL_LOG}", _WHAT)


def default_reference(path: Path, run: LoadedRun | None = None) -> Path | None:
    """The reference a run was judged with, else one next to it, else the installed one.

    Order: the ``reference.source`` recorded in its report.json (if that file still
    exists); ``reference_perf.csv`` in the run folder (or beside the log); in its parent
    (Intel's layout keeps ``results/reference_perf.csv`` beside ``results/<timestamp>/``);
    the installed :data:`multiarc.paths.REFERENCE_CSV`.
    """
    candidates: list[Path] = []
    if run is not None and run.stored is not None:
        ref = run.stored.raw.get("reference")
        if isinstance(ref, dict) and isinstance(ref.get("source"), str):
            candidates.append(Path(ref["source"]))
    folder = path if path.is_dir() else path.parent
    candidates += [folder / REFERENCE_NAME, folder.parent / REFERENCE_NAME, paths.REFERENCE_CSV]
    return next((c for c in candidates if c.is_file()), None)
