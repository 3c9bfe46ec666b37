"""fleet_report.html: the fleet report for the reader (one self-contained page)."""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}"
    ".FAIL,.OUTLIER,.UNREACHABLE,.FAILED{background:#fdd}.WARN{background:#ffd}"
    ".PASS{background:#dfd}"
)


def _table(headers: list[str], rows: list[list[Any]], klass_col: int | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        klass = f' class="{escape(str(row[klass_col]))}"' if klass_col is not None else ""
        cells = "".join(f"<td>{escape(str(c))}</td>" for c in row)
        body.append(f"<tr{klass}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_html(data: dict[str, Any]) -> str:
    hosts = [
        [
            h["host"],
            h["verdict"],
            h.get("reason") or "",
            "\n".join(h.get("checks") or []),
            "\n".join(h.get("step_failures") or []),
            ", ".join(f"{k} {v}" for k, v in (h.get("conditions") or {}).items() if v),
        ]
        for h in data["hosts"]
    ]
    outliers = [
        [
            "OUTLIER",
            o["host"],
            o["gpu"],
            o["metric"],
            f"{o['value']:g} {o['unit']}",
            f"{o['fleet_median']:g}",
            f"{o['pct_below']}%",
            o["klass"],
        ]
        for o in data["outliers"]
    ]
    drift = [
        [d["status"], d["host"], d["component"], d["value"], d["majority"]] for d in data["drift"]
    ]
    metrics = [
        [
            m["metric"],
            m["unit"],
            m["class"],
            m["n"],
            m["median"],
            m["min"],
            m["max"],
            f"{m['spread_pct']}%",
        ]
        for m in data["metrics"]
    ]
    verdict = "PASS" if data["exit_code"] == 0 else "FAIL"
    parts = [
        f"<!doctype html><meta charset=utf-8><title>multiarc fleet report</title>"
        f"<style>{STYLE}</style><h1>Fleet report: <span class={verdict}>{verdict}</span></h1>",
        f"<p>tolerance {data['tolerance'] * 100:g}%, exit code {data['exit_code']}"
        + (", <b>interrupted</b>" if data["interrupted"] else "")
        + "</p>",
        "<h2>Hosts</h2>",
        _table(["host", "verdict", "reason", "checks", "step failures", "conditions"], hosts, 1),
        "<h2>Outliers</h2>",
        _table(
            ["", "host", "GPU", "metric", "value", "fleet median", "worse by", "class"], outliers, 0
        )
        if outliers
        else "<p>none</p>",
        "<h2>Version drift</h2>",
        _table(["", "host", "component", "value", "majority"], drift, 0)
        if drift
        else "<p>none</p>",
        "<h2>Metrics</h2>",
        _table(["metric", "unit", "class", "n", "median", "min", "max", "spread"], metrics),
    ]
    return "\n".join(parts) + "\n"
