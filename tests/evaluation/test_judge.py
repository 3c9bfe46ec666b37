"""Verdicts: tolerance boundaries, latency direction, % of peak, impossible figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from multiarc.evaluation.extract import metrics_from_detail_log
from multiarc.evaluation.judge import count_verdicts, judge, judge_metric, peak_for
from multiarc.evaluation.model import Metric, Status
from multiarc.evaluation.reference import load_reference, parse_reference

from multiarc.devices import lookup

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
B60 = lookup("e211")
REF = parse_reference(
    "Category,Subcategory,Data/Packet Size,Reference\n"
    "p2p,Unidirectional Write,128 MB,20\n"
    "1ccl,allreduce,128MB,10\n"
    "p2p,Latency Write,8 B,5\n"
)


def uni(value: float, size: str = "128 MB") -> Metric:
    return Metric("p2p", "Unidirectional Write", size, value, "GB/s", devices="0->1")


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        (25.0, Status.PASS),  # above the reference
        (20.0, Status.PASS),
        (18.0, Status.PASS),  # exactly 1 - tol
        (17.99, Status.WARN),
        (16.0, Status.WARN),  # exactly 1 - 2 tol
        (15.99, Status.FAIL),
        (1.0, Status.FAIL),
    ],
)
def test_tolerance_bands(value: float, verdict: Status) -> None:
    j = judge_metric(uni(value), REF, tolerance=0.10)
    assert j.verdict is verdict
    assert j.reference == 20.0
    assert j.ratio == pytest.approx(value / 20.0, abs=1e-4)
    assert (j.note == "") == (verdict is Status.PASS)


def test_tolerance_zero_and_wider() -> None:
    assert judge_metric(uni(19.99), REF, tolerance=0.0).verdict is Status.FAIL
    assert judge_metric(uni(14.0), REF, tolerance=0.25).verdict is Status.WARN
    with pytest.raises(ValueError):
        judge([uni(1)], REF, tolerance=0.6)


def test_latency_lower_is_better() -> None:
    lat = Metric("p2p", "Latency Write", "8 B", 4.0, "us")
    assert judge_metric(lat, REF).verdict is Status.PASS  # faster than the reference
    slow = judge_metric(Metric("p2p", "Latency Write", "8 B", 7.0, "us"), REF)  # 5/7 = 0.71
    assert slow.verdict is Status.FAIL
    assert slow.note.startswith("40.0 % higher")


def test_latency_warn_band() -> None:
    j = judge_metric(Metric("p2p", "Latency Write", "8 B", 6.0, "us"), REF)  # 5/6 = 0.83
    assert j.verdict is Status.WARN
    assert judge_metric(Metric("p2p", "Latency Write", "8 B", 5.5, "us"), REF).verdict is (
        Status.PASS
    )  # 5/5.5 = 0.909


def test_no_reference_is_info_with_peak() -> None:
    j = judge_metric(uni(25.0, "64 MB"), REF, gpu_model=B60)
    assert j.verdict is Status.INFO and j.reference is None and j.ratio is None
    assert j.pct_of_peak == pytest.approx(25.0 / (32 * 8 * 128 / 130 / 8) * 100, abs=0.05)
    assert judge_metric(uni(25.0), None).verdict is Status.INFO


def test_size_label_variants_are_judged() -> None:
    assert judge_metric(uni(21, "128MB"), REF).verdict is Status.PASS
    ccl = Metric("1ccl", "allreduce", "128 MB", 7.0, "GB/s")
    assert judge_metric(ccl, REF).verdict is Status.FAIL


@pytest.mark.parametrize(
    ("metric", "peak"),
    [
        (uni(1), 31.5),
        (Metric("p2p", "Unidirectional Read", "128 MB", 1, "GB/s"), 31.5),
        (Metric("p2p", "Bidirectional Write", "128 MB", 1, "GB/s"), 63.015),
        (Metric("GPU memory bandwidth", "H2D", "", 1, "GB/s"), 31.5),
        (Metric("GPU memory bandwidth", "D2H", "", 1, "GB/s"), 31.5),
        (Metric("GPU memory bandwidth", "D2D", "float16", 1, "GB/s"), 456.0),
        (Metric("gemm", "int8", "", 1, "TOPS"), 197.0),
        (Metric("gemm", "half", "", 1, "TFLOPS"), None),
        (Metric("1ccl", "allreduce", "128MB", 1, "GB/s"), None),
    ],
)
def test_peaks_come_from_the_device_table(metric: Metric, peak: float | None) -> None:
    found = peak_for(metric, B60)
    assert (found.value if found else None) == (pytest.approx(peak, abs=0.01) if peak else None)
    assert peak_for(metric, None) is None


def test_exact_peaks_have_no_margin_rounded_ones_do() -> None:
    """The GDDR6 peak is exact (19 Gbps × 192 bit / 8 = 456 GB/s): just above it is FAIL;
    the INT8 figure is a rounded vendor number: 2 % of margin."""
    assert judge_metric(Metric("GPU memory bandwidth", "D2D", "float16", 456.5, "GB/s"), REF,
                        gpu_model=B60).verdict is Status.FAIL
    assert judge_metric(Metric("GPU memory bandwidth", "D2D", "float16", 455.9, "GB/s"), REF,
                        gpu_model=B60).verdict is not Status.FAIL
    gemm = Metric("gemm", "int8", "", 199.0, "TOPS")
    assert "impossible" not in judge_metric(gemm, REF, gpu_model=B60).note
    assert judge_metric(Metric("gemm", "int8", "", 201.0, "TOPS"), REF,
                        gpu_model=B60).verdict is Status.FAIL


def test_above_peak_is_fail_whatever_the_reference() -> None:
    j = judge_metric(uni(40.0), REF, gpu_model=B60)
    assert j.verdict is Status.FAIL
    assert "above the theoretical peak 31.51 GB/s" in j.note and "physically impossible" in j.note
    # the PCIe peak is computed exactly (31.5077 GB/s): no margin above it
    assert judge_metric(uni(31.5), REF, gpu_model=B60).verdict is Status.PASS
    assert judge_metric(uni(31.6), REF, gpu_model=B60).verdict is Status.FAIL


def test_recorded_implausible_d2d_fails_with_the_missing_setting() -> None:
    ref = load_reference(RECORDINGS / "b60x4" / "reference_perf.csv")
    text = (RECORDINGS / "b60x4-implausible-d2d" / "benchmark_detail_log.txt").read_text()
    metrics, _ = metrics_from_detail_log(text)
    judgements = judge(metrics, ref, gpu_model=B60)
    failed = [j for j in judgements if j.verdict is Status.FAIL]
    assert [(j.metric.subcategory, j.metric.size) for j in failed] == [
        ("D2D", "float8"),
        ("D2D", "float16"),
    ]
    for j in failed:
        assert "456 GB/s" in j.note
        assert "NEOReadDebugKeys=1" in j.note and "RenderCompressedBuffersEnabled=0" in j.note
        assert j.pct_of_peak is not None and j.pct_of_peak > 200
    counts = {"PASS": 14, "WARN": 0, "FAIL": 2, "UNSTABLE": 0, "INFO": 0}
    assert count_verdicts(judgements) == counts


def test_recorded_degraded_link_fails_p2p_only() -> None:
    ref = load_reference(RECORDINGS / "b60x4" / "reference_perf.csv")
    text = (RECORDINGS / "b60x4-degraded-link" / "benchmark_detail_log.txt").read_text()
    judgements = judge(metrics_from_detail_log(text)[0], ref, gpu_model=B60)
    assert {j.metric.category for j in judgements if j.verdict is Status.FAIL} == {"p2p"}
    assert count_verdicts(judgements)["FAIL"] == 8
