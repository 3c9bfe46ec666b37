"""``multiarc-eval report`` and ``compare`` through click's CliRunner, on the recordings."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.evaluation.cli import main

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
REFERENCE = RECORDINGS / "b60x4" / "reference_perf.csv"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def log(host: str) -> Path:
    return RECORDINGS / host / "benchmark_detail_log.txt"


@pytest.mark.parametrize("command", ["report", "compare"])
def test_help(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0 and "Usage: multiarc-eval " + command in out and "--tolerance" in out


def test_rejudges_intels_detail_log_as_csv() -> None:
    code, out, err = run("report", log("b60x4"), "--reference", REFERENCE)
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    with (RECORDINGS / "b60x4" / "benchmark_report.csv").open(newline="") as f:
        assert [r[:5] for r in rows] == list(csv.reader(f))
    assert "PASS: 16 metric(s) (16 PASS)" in err


def test_finds_the_reference_beside_the_log() -> None:
    code, out, err = run("report", RECORDINGS / "b60x4", "--format", "json")
    assert code == 0 and f"reference: {REFERENCE}" in err
    assert json.loads(out)["counts"]["PASS"] == 16


@pytest.mark.parametrize(
    ("host", "failures"), [("b60x4-implausible-d2d", 2), ("b60x4-degraded-link", 8)]
)
def test_failed_metrics_exit_1(host: str, failures: int) -> None:
    code, out, _ = run("report", log(host), "--reference", REFERENCE, "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] == "FAIL" and data["counts"]["FAIL"] == failures


def test_tolerance_moves_the_bands() -> None:
    # P2P at ~27 % of the reference: FAIL at 10 %, WARN (down to 20 %) at 40 %.
    code, out, _ = run(
        "report",
        log("b60x4-degraded-link"),
        "--reference",
        REFERENCE,
        "--tolerance",
        "40",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert code == 0 and data["tolerance"] == 0.4 and data["verdict"] == "WARN"
    assert data["counts"] == {"PASS": 8, "WARN": 8, "FAIL": 0, "UNSTABLE": 0, "INFO": 0}
    code, out, _ = run(
        "report", log("b60x4"), "--reference", REFERENCE, "--tolerance", "0", "--format", "json"
    )
    assert json.loads(out)["counts"]["PASS"] == 16  # every figure is at or above its reference


def test_markdown_and_html_outputs(tmp_path: Path) -> None:
    code, out, _ = run("report", log("b60x4"), "--reference", REFERENCE, "--format", "md")
    assert code == 0 and out.startswith("# multiarc evaluation report: PASS")
    target = tmp_path / "r.html"
    code, out, err = run(
        "report", log("b60x4"), "--reference", REFERENCE, "--format", "html", "--output", target
    )
    assert code == 0 and out == "" and f"wrote {target}" in err
    assert target.read_text().count("data:image/png;base64,") == 3


def test_report_json_of_a_run_keeps_checks_and_steps(tmp_path: Path) -> None:
    folder = tmp_path / "20261123_101500"
    folder.mkdir()
    shutil.copy(log("b60x4"), folder)
    (folder / "checks.json").write_text(
        json.dumps(
            [{"name": "iommu", "status": "FAIL", "reason": "intel_iommu=on", "hint": "fix grub"}]
        )
    )
    (folder / "steps.json").write_text(
        json.dumps(
            [
                {
                    "name": "sycl-ls",
                    "argv": ["sycl-ls"],
                    "exit_code": 0,
                    "duration_s": 0.2,
                    "log_path": "steps/01-sycl-ls.log",
                    "ok": True,
                }
            ]
        )
    )
    code, out, _ = run(
        "report",
        folder,
        "--reference",
        REFERENCE,
        "--format",
        "json",
        "--output",
        folder / "report.json",
    )
    assert code == 1  # the failed check
    data = json.loads((folder / "report.json").read_text())
    assert [c["name"] for c in data["checks"]] == ["iommu"] and len(data["steps"]) == 1
    assert data["counts"]["PASS"] == 16
    # Read back from report.json: the run's tolerance and reference source are reused.
    code, out, err = run("report", folder, "--format", "json")
    again = json.loads(out)
    assert code == 1 and f"reference: {REFERENCE}" in err
    assert again["checks"] == data["checks"] and again["counts"] == data["counts"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing-run"], "does not exist"),
        ([RECORDINGS / "README.md"], "is not a benchmark_detail_log.txt"),
        ([RECORDINGS / "b60x4" / "host.json"], "not a multiarc report.json"),
        ([RECORDINGS / "b60x4" / "root"], "holds neither report.json nor"),
        ([log("b60x4"), "--reference", RECORDINGS / "b60x4" / "host.json"], "header lacks"),
        ([log("b60x4"), "--gpu", "ffff"], "unknown GPU device id"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_a_hint(args: list[object], message: str) -> None:
    code, out, err = run("report", *map(str, args))
    assert code == 2 and out == ""
    first, hint = err.splitlines()[:2]
    assert first.startswith("error: ") and message in first
    assert hint.startswith("  hint: ")


def test_binary_file_is_bad_input(tmp_path: Path) -> None:
    junk = tmp_path / "benchmark_detail_log.txt"
    junk.write_bytes(b"\x7fELF\x00\x01" * 100)
    code, _, err = run("report", junk)
    assert code == 2 and "is binary" in err


def test_bad_tolerance_is_a_usage_error() -> None:
    code, _, err = run("report", log("b60x4"), "--tolerance", "75")
    assert code == 2 and "--tolerance" in err


def test_compare_flags_the_degraded_link() -> None:
    code, out, err = run(
        "compare", RECORDINGS / "b60x4", log("b60x4-degraded-link"), "--format", "json"
    )
    assert code == 1 and err.startswith("REGRESSION: 8 regression, 8 same")
    data = json.loads(out)
    regressed = [m for m in data["metrics"] if m["change"] == "regression"]
    assert {m["category"] for m in regressed} == {"p2p"} and len(regressed) == 8
    first = regressed[0]
    assert (first["subcategory"], first["size"], first["a"], first["b"]) == (
        "Unidirectional Write",
        "128 MB",
        25.32,
        6.61,
    )
    assert first["delta_pct"] == pytest.approx(-73.89, abs=0.01)


def test_compare_same_run_table_and_reverse_direction() -> None:
    code, out, err = run("compare", log("b60x4"), log("b60x4"))
    assert code == 0 and "same" in out and err.startswith("OK: 16 same")
    code, out, err = run("compare", log("b60x4-degraded-link"), log("b60x4"), "--format", "csv")
    assert code == 0 and "8 improved" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 16 and rows[0]["change"] == "improved"


def test_compare_metrics_only_in_one_run(tmp_path: Path) -> None:
    partial = tmp_path / "benchmark_detail_log.txt"
    text = log("b60x4").read_text()
    partial.write_text(text[: text.index("Benchmarking (")])  # before gemm: no gemm, no oneCCL
    code, out, err = run("compare", log("b60x4"), partial, "--format", "json")
    assert code == 0 and "4 only in A" in err
    only = [m for m in json.loads(out)["metrics"] if m["change"] == "only in A"]
    assert [m["subcategory"] for m in only] == ["int8", "allreduce", "allgather", "alltoall"]
    assert all(m["b"] is None for m in only)


def test_compare_bad_input() -> None:
    code, _, err = run("compare", log("b60x4"), "nothing-here")
    assert code == 2 and "nothing-here does not exist" in err
