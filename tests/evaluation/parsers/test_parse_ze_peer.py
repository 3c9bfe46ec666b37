from __future__ import annotations

from multiarc.evaluation.parsers.ze_peer import parse_ze_peer
from parser_recordings import filled, recorded

MB = 1024 * 1024


def test_default_run_has_every_size_for_four_tests() -> None:
    text = filled(recorded("b60x4", "ze_peer-default-same-board.txt"), s="0", d="1")
    result = parse_ze_peer(text)
    assert result.ok
    tests = {(r.test, r.op) for r in result.records}
    assert tests == {("transfer_bw", "write"), ("transfer_bw", "read"), ("latency", "write"),
                     ("latency", "read")}
    write = [r for r in result.records if (r.test, r.op) == ("transfer_bw", "write")]
    assert [r.size_bytes for r in write] == [8 * 2**i for i in range(26)]
    assert write[0].size_label == "8 B" and write[10].size_label == "8 KB"
    big = next(r for r in write if r.size_label == "128 MB")
    assert big.size_bytes == 128 * MB and big.unit == "GB/s"
    assert (big.src, big.dst, big.bidirectional, big.devices) == (0, 1, False, "0->1")
    assert 20 < big.value < 27
    read = next(r for r in result.records if (r.test, r.op) == ("transfer_bw", "read"))
    assert read.devices == "0<-1" and read.direction == "Unidirectional"
    latency = [r for r in result.records if r.test == "latency"]
    assert {r.unit for r in latency} == {"us"} and len(latency) == 52


def test_bidirectional_and_other_pairs() -> None:
    text = filled(recorded("b60x4", "ze_peer-bidir-read-cross-board.txt"), s="1", d="3")
    result = parse_ze_peer(text)
    assert result.ok
    assert {(r.op, r.bidirectional, r.src, r.dst, r.devices) for r in result.records} == {
        ("read", True, 1, 3, "1<->3")}
    assert result.records[-1].size_label == "256 MB"


def test_parallel_pair_header() -> None:
    text = "Bandwidth Write :  (0)->(1) (2)->(3)\nBW [GBPS]:  128 MB:    48.20\n\n"
    (record,) = parse_ze_peer(text).records
    assert record.pairs == ((0, 1), (2, 3))
    assert record.devices == "0->1,2->3"


def test_truncated_run_keeps_what_was_read_and_says_so() -> None:
    text = filled(recorded("b60x4-truncated", "ze_peer-default-same-board.txt"), s="0", d="1")
    result = parse_ze_peer(text)
    read = [r for r in result.records if r.op == "read"]
    assert len([r for r in result.records if r.op == "write"]) == 26
    assert read[-1].size_label == "32 KB"
    assert not result.ok
    messages = " | ".join(p.message for p in result.problems)
    assert "unreadable result line" in messages
    assert "output cut off after 32 KB" in messages  # the partial line is no figure


def test_tool_error_is_a_problem_with_the_tools_words() -> None:
    out = filled(recorded("b60x4-tool-error", "ze_peer-p2p-error-default.txt"), s="0", d="1")
    err = filled(recorded("b60x4-tool-error", "ze_peer-p2p-error.stderr"), s="0", d="1")
    result = parse_ze_peer(out + err)
    assert result.records == []
    messages = [p.message for p in result.problems]
    assert any("do not have P2P capabilities" in m for m in messages)
    assert any("terminate called" in m for m in messages)


def test_garbage_and_empty() -> None:
    assert parse_ze_peer("").problems[0].message == "no ze_peer results found"
    stray = parse_ze_peer("BW [GBPS]:  128 MB:    24.00\n")
    assert stray.records == [] and "outside any test section" in stray.problems[0].message


def test_validation_mismatch_is_a_problem() -> None:
    text = ("Bandwidth Write : Device( 0 )->Device( 1 )\n"
            "Error at 17: validate_buffer 0 != host_buffer 17\n")
    result = parse_ze_peer(text)
    assert any("Error at 17" in p.message for p in result.problems)


def test_cut_result_line_keeps_the_section_open() -> None:
    text = filled(recorded("b60x4", "ze_peer-uni-write-same-board.txt"), s="0", d="1")
    line = next(x for x in text.splitlines() if x.startswith("BW [GBPS]:    1 KB:"))
    cut = text.replace(line, "BW [GBPS]")
    result = parse_ze_peer(cut)
    assert [r.size_label for r in result.records][-1] == "256 MB"
    assert len(result.records) == 25
    assert "unreadable result line" in result.problems[0].message
