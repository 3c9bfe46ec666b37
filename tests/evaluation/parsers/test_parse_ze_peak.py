from __future__ import annotations

from multiarc.evaluation.parsers.ze_peak import (
    D2H_NAME,
    GLOBAL_BW_TYPES,
    H2D_NAME,
    parse_global_bw,
    parse_transfer_bw,
    parse_ze_peak,
)
from parser_recordings import recorded


def test_transfer_bw_every_line() -> None:
    result = parse_transfer_bw(recorded("b60x4", "ze_peak-transfer_bw-d0.txt"))
    assert result.ok
    values = {r.name: r.gbps for r in result.records}
    assert values[H2D_NAME] == 24.3172
    assert values[D2H_NAME] == 24.6935
    assert list(values) == [
        "enqueueWriteBuffer", "enqueueReadBuffer", H2D_NAME, D2H_NAME,
        "System Memory Copy to Shared Memory", "System Memory Copy from Shared Memory"]
    assert {r.device_name for r in result.records} == {"Intel(R) Arc(TM) Pro B60 Graphics"}


def test_global_bw_all_types() -> None:
    result = parse_global_bw(recorded("b60x4", "ze_peak-global_bw-d0.txt"))
    assert result.ok
    assert tuple(r.name for r in result.records) == GLOBAL_BW_TYPES
    assert result.records[-1].gbps == 401.528
    assert parse_transfer_bw(recorded("b60x4", "ze_peak-global_bw-d0.txt")).records == []


def test_sections_are_numbered_per_run() -> None:
    text = "".join(recorded("b60x4", f"ze_peak-global_bw-d{i}.txt") for i in range(4))
    result = parse_ze_peak(text)
    assert result.ok
    assert [r.section for r in result.records if r.name == "float16"] == [0, 1, 2, 3]


def test_truncated_and_errors() -> None:
    text = recorded("b60x4", "ze_peak-global_bw-d0.txt")
    cut = parse_ze_peak(text[: text.index("float8")])
    assert [r.name for r in cut.records] == ["float", "float2", "float4"]
    assert "truncated" in cut.problems[0].message
    crash = parse_ze_peak("terminate called after throwing an instance of 'std::runtime_error'\n"
                          "  what():  zeInit failed: 2013265921\n")
    assert crash.records == []
    assert any("zeInit failed" in p.message for p in crash.problems)
    assert parse_ze_peak("Transfer Bandwidth (GB/s)\nGPU Copy Host to Shared Memory : nan GB/s\n"
                         "<<<<<<<<<<<<<<<<<<<<<<<<<<<<\n").problems


def test_repeated_line_and_lost_header() -> None:
    text = recorded("b60x4", "ze_peak-transfer_bw-d0.txt")
    h2d = "GPU Copy Host to Shared Memory : 24.3172 GB/s"
    twice = parse_transfer_bw(text.replace(h2d, h2d + "\n" + h2d))
    assert [r.name for r in twice.records].count(H2D_NAME) == 1
    assert any("printed twice" in p.message for p in twice.problems)
    lost = parse_transfer_bw(text.replace("Transfer Bandwidth (GB/s)\n", ""))
    assert {r.name: r.gbps for r in lost.records}[H2D_NAME] == 24.3172
    assert any("header lost" in p.message for p in lost.problems)
