"""The fleet report: every host's verdict, the fleet's figures, outliers and version drift.

Written at ``results/<ts>/`` as ``fleet_report.json``, ``fleet_report.csv`` (one flat
table, a ``section`` column per kind of row) and ``fleet_report.html``, from each host's
``report.json`` (fleet_host.py wrote it with the single-host pipeline).

*Outliers*: a figure of a host, GPU or pair more than the tolerance worse than the fleet
median of its class (same metric, same GPU model, same topology class), even when it
passes the reference. Each GPU's PCIe link (speed × width from the pcie-link check) is a
figure too, so a degraded link is named by host and GPU. *Version drift*: a host whose
kernel, GuC, HuC, compute runtime, Level Zero or xpu-smi differs from the majority (WARN).
Exit code: 0 only when every host passed and nothing is an outlier; 1 otherwise; 130 when
the run was interrupted.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .fleet_host import HostOutcome

INTERRUPTED_EXIT = 130
LOWER_IS_BETTER_UNITS = {"us", "usec", "µs", "ms", "s", "ns"}
DRIFT_KEYS = {
    "kernel": ("kernel",),
    "GuC": ("fw", "GuC"),
    "HuC": ("fw", "HuC"),
    "compute runtime": ("pkg", "intel-opencl-icd", "libze-intel-gpu1"),
    "Level Zero": ("pkg", "libze1"),
    "xpu-smi": ("pkg", "xpu-smi"),
}
MIN_DIFFERENCE = 0.05  # below the printed resolution: not an outlier (tiny P2P sizes)
FILES = ("fleet_report.json", "fleet_report.csv", "fleet_report.html")


@dataclass
class Figure:
    host: str
    gpu: str  # "0", "0->1", a BDF for links; "" for the original's single run (GPU 0)
    metric: str
    unit: str
    klass: str
    value: float


@dataclass
class Outlier:
    host: str
    gpu: str
    metric: str
    value: float
    fleet_median: float
    pct_below: float
    klass: str
    unit: str


def _report(outcome: HostOutcome) -> dict[str, Any] | None:
    if outcome.folder is None:
        return None
    path = outcome.folder / "report.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def host_conditions(report: dict[str, Any]) -> dict[str, str]:
    """kernel, GuC, HuC, compute runtime, Level Zero, xpu-smi of one host ("" unknown)."""
    meta = report.get("meta") or {}
    conditions = meta.get("conditions") or {}
    packages = conditions.get("packages") or {}
    firmware: dict[str, list[str]] = {}
    for check in report.get("checks") or []:
        if check.get("name") == "firmware":
            firmware = (check.get("details") or {}).get("versions") or {}
    found: dict[str, str] = {}
    for label, (kind, *names) in DRIFT_KEYS.items():
        if kind == "kernel":
            found[label] = str(meta.get("kernel") or conditions.get("kernel") or "")
        elif kind == "fw":
            found[label] = ",".join(firmware.get(names[0]) or [])
        else:
            found[label] = " / ".join(str(packages[n]) for n in names if n in packages)
    return found


def _gpu_label(devices: str, index_bdf: dict[str, str]) -> str:
    if devices == "":
        devices = "0"
    parts = re.split(r"(<->|->|<-)", devices)
    return "".join(f"{p} ({index_bdf[p]})" if p in index_bdf else p for p in parts)


def figures_of(host: str, report: dict[str, Any]) -> list[Figure]:
    meta = report.get("meta") or {}
    model = str((report.get("gpu_model") or {}).get("name") or meta.get("gpu_model") or "?")
    topo = meta.get("topology") or {}
    index_bdf = {str(g.get("index")): str(g.get("bdf")) for g in topo.get("gpus") or []}
    found = []
    for m in report.get("metrics") or []:
        value = m.get("value")
        if not isinstance(value, (int, float)):
            continue
        name = " | ".join(x for x in (m.get("category"), m.get("subcategory"), m.get("size")) if x)
        klass = model + (f", {m['topology']}" if m.get("topology") else "")
        gpu = _gpu_label(str(m.get("devices") or ""), index_bdf)
        found.append(Figure(host, gpu, name, str(m.get("unit") or ""), klass, float(value)))
    for check in report.get("checks") or []:
        if check.get("name") != "pcie-link":
            continue
        for link in (check.get("details") or {}).get("links") or []:
            speed, width = link.get("cap_speed"), link.get("width")
            now = link.get("speed")
            if isinstance(now, (int, float)) and isinstance(width, (int, float)) and speed:
                # the idle 2.5GT/s report is cosmetic: a link at full width that says 2.5 GT/s
                # counts at its capability, as the pcie-link check judges it
                effective = (
                    float(speed)
                    if float(now) == 2.5 and width == link.get("cap_width")
                    else float(now)
                )
                bdf = str(link.get("bdf"))
                index = next((i for i, b in index_bdf.items() if b == bdf), "?")
                found.append(
                    Figure(
                        host,
                        f"{index} ({bdf})",
                        "PCIe link (speed x width)",
                        "GT/s x lanes",
                        model,
                        effective * float(width),
                    )
                )
    return found


def find_outliers(
    figures: list[Figure], tolerance: float
) -> tuple[list[dict[str, Any]], list[Outlier]]:
    """Per metric and class: median, spread; and the figures worse than tolerance."""
    groups: dict[tuple[str, str, str], list[Figure]] = defaultdict(list)
    for f in figures:
        groups[(f.metric, f.unit, f.klass)].append(f)
    summary = []
    outliers = []
    for (metric, unit, klass), group in sorted(groups.items()):
        values = [f.value for f in group]
        median = statistics.median(values)
        spread = (max(values) - min(values)) / median * 100 if median else 0.0
        summary.append(
            {
                "metric": metric,
                "unit": unit,
                "class": klass,
                "n": len(values),
                "hosts": len({f.host for f in group}),
                "median": round(median, 4),
                "min": min(values),
                "max": max(values),
                "spread_pct": round(spread, 1),
            }
        )
        if median <= 0 or len({f.host for f in group}) < 2:
            continue
        lower = unit.strip().lower() in LOWER_IS_BETTER_UNITS
        for f in group:
            worse = (f.value - median) / median if lower else (median - f.value) / median
            if worse > tolerance and abs(f.value - median) >= MIN_DIFFERENCE:
                outliers.append(
                    Outlier(
                        f.host,
                        f.gpu,
                        metric,
                        f.value,
                        round(median, 4),
                        round(worse * 100, 1),
                        klass,
                        unit,
                    )
                )
    return summary, outliers


def find_drift(conditions: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    drift = []
    for label in DRIFT_KEYS:
        values = {h: c.get(label, "") for h, c in conditions.items() if c.get(label)}
        if len(set(values.values())) < 2:
            continue
        majority, _ = Counter(values.values()).most_common(1)[0]
        for host, value in sorted(values.items()):
            if value != majority:
                drift.append(
                    {
                        "status": "WARN",
                        "host": host,
                        "component": label,
                        "value": value,
                        "majority": majority,
                    }
                )
    return drift


def host_row(outcome: HostOutcome, report: dict[str, Any] | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "host": outcome.host,
        "status": outcome.status,
        "reason": outcome.reason,
        "recording": outcome.recording,
        "exit_code": outcome.exit_code,
    }
    if report is None:
        row["verdict"] = outcome.status.upper()
        return row
    row["verdict"] = str(report.get("verdict", "PASS"))  # UNSTABLE stays UNSTABLE
    if outcome.exit_code and row["verdict"] in ("PASS", "WARN"):
        row["verdict"] = "FAIL"  # a failed check or step the figures do not show
    if outcome.status == "interrupted":
        row["verdict"] = "INTERRUPTED"
    row["checks"] = [
        f"{c.get('status')} {c.get('name')}: {c.get('reason')}"
        for c in report.get("checks") or []
        if c.get("status") in ("FAIL", "WARN")
    ]
    row["step_failures"] = [
        f"{s.get('name')}: {s.get('error') or 'exit ' + str(s.get('exit_code'))}"
        for s in report.get("steps") or []
        if not s.get("ok") and not s.get("skipped_reason")
    ]
    row["timing"] = outcome.timing
    row["metric_counts"] = report.get("counts") or {}
    row["conditions"] = host_conditions(report)
    return row


def build(outcomes: list[HostOutcome], tolerance: float, interrupted: bool) -> dict[str, Any]:
    reports = {o.host: _report(o) for o in outcomes}
    rows = [host_row(o, reports[o.host]) for o in outcomes]
    figures = [f for h, r in reports.items() if r is not None for f in figures_of(h, r)]
    summary, outliers = find_outliers(figures, tolerance)
    drift = find_drift({r["host"]: r["conditions"] for r in rows if "conditions" in r})
    passed = all(o.status == "done" and o.exit_code == 0 for o in outcomes)
    code = INTERRUPTED_EXIT if interrupted else (0 if passed and not outliers else 1)
    return {
        "schema_version": 1,
        "generator": "multiarc-eval fleet",
        "tolerance": tolerance,
        "interrupted": interrupted,
        "exit_code": code,
        "hosts": rows,
        "metrics": summary,
        "outliers": [asdict(o) for o in outliers],
        "drift": drift,
    }


def write_csv(path: Path, data: dict[str, Any]) -> None:
    fields = [
        "section",
        "host",
        "gpu",
        "item",
        "value",
        "fleet_median",
        "spread_pct",
        "status",
        "detail",
    ]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.DictWriter(handle, fieldnames=fields)
        out.writeheader()
        for h in data["hosts"]:
            detail = h.get("reason") or "; ".join(h.get("checks", []) + h.get("step_failures", []))
            out.writerow(
                {
                    "section": "host",
                    "host": h["host"],
                    "status": h["verdict"],
                    "item": json.dumps(h.get("conditions", {})),
                    "detail": detail,
                }
            )
        for m in data["metrics"]:
            out.writerow(
                {
                    "section": "metric",
                    "item": f"{m['metric']} [{m['unit']}] {m['class']}",
                    "value": f"{m['min']}..{m['max']}",
                    "fleet_median": m["median"],
                    "spread_pct": m["spread_pct"],
                    "detail": f"n={m['n']}",
                }
            )
        for o in data["outliers"]:
            out.writerow(
                {
                    "section": "outlier",
                    "host": o["host"],
                    "gpu": o["gpu"],
                    "item": o["metric"],
                    "value": o["value"],
                    "fleet_median": o["fleet_median"],
                    "status": "OUTLIER",
                    "detail": f"{o['pct_below']}% worse than the fleet median",
                }
            )
        for d in data["drift"]:
            out.writerow(
                {
                    "section": "drift",
                    "host": d["host"],
                    "item": d["component"],
                    "value": d["value"],
                    "status": d["status"],
                    "detail": f"majority: {d['majority']}",
                }
            )


def write_fleet_report(
    console: Console,
    folder: Path,
    outcomes: list[HostOutcome],
    *,
    interrupted: bool,
    tolerance: float = 0.10,
    timing: dict[str, float] | None = None,
) -> int:
    """The three files and the console summary; the fleet's exit code."""
    from .fleet_html import render_html

    data = build(outcomes, tolerance, interrupted)
    data["timing"] = timing or {}  # playbook_s (every host, in parallel), after_playbook_s
    (folder / FILES[0]).write_text(json.dumps(data, indent=2, default=str) + "\n")
    write_csv(folder / FILES[1], data)
    (folder / FILES[2]).write_text(render_html(data))
    table = Table(title=f"fleet: {len(outcomes)} host(s)")
    for col in ("host", "verdict", "why"):
        table.add_column(col)
    for h in data["hosts"]:
        why = h.get("reason") or "; ".join(
            (h.get("checks") or [])[:2] + (h.get("step_failures") or [])[:2]
        )
        table.add_row(h["host"], h["verdict"], why[:160])
    console.print(table)
    worst: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for o in data["outliers"]:
        worst[(o["host"], o["gpu"])].append(o)
    for (host, gpu), found in worst.items():
        o = max(found, key=lambda x: x["pct_below"])
        console.print(
            f"OUTLIER {host} GPU {gpu}: {len(found)} figure(s); worst {o['metric']} "
            f"{o['value']:g} {o['unit']}, {o['pct_below']}% worse than the fleet "
            f"median {o['fleet_median']:g} ({o['klass']})",
            highlight=False,
        )
    for d in data["drift"]:
        console.print(
            f"WARN drift {d['host']}: {d['component']} {d['value']} (majority {d['majority']})",
            highlight=False,
        )
    for name in FILES:
        console.print(f"wrote {folder / name}", highlight=False)
    if any(o.recording for o in outcomes):
        console.print(
            "[bold magenta]RECORDING: replayed tool output on the nodes, not their hardware[/]"
        )
    if interrupted:
        console.print("[bold red]interrupted[/]: hosts' partial results kept")
    return int(data["exit_code"])
