"""The BKC table file and the last evaluation's verdict, read defensively from report.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from multiarc.collect import bkc
from multiarc.collect.context import Context


def _ctx(tmp_path: Path) -> Context:
    return Context(root=tmp_path, environ={}, is_root=True, results_dirs=(tmp_path / "results",))


def _run(tmp_path: Path, name: str, report: object | None) -> Path:
    folder = tmp_path / "results" / name
    folder.mkdir(parents=True)
    if report is not None:
        text = report if isinstance(report, str) else json.dumps(report)
        (folder / "report.json").write_text(text)
    return folder


def test_bkc_csv_is_intels_format() -> None:
    rows = [("Ubuntu", "25.04 (Plucky Puffin)"), ("GPU Firmware (guc)", "70.44.1"), ("", "x=1")]
    assert bkc.bkc_csv(rows) == (
        "Category,Version\nUbuntu,25.04 (Plucky Puffin)\nGPU Firmware (guc),70.44.1\n,x=1\n"
    )


def test_no_results_folder(tmp_path: Path) -> None:
    assert bkc.last_evaluation(_ctx(tmp_path)) is None


@pytest.mark.parametrize(
    ("report", "verdict", "detail"),
    [
        ({"overall_verdict": "fail", "counts": {"PASS": 10, "FAIL": 2}}, "FAIL", "2 FAIL, 10 PASS"),
        ({"verdict": {"verdict": "WARN"}}, "WARN", "report.json verdict"),
        ({"counts": {"PASS": 3, "WARN": 1, "FAIL": 0}}, "WARN", "1 WARN, 3 PASS"),
        ({"summary": {"counts": {"pass": 4}}}, "PASS", "4 PASS"),
        (
            {"metrics": [{"verdict": "PASS"}, {"verdict": "FAIL"}, {"x": 1}]},
            "FAIL",
            "1 FAIL, 1 PASS",
        ),
        ({"counts": {"PASS": "many"}}, "unknown", "report.json holds no verdicts"),
        ([1, 2], "unknown", "report.json is not an object"),
        ("{not json", "unknown", "no readable report.json"),
        (None, "unknown", "no readable report.json"),
    ],
)
def test_last_evaluation_reads_what_it_can(
    tmp_path: Path, report: object, verdict: str, detail: str
) -> None:
    _run(tmp_path, "20250101_120000", {"verdict": "PASS"})  # older run: not the one read
    folder = _run(tmp_path, "20250102_120000", report)
    (tmp_path / "results" / "not-a-run").mkdir()
    last = bkc.last_evaluation(_ctx(tmp_path))
    assert last is not None and last.folder == folder
    assert (last.verdict, last.detail) == (verdict, detail)
