"""``report.json``: the whole run, machine-readable, read back by ``report`` and ``compare``.

Schema (``schema_version`` 1; new keys may be added, existing ones keep their meaning)::

    {
      "schema_version": 1,
      "generator": "multiarc-eval",
      "generated_at": "2026-11-23T10:00:00+00:00",       # UTC, ISO 8601
      "verdict": "PASS" | "WARN" | "FAIL",                # the run as a whole
      "exit_code": 0 | 1,                                  # 1 if a check, step or metric failed
      "tolerance": 0.1,                                    # fraction, 0.1 = 10 %
      "reference": {"source": "path/reference_perf.csv", "rows": 16} | null,
      "gpu_model": {"device_id": "e211", "name": ..., "pcie_gbps_per_direction": 31.5,
                    "memory_gbps": 456.0, "int8_tops": 197.0} | null,
      "meta": {...},                                       # free-form, from the caller
      "counts": {"PASS": n, "WARN": n, "FAIL": n, "INFO": n},      # metric verdicts
      "check_counts": {"PASS": n, "WARN": n, "FAIL": n, "SKIP": n, "INFO": n},
      "checks": [{"name", "status", "reason", "hint", "details"}],
      "steps": [{"name", "argv", "exit_code", "duration_s", "log_path", "timed_out",
                 "skipped_reason", "error", "parse_problems", "ok"}],
      "metrics": [{"category", "subcategory", "size", "value", "unit", "devices", "step",
                   "verdict", "reference", "ratio", "pct_of_peak", "note",
                   "topology", "peer_median", "peers"}],
      "problems": [{"tool", "message", "line"}],
      "missing": [{"category", "subcategory", "size", "reference", "unit", "verdict", "note"}]
    }

``metrics`` keep the order of the CSV report (Intel's order for Intel's rows).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiarc.evaluation.model import (
    CheckResult,
    Judgement,
    Metric,
    ParseProblem,
    Status,
    StepResult,
)

from multiarc.errors import InputError

from .run_report import RunReport

SCHEMA_VERSION = 1


def _judgement_dict(j: Judgement) -> dict[str, Any]:
    m = j.metric  # built by hand: dataclasses.asdict is slow for tens of thousands of rows
    return {
        "category": m.category,
        "subcategory": m.subcategory,
        "size": m.size,
        "value": m.value,
        "unit": m.unit,
        "devices": m.devices,
        "step": m.step,
        "verdict": str(j.verdict),
        "reference": j.reference,
        "ratio": j.ratio,
        "pct_of_peak": j.pct_of_peak,
        "note": j.note,
        "topology": j.group,
        "peer_median": j.peer_median,
        "peers": j.peers,
        "repeats": list(j.repeats),
    }


def report_to_dict(report: RunReport) -> dict[str, Any]:
    model = report.gpu_model
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": "multiarc-eval",
        "generated_at": report.generated_at,
        "verdict": str(report.verdict),
        "exit_code": report.exit_code,
        "tolerance": report.tolerance,
        "reference": (
            {"source": report.reference_source, "rows": report.reference_rows}
            if report.reference_source is not None
            else None
        ),
        "gpu_model": (
            {
                "device_id": model.device_id,
                "name": model.name,
                "pcie_gbps_per_direction": model.pcie_gbps_per_direction,
                "memory_gbps": model.memory_gbps,
                "int8_tops": model.int8_tops,
            }
            if model is not None
            else None
        ),
        "meta": report.meta,
        "counts": report.counts,
        "check_counts": report.check_counts,
        "checks": [c.to_dict() for c in report.checks],
        "steps": [s.to_dict() for s in report.steps],
        "metrics": [_judgement_dict(j) for j in report.judgements],
        "repeats": [m.to_dict() for m in report.repeats],
        "problems": [
            {"tool": p.tool, "message": p.message, "line": p.line} for p in report.problems
        ],
        "missing": [m.to_dict() for m in report.missing],
    }


def render_json(report: RunReport) -> str:
    """The document, indented, with one metric per line (readable, greppable, fast)."""
    data = report_to_dict(report)
    metrics = data.pop("metrics")
    head = json.dumps(data, indent=1, default=str, ensure_ascii=False)
    if not metrics:
        return head[:-2] + ',\n "metrics": []\n}\n'
    # One C-speed encoding of the list, then a line break before each metric: safe, as
    # '{"' cannot occur inside an encoded string (its quote would be escaped).
    body = json.dumps(metrics, default=str, ensure_ascii=False)[1:-1]
    body = body.replace('}, {"category": ', '},\n  {"category": ')
    return head[:-2] + ',\n "metrics": [\n  ' + body + "\n ]\n}\n"


def write_json(path: Path, report: RunReport) -> Path:
    path.write_text(render_json(report), encoding="utf-8")
    return path


@dataclass
class StoredReport:
    """What a report.json holds, as model objects (verdicts are recomputed when re-judged)."""

    metrics: list[Metric]
    checks: list[CheckResult] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    tolerance: float | None = None
    gpu_device_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


_STEP_FIELDS = (
    "name",
    "argv",
    "exit_code",
    "duration_s",
    "log_path",
    "timed_out",
    "skipped_reason",
    "error",
    "parse_problems",
    "warnings",
    "conditions",
)
_METRIC_FIELDS = ("category", "subcategory", "size", "value", "unit", "devices", "step")


def checks_from_json(items: list[Any]) -> list[CheckResult]:
    return [
        CheckResult(
            name=str(c["name"]),
            status=Status(str(c["status"]).upper()),
            reason=str(c.get("reason", "")),
            hint=str(c.get("hint", "")),
            details=dict(c.get("details") or {}),
        )
        for c in items
    ]


def steps_from_json(items: list[Any]) -> list[StepResult]:
    steps = []
    for s in items:
        data = {k: s[k] for k in _STEP_FIELDS if k in s}
        data.setdefault("argv", [])
        data.setdefault("exit_code", None)
        data.setdefault("duration_s", 0.0)
        data.setdefault("log_path", "")
        steps.append(StepResult(**data))
    return steps


def metrics_from_json(items: list[Any]) -> list[Metric]:
    metrics = []
    for m in items:
        data = {k: m[k] for k in _METRIC_FIELDS if k in m}
        data["value"] = float(data["value"])
        metrics.append(Metric(**{k: (v if k == "value" else str(v)) for k, v in data.items()}))
    return metrics


def report_from_dict(data: dict[str, Any], source: str = "report.json") -> StoredReport:
    """Model objects from a report.json document; InputError when it is not one."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError(
            f"{source} is not a multiarc report.json (no schema_version)",
            "pass a results folder, its report.json or a benchmark_detail_log.txt",
        )
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise InputError(
            f"{source} has schema_version {version!r}; this multiarc reads up to {SCHEMA_VERSION}",
            "use a newer multiarc to read it",
        )
    try:
        model = data.get("gpu_model") or {}
        return StoredReport(
            metrics=metrics_from_json([*(data.get("metrics") or []), *(data.get("repeats") or [])]),
            checks=checks_from_json(data.get("checks") or []),
            steps=steps_from_json(data.get("steps") or []),
            problems=[
                ParseProblem(str(p["tool"]), str(p["message"]), p.get("line"))
                for p in data.get("problems") or []
            ],
            meta=dict(data.get("meta") or {}),
            tolerance=data.get("tolerance"),
            gpu_device_id=model.get("device_id") if isinstance(model, dict) else None,
            raw=data,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise InputError(
            f"{source} is damaged: {type(err).__name__}: {err}",
            "re-create it with multiarc-eval report RUN_DIR",
        ) from None


def load_report_json(path: Path) -> StoredReport:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}", "check the path") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(
            f"{path} is not valid JSON ({err})", "re-create it with multiarc-eval report RUN_DIR"
        ) from None
    return report_from_dict(data, str(path))
