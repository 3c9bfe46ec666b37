"""Extraction of metrics, checked against rows computed by hand from the recordings.

The expected rows below are what Intel's gen_evaluation_report.py writes for the recorded
b60x4 benchmark_detail_log.txt (same keys, same values, same order); they were read off the
recording by hand: the "BW [GBPS]: 128 MB" lines after each ze_peer header for devices 0/1,
the ze_peak "GPU Copy Host to Shared Memory" / "... to Host" lines, float8/float16 global
bandwidth, "Average performance: ...TF" after the int8 benchmark, and column 9 (busbw) of the
134217728-byte row of each oneCCL table.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from multiarc.evaluation.extract import (
    metrics_from_ccl_csv,
    metrics_from_detail_log,
    metrics_from_step,
)

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def recorded(host: str, name: str) -> str:
    return (RECORDINGS / host / "outputs" / name).read_text()


def detail_log(host: str = "b60x4") -> str:
    return (RECORDINGS / host / "benchmark_detail_log.txt").read_text()


def filled(text: str, **groups: str) -> str:
    for name, value in groups.items():
        text = text.replace("{{" + name + "}}", value)
    return text

INTEL_ROWS = [
    ("p2p", "Unidirectional Write", "128 MB", 25.32),
    ("p2p", "Unidirectional Write", "256 MB", 25.3),
    ("p2p", "Unidirectional Read", "128 MB", 22.6),
    ("p2p", "Unidirectional Read", "256 MB", 22.55),
    ("p2p", "Bidirectional Write", "128 MB", 46.21),
    ("p2p", "Bidirectional Write", "256 MB", 46.17),
    ("p2p", "Bidirectional Read", "128 MB", 40.35),
    ("p2p", "Bidirectional Read", "256 MB", 40.3),
    ("GPU memory bandwidth", "H2D", "", 24.3172),
    ("GPU memory bandwidth", "D2H", "", 24.6935),
    ("GPU memory bandwidth", "D2D", "float8", 396.12),
    ("GPU memory bandwidth", "D2D", "float16", 401.528),
    ("gemm", "int8", "", 141.472),
    ("1ccl", "allreduce", "128MB", 12.69),
    ("1ccl", "allgather", "128MB", 16.81),
    ("1ccl", "alltoall", "128MB", 15.9),
]


def test_detail_log_gives_intels_rows_in_intels_order() -> None:
    metrics, problems = metrics_from_detail_log(detail_log())
    assert problems == []
    assert [(m.category, m.subcategory, m.size, m.value) for m in metrics] == INTEL_ROWS
    units = {m.key: m.unit for m in metrics}
    assert units[("gemm", "int8", "")] == "TOPS"
    assert {u for k, u in units.items() if k[0] != "gemm"} == {"GB/s"}
    assert {m.devices for m in metrics if m.category == "p2p"} == {"0->1", "0<-1", "0<->1"}


@pytest.mark.parametrize("host", ["b60x4", "b60x2", "b60x4-degraded-link", "b60x4-implausible-d2d"])
def test_same_rows_as_the_report_intels_script_wrote(host: str) -> None:
    """benchmark_report.csv in these recordings is the output of Intel's gen_evaluation_report.py
    for the recorded log and b60x4/reference_perf.csv (recorded once, like any tool output)."""
    with (RECORDINGS / host / "benchmark_report.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Category", "Subcategory", "Data/Packet Size", "Measured (GB/s)",
                       "Reference (GB/s)"]
    metrics, problems = metrics_from_detail_log(detail_log(host))
    assert problems == []
    assert [(m.category, m.subcategory, m.size, m.value) for m in metrics] == [
        (c, s, z, float(v)) for c, s, z, v, _ in rows[1:]]
    with (RECORDINGS / "b60x4" / "reference_perf.csv").open(newline="") as f:
        reference = {tuple(r[:3]): r[3] for r in list(csv.reader(f))[1:]}
    assert [reference.get(m.key, "") for m in metrics] == [r[4] for r in rows[1:]]


def test_implausible_d2d_log_is_read_as_printed() -> None:
    metrics, _ = metrics_from_detail_log(detail_log("b60x4-implausible-d2d"))
    d2d = {m.size: m.value for m in metrics if m.subcategory == "D2D"}
    assert d2d == {"float8": 948.215, "float16": 951.604}


def test_degraded_link_log_differs_only_in_p2p() -> None:
    good, _ = metrics_from_detail_log(detail_log())
    bad, problems = metrics_from_detail_log(detail_log("b60x4-degraded-link"))
    assert problems == []
    assert [m.key for m in good] == [m.key for m in bad]
    changed = {g.key for g, b in zip(good, bad, strict=True) if g.value != b.value}
    assert changed == {m.key for m in good if m.category == "p2p"}
    assert all(b.value < 15 for b in bad if b.category == "p2p")


def test_all_sizes_adds_every_p2p_and_ccl_size() -> None:
    metrics, _ = metrics_from_detail_log(detail_log(), all_sizes=True)
    p2p = [m for m in metrics if m.category == "p2p"]
    assert len(p2p) == 26 * 2 + 26 * 2  # uni write/read + bidir write/read, 8 B .. 256 MB
    ccl = [m for m in metrics if m.category == "1ccl"]
    assert len(ccl) == 3 * 18 and ccl[0].size == "1KB"


def test_noise_around_and_a_broken_section() -> None:
    text = "garbage \x00 line\n" + detail_log().replace("Average performance: 141.472TF", "")
    metrics, problems = metrics_from_detail_log(text)
    assert ("gemm", "int8", "") not in {m.key for m in metrics}
    assert len(metrics) == len(INTEL_ROWS) - 1
    assert any(p.tool == "matrix_mul_mkl" for p in problems)


def test_step_ze_peer_pair_labels() -> None:
    text = filled(recorded("b60x4", "ze_peer-bidir-write-cross-board.txt"), s="0", d="2")
    metrics, problems = metrics_from_step("ze_peer", text, step="ze_peer-bidir-write-0-2",
                                          all_sizes=False)
    assert problems == []
    assert [(m.subcategory, m.size, m.devices, m.step) for m in metrics] == [
        ("Bidirectional Write", "128 MB", "0<->2", "ze_peer-bidir-write-0-2"),
        ("Bidirectional Write", "256 MB", "0<->2", "ze_peer-bidir-write-0-2"),
    ]
    assert 25 < metrics[0].value < 35


def test_step_ze_peak_every_line_and_type() -> None:
    transfer, problems = metrics_from_step(
        "ze_peak_transfer", recorded("b60x4", "ze_peak-transfer_bw-d1.txt"), devices="1")
    assert problems == []
    assert [m.subcategory for m in transfer][:4] == [
        "enqueueWriteBuffer", "enqueueReadBuffer", "H2D", "D2H"]
    assert {m.devices for m in transfer} == {"1"}
    global_bw, _ = metrics_from_step(
        "ze_peak_global", recorded("b60x4", "ze_peak-global_bw-d1.txt"), devices="1")
    assert [(m.subcategory, m.size) for m in global_bw] == [
        ("D2D", t) for t in ("float", "float2", "float4", "float8", "float16")]
    transfer_only = recorded("b60x4", "ze_peak-transfer_bw-d1.txt")
    empty, problems = metrics_from_step("ze_peak_global", transfer_only)
    assert empty == [] and "global_bw" in problems[0].message


def test_step_gemm_and_ccl_and_unknown_kind() -> None:
    gemm_out = recorded("b60x4", "matrix_mul_mkl-int8-c3.txt")
    gemm, _ = metrics_from_step("gemm", gemm_out, devices="3")
    assert [(m.key, m.value, m.unit, m.devices) for m in gemm] == [
        (("gemm", "int8", ""), 140.337, "TOPS", "3")]
    ccl, _ = metrics_from_step("ccl", filled(recorded("b60x4", "1ccl-allgather.txt"), out="x.csv"))
    assert len(ccl) == 18 and ccl[-1].key == ("1ccl", "allgather", "128MB")
    none, problems = metrics_from_step("nvidia-smi", "whatever")
    assert none == [] and "unknown step kind" in problems[0].message


def test_ccl_csv_metrics() -> None:
    metrics, problems = metrics_from_ccl_csv(recorded("b60x4", "1ccl-allreduce.csv"), "allreduce",
                                             step="1ccl-allreduce")
    assert problems == []
    assert metrics[-1].key == ("1ccl", "allreduce", "128MB")
    assert abs(metrics[-1].value - 12.69) < 0.01
    assert metrics[-1].step == "1ccl-allreduce"
    only_128, _ = metrics_from_ccl_csv(recorded("b60x4", "1ccl-allreduce.csv"), "allreduce",
                                       all_sizes=False)
    assert len(only_128) == 1
    wrong, problems = metrics_from_ccl_csv(recorded("b60x4", "1ccl-allreduce.csv"), "alltoall")
    assert wrong == [] and "no rows for 'alltoall'" in problems[0].message
