"""``multiarc-eval compare FLEET_A FLEET_B``: two fleet run folders, per host and metric.

A folder holding ``fleet_report.json`` is a fleet run; each host present in both is
compared with the single-run comparison (reports/compare.py) of its ``hosts/<host>/``
folder; hosts that appear or vanish are listed. Exit 1 when a host regressed or vanished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd

FLEET_REPORT = "fleet_report.json"


def is_fleet(path: Path) -> bool:
    return (path / FLEET_REPORT).is_file()


def _hosts(folder: Path) -> dict[str, Path]:
    """Hosts with a judged run folder (unreachable ones have none)."""
    hosts = folder / "hosts"
    if not hosts.is_dir():
        return {}
    return {p.name: p for p in sorted(hosts.iterdir()) if (p / "report.json").is_file()}


def compare_fleets(a: Path, b: Path, tolerance: float, fmt: str, only_changed: bool) -> int:
    from multiarc.evaluation.reports.compare import REGRESSION, SAME, compare_metrics

    from .run_folder import load_run

    hosts_a, hosts_b = _hosts(a), _hosts(b)
    vanished = sorted(set(hosts_a) - set(hosts_b))
    appeared = sorted(set(hosts_b) - set(hosts_a))
    tables = []
    regressed: dict[str, int] = {}
    for host in sorted(set(hosts_a) & set(hosts_b)):
        table = compare_metrics(
            load_run(hosts_a[host]).metrics, load_run(hosts_b[host]).metrics, tolerance=tolerance
        )
        regressed[host] = int((table["change"] == REGRESSION).sum())
        if only_changed:
            table = table[table["change"] != SAME]
        table.insert(0, "host", host)
        tables.append(table)
    joined = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if fmt == "csv":
        click.echo(joined.to_csv(index=False, float_format="%.6g"), nl=False)
    elif fmt == "json":
        doc: dict[str, Any] = {
            "a": str(a),
            "b": str(b),
            "tolerance": tolerance,
            "hosts_vanished": vanished,
            "hosts_appeared": appeared,
            "regressions_by_host": regressed,
            "metrics": json.loads(joined.to_json(orient="records")) if tables else [],
        }
        click.echo(json.dumps(doc, indent=1))
    else:
        for host, count in regressed.items():
            click.echo(f"{host}: {count} regression(s)" if count else f"{host}: no regression")
        for _, row in joined[joined["change"] == REGRESSION].iterrows() if tables else []:
            click.echo(
                f"  REGRESSION {row['host']} {row.get('key', '')} {row.get('devices', '')}".rstrip()
            )
    for host in vanished:
        click.echo(f"host vanished (in A, not in B): {host}", err=True)
    for host in appeared:
        click.echo(f"host appeared (in B, not in A): {host}", err=True)
    bad = sum(regressed.values()) > 0 or bool(vanished)
    click.echo(f"{'REGRESSION' if bad else 'OK'}: {len(regressed)} host(s) compared", err=True)
    return 1 if bad else 0
