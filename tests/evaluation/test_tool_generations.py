"""Intel's detail logs written by other level-zero-tests versions, and cut-off logs.

tests/recordings/generations/ holds, per output generation of ze_peer and ze_peak (the
commits are in tests/recordings/README.md), the b60x4 host's detail log as that version
prints it. Every figure Intel's gen_evaluation_report.py reads from the current format
(b60x4/benchmark_report.csv) must be read with the same value from every generation, and
the run judged the same. A log cut off (mid-line, after a complete line, or missing whole
sections) gives FAIL for the figures it lacks, with the reason, and exit 1.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.evaluation.cli import main
from multiarc.evaluation.extract import metrics_from_detail_log
from multiarc.evaluation.parsers.ze_peak import parse_ze_peak
from multiarc.evaluation.parsers.ze_peer import parse_ze_peer

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
GENERATIONS = RECORDINGS / "generations"
REFERENCE = RECORDINGS / "b60x4" / "reference_perf.csv"
LOG_GENERATIONS = ["l0-2021-10", "l0-2022-06", "l0-2022-09", "l0-2023-11"]


def _intel_rows() -> dict[tuple[str, str, str], float]:
    """What Intel's gen_evaluation_report.py read from the b60x4 log (recorded)."""
    with (RECORDINGS / "b60x4" / "benchmark_report.csv").open() as handle:
        return {
            (r["Category"], r["Subcategory"], r["Data/Packet Size"]): float(r["Measured (GB/s)"])
            for r in csv.DictReader(handle)
        }


def _report(log: Path, *extra: str) -> tuple[int, list[dict[str, str]], str]:
    result = CliRunner().invoke(
        main, ["report", str(log), "--reference", str(REFERENCE), "--format", "csv", *extra]
    )
    text = result.stdout
    rows = list(csv.DictReader(text.splitlines())) if text.startswith("Category") else []
    return result.exit_code, rows, result.output


@pytest.mark.parametrize("generation", LOG_GENERATIONS)
def test_every_generation_gives_intels_figures(generation: str) -> None:
    text = (GENERATIONS / generation / "benchmark_detail_log.txt").read_text()
    metrics, problems = metrics_from_detail_log(text)
    assert problems == []
    found = {m.key: m.value for m in metrics}
    for key, value in _intel_rows().items():
        assert found.get(key) == pytest.approx(value), (generation, key)


@pytest.mark.parametrize("generation", LOG_GENERATIONS)
def test_every_generation_is_judged_like_the_current_format(generation: str) -> None:
    code, rows, _ = _report(GENERATIONS / generation / "benchmark_detail_log.txt")
    current_code, current, _ = _report(RECORDINGS / "b60x4" / "benchmark_detail_log.txt")
    assert code == current_code == 0
    assert [(r["Subcategory"], r["Measured (GB/s)"], r["Verdict"]) for r in rows] == [
        (r["Subcategory"], r["Measured (GB/s)"], r["Verdict"]) for r in current
    ]


def test_ze_peer_of_2021_08_is_read() -> None:
    """The 2021-08 format: its own headers, "Size: ... - BW: ... GBPS" rows, and a
    bidirectional test that names no read or write (kept as "Bidirectional", INFO)."""
    result = parse_ze_peer((GENERATIONS / "ze_peer-2021-08.txt").read_text())
    assert result.problems == []
    big = {(r.op, r.bidirectional): r.value for r in result.records if r.size_label == "128 MB"}
    assert big == {("write", False): 25.32, ("read", False): 22.6, ("", True): 48.108}


@pytest.mark.parametrize(
    ("unit", "header"),
    [("GBPS", "(GBPS)"), ("GFLOPS", "(GBPS)"), ("GB/s", "(GB/s)")],
)
def test_ze_peak_units_of_every_generation(unit: str, header: str) -> None:
    text = (
        f"Transfer Bandwidth {header}\nenqueueWriteBuffer : 24.5581 {unit}\n"
        f"GPU Copy Host to Shared Memory : 24.3172 {unit}\n<<<<<<<<<<<<<<<<<<<<<<<<<<<<\n"
        f"Global memory bandwidth {header}\nfloat16 : 401.528 {unit}\n"
        "<<<<<<<<<<<<<<<<<<<<<<<<<<<<\n"
    )
    result = parse_ze_peak(text)
    assert result.problems == []
    assert {r.name: r.gbps for r in result.records} == {
        "enqueueWriteBuffer": 24.5581, "GPU Copy Host to Shared Memory": 24.3172,
        "float16": 401.528,
    }  # fmt: skip


def test_a_line_cut_mid_number_is_no_figure() -> None:
    """`BW [GBPS]:  128 MB:    3` is the start of a line, not a figure of 3 GB/s."""
    code, rows, _ = _report(GENERATIONS / "cut-midline" / "benchmark_detail_log.txt")
    assert code == 1
    write_128 = next(
        r for r in rows if r["Subcategory"] == "Unidirectional Write" and
        r["Data/Packet Size"] == "128 MB"
    )  # fmt: skip
    assert write_128["Measured (GB/s)"] == "" and write_128["Verdict"] == "FAIL"
    assert "cut off after 64 MB" in write_128["Note"]


def test_a_section_cut_after_a_complete_line_is_flagged() -> None:
    """The newline at the end of the log is not ze_peer's closing empty line."""
    text = (GENERATIONS / "cut-after-line" / "benchmark_detail_log.txt").read_text()
    _, problems = metrics_from_detail_log(text)
    assert any("output cut off after 64 MB" in p.message for p in problems)
    code, rows, _ = _report(GENERATIONS / "cut-after-line" / "benchmark_detail_log.txt")
    assert code == 1 and {r["Verdict"] for r in rows} == {"FAIL"}


def test_ze_peak_cut_in_its_section() -> None:
    code, rows, _ = _report(GENERATIONS / "cut-in-global-bw" / "benchmark_detail_log.txt")
    assert code == 1
    by_size = {r["Data/Packet Size"]: r for r in rows if r["Subcategory"] == "D2D"}
    assert by_size["float8"]["Verdict"] == "PASS"
    assert by_size["float16"]["Verdict"] == "FAIL"
    assert "cut off after float8" in by_size["float16"]["Note"]


def test_a_bare_log_missing_sections_fails_them_even_with_no_figure(tmp_path: Path) -> None:
    """Intel's script runs under set -e: a log that stops before ze_peer means the run died
    there. Every reference row FAILs, not SKIP, and the exit code is 1."""
    full = (RECORDINGS / "b60x4" / "benchmark_detail_log.txt").read_text()
    cut = full[: full.index("=" * 80)] + "ERROR: More than 1 device needed to run ze_peer\n"
    log = tmp_path / "benchmark_detail_log.txt"
    log.write_text(cut)
    code, rows, output = _report(log)
    assert code == 1 and len(rows) == 16 and {r["Verdict"] for r in rows} == {"FAIL"}
    assert all("set -e" in r["Note"] for r in rows)
    assert "FAIL: 0 metric(s)" in output


def test_python_m_report_on_an_old_log_as_a_user_runs_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "multiarc.evaluation", "report",
         str(GENERATIONS / "l0-2021-10" / "benchmark_detail_log.txt"),
         "--reference", str(REFERENCE)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "PASS: 16 metric(s) (16 PASS)" in done.stderr
