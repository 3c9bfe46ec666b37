"""Report writers: Intel's columns unchanged, report.json round trip, safe self-contained HTML."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path

import pytest
from multiarc.evaluation.extract import metrics_from_detail_log
from multiarc.evaluation.model import CheckResult, Metric, ParseProblem, Status, StepResult
from multiarc.evaluation.reference import load_reference
from multiarc.evaluation.reports.api import build_run_report, write_run_reports
from multiarc.evaluation.reports.csv_report import COLUMNS, render_csv
from multiarc.evaluation.reports.html_report import render_html
from multiarc.evaluation.reports.json_report import load_report_json, report_from_dict
from multiarc.evaluation.reports.markdown_report import render_markdown
from multiarc.evaluation.reports.plots import p2p_matrices

from multiarc.devices import lookup

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
REFERENCE = load_reference(RECORDINGS / "b60x4" / "reference_perf.csv")
B60 = lookup("e211")
HOSTILE = '<script>alert("x")</script>|'


def recorded_metrics(host: str) -> tuple[list[Metric], list[ParseProblem]]:
    return metrics_from_detail_log((RECORDINGS / host / "benchmark_detail_log.txt").read_text())


def ok_step(name: str = "ze_peer-0-1") -> StepResult:
    return StepResult(name, ["ze_peer", "-s", "0", "-d", "1"], 0, 1.5, f"steps/{name}.log")


@pytest.mark.parametrize("host", ["b60x4", "b60x2", "b60x4-degraded-link", "b60x4-implausible-d2d"])
def test_csv_starts_with_intels_report_unchanged(host: str) -> None:
    metrics, _ = recorded_metrics(host)
    report = build_run_report(metrics=metrics, reference=REFERENCE, gpu_model=B60)
    ours = list(csv.reader(io.StringIO(render_csv(report.judgements, REFERENCE))))
    with (RECORDINGS / host / "benchmark_report.csv").open(newline="") as f:
        intels = list(csv.reader(f))
    assert [row[:5] for row in ours] == intels
    assert ours[0] == list(COLUMNS)
    verdicts = [row[8] for row in ours[1:]]
    if host == "b60x4-implausible-d2d":
        assert verdicts.count("FAIL") == 2
    elif host == "b60x4-degraded-link":
        assert verdicts[:8] == ["FAIL"] * 8
    else:
        assert set(verdicts) == {"PASS"}


def test_write_run_reports_files_and_verdict(tmp_path: Path) -> None:
    metrics, problems = recorded_metrics("b60x4")
    checks = [CheckResult("gpu-count", Status.PASS, "4 GPUs everywhere")]
    verdict = write_run_reports(
        tmp_path,
        checks=checks,
        steps=[ok_step()],
        metrics=metrics,
        problems=problems,
        reference=REFERENCE,
        tolerance=0.10,
        gpu_model=B60,
        meta={"host": "b60x4"},
    )
    assert verdict.exit_code == 0 and verdict.verdict is Status.PASS
    assert verdict.counts == {"PASS": 16, "WARN": 0, "FAIL": 0, "UNSTABLE": 0, "INFO": 0}
    assert sorted(p.name for p in verdict.files) == [
        "benchmark_report.csv",
        "report.html",
        "report.json",
    ]
    assert all(p.parent == tmp_path and p.stat().st_size > 0 for p in verdict.files)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["verdict"] == "PASS" and data["exit_code"] == 0 and data["schema_version"] == 1


@pytest.mark.parametrize(
    ("checks", "steps", "failed"),
    [
        ([CheckResult("iommu", Status.FAIL, "intel_iommu=on", "add intel_iommu=off")], [], True),
        ([CheckResult("pcie-link", Status.WARN, "x4")], [], False),
        ([], [StepResult("ze_peak", ["ze_peak"], None, 600.0, "l", timed_out=True)], True),
        ([], [StepResult("gemm", ["matrix_mul_mkl"], 139, 3.0, "l")], True),
        ([], [StepResult("ze_peer", ["ze_peer"], None, 0.0, "", skipped_reason="1 GPU")], False),
    ],
)
def test_exit_code_counts_checks_and_steps(
    tmp_path: Path, checks: list[CheckResult], steps: list[StepResult], failed: bool
) -> None:
    metrics, _ = recorded_metrics("b60x4")
    verdict = write_run_reports(
        tmp_path,
        checks=checks,
        steps=steps,
        metrics=metrics,
        problems=[],
        reference=REFERENCE,
        tolerance=0.10,
        gpu_model=B60,
        meta={},
    )
    assert verdict.exit_code == (1 if failed else 0)
    assert str(verdict.verdict) == ("FAIL" if failed else ("WARN" if checks else "PASS"))


def test_report_json_round_trip(tmp_path: Path) -> None:
    metrics, _ = recorded_metrics("b60x4-implausible-d2d")
    checks = [CheckResult("gpu-count", Status.PASS, "4", details={"lspci": 4})]
    steps = [ok_step(), StepResult("gemm", ["matrix_mul_mkl"], 139, 3.0, "l", error="SIGSEGV")]
    problems = [ParseProblem("ze_peak", "no global_bw results found", 12)]
    write_run_reports(
        tmp_path,
        checks=checks,
        steps=steps,
        metrics=metrics,
        problems=problems,
        reference=REFERENCE,
        tolerance=0.05,
        gpu_model=B60,
        meta={"who": "me"},
    )
    stored = load_report_json(tmp_path / "report.json")
    assert stored.metrics == metrics
    assert stored.checks == checks
    assert stored.steps == steps
    assert stored.problems == problems
    assert stored.meta == {"who": "me"} and stored.tolerance == 0.05
    assert stored.gpu_device_id == "e211"
    assert stored.raw["counts"] == {"PASS": 14, "WARN": 0, "FAIL": 2, "UNSTABLE": 0, "INFO": 0}
    assert stored.raw["verdict"] == "FAIL" and stored.raw["exit_code"] == 1
    assert stored.raw["reference"]["rows"] == 16
    d2d = [m for m in stored.raw["metrics"] if m["subcategory"] == "D2D"]
    assert {m["verdict"] for m in d2d} == {"FAIL"} and all(
        "NEOReadDebugKeys" in m["note"] for m in d2d
    )


def test_report_json_rejects_other_documents() -> None:
    from multiarc.errors import InputError

    with pytest.raises(InputError, match="no schema_version"):
        report_from_dict({"gpus": 4})
    with pytest.raises(InputError, match="schema_version 99"):
        report_from_dict({"schema_version": 99})
    with pytest.raises(InputError, match="damaged"):
        report_from_dict({"schema_version": 1, "metrics": [{"category": "p2p"}]})


def test_html_is_self_contained_with_plots_and_escapes() -> None:
    metrics, _ = recorded_metrics("b60x4-degraded-link")
    metrics.append(Metric("1ccl", "allreduce", "64MB", 10.0, "GB/s"))  # a second ccl point
    report = build_run_report(
        checks=[CheckResult(HOSTILE, Status.FAIL, HOSTILE, HOSTILE)],
        steps=[StepResult(HOSTILE, [HOSTILE], 1, 1.0, HOSTILE)],
        metrics=metrics,
        problems=[ParseProblem(HOSTILE, HOSTILE)],
        reference=REFERENCE,
        gpu_model=B60,
        meta={"host": HOSTILE},
    )
    html = render_html(report)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "http://" not in html.replace("http://www.w3.org", "") and 'src="http' not in html
    images = html.split('src="data:image/png;base64,')[1:]
    assert len(images) == 3  # P2P heatmap, bandwidth bars, oneCCL curves
    for image in images:
        assert base64.b64decode(image.split('"', 1)[0]).startswith(b"\x89PNG")
    assert 'class="FAIL">FAIL' in html


def test_p2p_matrix_from_pair_labels() -> None:
    metrics = [
        Metric("p2p", "Unidirectional Write", size, value, "GB/s", devices=pair)
        for pair, size, value in [
            ("0->1", "128 MB", 20),
            ("0->1", "256 MB", 25),
            ("0->1", "256 MB", 27),
            ("2->3", "256 MB", 19),
        ]
    ]
    report = build_run_report(metrics=metrics)
    assert p2p_matrices(report.judgements) == {
        "Unidirectional Write": ("256 MB", {(0, 1): 26.0, (2, 3): 19.0})
    }


def test_markdown_tables_escape_pipes() -> None:
    metrics, _ = recorded_metrics("b60x4")
    report = build_run_report(
        checks=[CheckResult("a|b", Status.PASS, "ok")],
        metrics=metrics,
        reference=REFERENCE,
        gpu_model=B60,
    )
    text = render_markdown(report)
    assert text.startswith("# multiarc evaluation report: PASS")
    assert "| a\\|b | PASS | ok |  |" in text
    assert (
        "| p2p | Unidirectional Write | 128 MB | 0->1 | 25.32 | 24 | GB/s | 1.055 | 80.4 | PASS |"
        in text
    )


def test_markdown_groups_repeated_runs_into_one_row() -> None:
    """A log with the same tool run many times: one row per key and pair, not one per run."""
    text = (RECORDINGS / "b60x4" / "benchmark_detail_log.txt").read_text()
    start = text.index("Single Process")
    metrics, _ = metrics_from_detail_log(text[:start] + text[start:] * 3)
    assert len(metrics) == 3 * 16
    report = build_run_report(metrics=metrics, reference=REFERENCE, gpu_model=B60)
    lines = render_markdown(report).splitlines()
    rows = [line for line in lines if line.startswith("| p2p ") or line.startswith("| gemm ")]
    assert len(rows) == 9  # 8 P2P keys and the gemm, each once
    gemm = next(r for r in rows if r.startswith("| gemm "))
    assert gemm.startswith("| gemm | int8 |  | 0 | 141.472 (141.472-141.472, 3 runs) | 140 |")
    assert "| PASS (3 PASS) |" in gemm


def test_reference_rows_without_a_figure() -> None:
    """FAIL when the step that prints the figure ran; SKIP when it was skipped or absent."""
    metrics, _ = recorded_metrics("b60x4")
    kept = [m for m in metrics if m.category not in ("gemm", "1ccl")]
    steps = [
        StepResult("gemm-int8-c0", ["matrix_mul_mkl"], 0, 3.0, "l", parse_problems=["cut"]),
        StepResult("1ccl-allreduce", ["mpirun"], None, 0.0, "", skipped_reason="interrupted"),
    ]
    report = build_run_report(metrics=kept, steps=steps, reference=REFERENCE, gpu_model=B60)
    missing = {m.subcategory: m for m in report.missing}
    assert sorted(missing) == ["allgather", "allreduce", "alltoall", "int8"]
    assert missing["int8"].verdict is Status.FAIL and "gemm-int8-c0: cut" in missing["int8"].note
    assert missing["int8"].unit == "TOPS" and missing["int8"].reference_text == "140"
    allreduce = missing["allreduce"]
    assert allreduce.verdict is Status.SKIP and "interrupted" in allreduce.note
    assert missing["alltoall"].verdict is Status.SKIP  # no step of the run prints it
    assert report.verdict is Status.FAIL and report.exit_code == 1
    assert "4 reference figure(s) not measured (1 FAIL)" in report.summary_line()
    rows = list(csv.reader(io.StringIO(render_csv(report.judgements, REFERENCE, report.missing))))
    assert rows[-4:][0][:5] == ["gemm", "int8", "", "", "140"] and rows[-4][8] == "FAIL"
    assert "## Reference figures not measured" in render_markdown(report)
    assert ">Reference figures not measured</h2>" in render_html(report, plots=False)
    without_steps = build_run_report(metrics=kept, reference=REFERENCE, gpu_model=B60)
    assert {str(m.verdict) for m in without_steps.missing} == {"SKIP"}  # a bare detail log
    assert without_steps.exit_code == 0


def test_bandwidth_plot_keeps_the_reference_sizes_of_a_run_with_every_size() -> None:
    """A run folder holds ze_peer's every size (8 B ... 256 MB): the bars vs reference and peak
    show the sizes the reference keys use, then H2D and D2H; nothing is cut off."""
    from multiarc.evaluation.extract import metrics_from_step
    from multiarc.evaluation.reports.plots import plot_data

    text = (RECORDINGS / "b60x4" / "outputs" / "ze_peer-default-same-board.txt").read_text()
    p2p, _ = metrics_from_step("ze_peer", text.replace("{{s}}", "0").replace("{{d}}", "1"))
    assert len({m.size for m in p2p}) > 20  # every size ze_peer printed
    metrics, _ = recorded_metrics("b60x4")
    others = [m for m in metrics if m.category != "p2p"]
    data = plot_data(build_run_report(metrics=p2p + others, reference=REFERENCE, gpu_model=B60))
    labels = [bar.label for bar in data.link_bars]
    assert labels == [
        "Unidirectional Write 128 MB",
        "Unidirectional Write 256 MB",
        "Unidirectional Read 128 MB",
        "Unidirectional Read 256 MB",
        "H2D",
        "D2H",
    ]
    peak = pytest.approx(31.5077, abs=1e-3)
    assert all(bar.peak == peak and bar.reference for bar in data.link_bars)


def test_report_html_is_for_the_reader(tmp_path: Path) -> None:
    """Judged rows first (worst first), INFO folded in <details>, meta as tables (not Python
    reprs), the verdict explained in words the counts agree with, the heatmap with classes."""
    from click.testing import CliRunner
    from multiarc.evaluation.cli import main

    result = CliRunner().invoke(main, [
        "basic", "--replay", str(RECORDINGS / "b60x4-slow-gpu"), "--output", str(tmp_path),
        "--devices", "all", "--pairs", "all", "--skip-ccl",
    ])  # fmt: skip
    assert result.exit_code == 1
    html = next(tmp_path.iterdir()).joinpath("report.html").read_text()
    metrics_part = html.split("<h2>Metrics</h2>", 1)[1]
    judged, folded = metrics_part.split("<details>", 1)
    first_verdict = re.search(r'<td class="(PASS|WARN|FAIL|UNSTABLE)">', judged)
    assert first_verdict and first_verdict.group(1) == "FAIL"  # the failing rows lead
    assert 'class="INFO"' not in judged and 'class="INFO"' in folded
    assert "figures without a reference (INFO)" in folded
    run_part = html.split("<h2>Run</h2>", 1)[1].split("<h2>", 1)[0]
    assert "{'" not in run_part and "['" not in run_part  # no Python reprs
    assert "<td>cpu_governor</td><td>powersave</td>" in run_part
    assert "<b>FAIL</b> because: 1 check(s) WARN (pcie-link); 2 metric(s) FAIL" in html
    assert "same switch" in judged and "across sockets" in judged  # the Topology column
