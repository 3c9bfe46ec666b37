"""The fleet report's arithmetic: medians, outliers by class, version drift, exit codes."""

from __future__ import annotations

from pathlib import Path

from multiarc.evaluation.fleet_host import HostOutcome
from multiarc.evaluation.fleet_report import Figure, build, find_drift, find_outliers


def _fig(host: str, gpu: str, value: float, unit: str = "GB/s", klass: str = "B60") -> Figure:
    return Figure(host, gpu, "D2D", unit, klass, value)


def test_outlier_below_the_fleet_median_of_its_class() -> None:
    figures = [_fig(h, g, 370.0) for h in ("a", "b") for g in "0123"]
    figures += [_fig("c", "0", 370.0), _fig("c", "2", 231.0)]
    summary, outliers = find_outliers(figures, 0.10)
    assert [(o.host, o.gpu) for o in outliers] == [("c", "2")]
    assert summary[0]["median"] == 370.0 and summary[0]["n"] == 10


def test_classes_are_judged_apart_and_latency_is_lower_is_better() -> None:
    figures = [_fig("a", "0", 100.0, klass="x"), _fig("b", "0", 50.0, klass="y")]
    assert find_outliers(figures, 0.10)[1] == []  # one host per class: nothing to compare
    lat = [_fig(h, "0", 10.0, unit="us") for h in "abc"] + [_fig("d", "0", 20.0, unit="us")]
    assert [o.host for o in find_outliers(lat, 0.10)[1]] == ["d"]


def test_drift_is_a_warn_against_the_majority() -> None:
    drift = find_drift(
        {"a": {"kernel": "6.14"}, "b": {"kernel": "6.14"}, "c": {"kernel": "6.11"}}
    )
    assert drift == [
        {"status": "WARN", "host": "c", "component": "kernel", "value": "6.11", "majority": "6.14"}
    ]


def test_exit_codes(tmp_path: Path) -> None:
    gone = HostOutcome("gone", "unreachable", reason="Connection refused")
    data = build([gone], 0.10, interrupted=False)
    assert data["exit_code"] == 1
    assert data["hosts"][0]["verdict"] == "UNREACHABLE"
    assert data["hosts"][0]["reason"] == "Connection refused"
    assert build([gone], 0.10, interrupted=True)["exit_code"] == 130
    assert build([HostOutcome("ok", "done", exit_code=0)], 0.1, False)["exit_code"] == 0
