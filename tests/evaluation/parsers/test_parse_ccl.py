from __future__ import annotations

from multiarc.evaluation.parsers.ccl import parse_ccl_csv, parse_ccl_text
from parser_recordings import filled, recorded

MB128 = 134217728


def _text(op: str) -> str:
    return filled(recorded("b60x4", f"1ccl-{op}.txt"), out=f"/tmp/run/{op}.csv")


def test_text_table_all_sizes() -> None:
    result = parse_ccl_text(_text("allreduce"))
    assert result.ok
    assert [r.bytes for r in result.records] == [1024 * 2**i for i in range(18)]
    last = result.records[-1]
    assert (last.collective, last.bytes, last.elem_count, last.repetitions) == (
        "allreduce", MB128, 67108864, 50)
    assert last.dtype == "float16" and last.reduction == "sum" and last.processes == 2
    assert last.t_min_us <= last.t_avg_us <= last.t_max_us
    assert 10 < last.busbw_gbps < 25
    assert last.busbw_gbps == last.algbw_gbps  # 2 ranks: busbw = algbw * 2 * (n-1) / n


def test_allgather_busbw_is_half_algbw_for_two_ranks() -> None:
    last = parse_ccl_text(_text("allgather")).records[-1]
    assert last.reduction == ""
    assert abs(last.busbw_gbps - last.algbw_gbps / 2) < 0.02


def test_csv_matches_text() -> None:
    text = parse_ccl_text(_text("alltoall")).records
    csv = parse_ccl_csv(recorded("b60x4", "1ccl-alltoall.csv"))
    assert csv.ok
    assert [r.bytes for r in csv.records] == [r.bytes for r in text]
    for a, b in zip(csv.records, text, strict=True):
        assert abs(a.busbw_gbps - b.busbw_gbps) < 0.01
        assert abs(a.t_avg_us - b.t_avg_us) < 0.01


def test_three_runs_concatenated() -> None:
    result = parse_ccl_text("".join(_text(op) for op in ("allreduce", "allgather", "alltoall")))
    assert result.ok
    assert [r.collective for r in result.records if r.bytes == MB128] == [
        "allreduce", "allgather", "alltoall"]


def test_truncated_and_bad_rows() -> None:
    text = _text("allreduce")
    cut = parse_ccl_text(text[: text.index("    134217728")])
    assert len(cut.records) == 17
    assert "truncated" in cut.problems[0].message
    bad = parse_ccl_text(text.replace("    134217728      67108864", "    134217728      6710x864"))
    assert len(bad.records) == 17
    assert "unreadable row" in bad.problems[0].message
    assert not parse_ccl_csv("garbage").ok
    assert "lacks" in parse_ccl_csv("#ranks,collective\n2,allreduce\n").problems[0].message


def test_mpi_and_ccl_failures_are_problems() -> None:
    failure = ("|CCL_ERROR| worker.cpp:338 ccl_worker_func: worker 0 caught internal exception\n"
               "=========================================================================\n"
               "=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES")
    text = _text("allreduce").replace("# All done", failure)
    messages = [p.message for p in parse_ccl_text(text).problems]
    assert any("CCL_ERROR" in m for m in messages)
    assert any("BAD TERMINATION" in m for m in messages)


def test_unknown_collective_and_repeated_rows() -> None:
    text = _text("alltoall")
    chopped = parse_ccl_text(text.replace("# Benchmarking: alltoall", "# Benchmarking: alltoa"))
    assert chopped.records == []
    assert any("unknown collective" in p.message for p in chopped.problems)
    row = next(line for line in text.splitlines() if line.strip().startswith("134217728"))
    repeated = parse_ccl_text(text.replace(row, row + "\n" + row))
    assert len([r for r in repeated.records if r.bytes == MB128]) == 1
    assert any("repeated" in p.message for p in repeated.problems)
