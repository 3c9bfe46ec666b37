from __future__ import annotations

from multiarc.evaluation.extract import metrics_from_detail_log
from multiarc.evaluation.parsers.detail_log import split_by_tool
from parser_recordings import detail_log, filled, recorded


def test_intels_log_splits_in_the_scripts_order() -> None:
    text = detail_log()
    tools = [s.tool for s in split_by_tool(text)]
    assert tools == ["unknown", "other", "ze_peer", "ze_peak", "gemm", "ccl"]
    lines = text.split("\n")
    for segment in split_by_tool(text):
        assert lines[segment.first_line - 1] == text[segment.start:].split("\n", 1)[0]


def test_errors_are_blamed_on_the_tool_that_printed_them() -> None:
    err = filled(recorded("b60x4-tool-error", "ze_peer-p2p-error-default.txt")
                 + recorded("b60x4-tool-error", "ze_peer-p2p-error.stderr"), s="0", d="1")
    text = detail_log()
    start = text.index("=" * 80 + "\nSingle Process Unidirectional")
    end = text.index("Device : \n")
    broken = text[:start] + err + text[end:]
    metrics, problems = metrics_from_detail_log(broken)
    assert {p.tool for p in problems} == {"ze_peer"}
    assert not any(m.category == "p2p" for m in metrics)
    assert any(m.subcategory == "H2D" for m in metrics)
    terminate = next(p for p in problems if "terminate called" in p.message)
    assert broken.split("\n")[terminate.line - 1].startswith("terminate called")


def test_problem_lines_point_into_the_whole_log() -> None:
    text = detail_log().replace("Average performance: 141.472TF", "Average performance: ?TF")
    _, problems = metrics_from_detail_log(text)
    (problem,) = problems
    assert problem.tool == "matrix_mul_mkl"
    assert "unreadable figure" in problem.message
    assert text.split("\n")[problem.line - 1] == "Average performance: ?TF"


def test_text_without_any_known_tool_goes_to_every_parser() -> None:
    text = "Bandwidth Write : Device( 2 )->Device( 3 )\nBW [GBPS]:  128 MB:    24.00\n\n"
    metrics, problems = metrics_from_detail_log(text)
    assert [(m.key, m.devices) for m in metrics] == [
        (("p2p", "Unidirectional Write", "128 MB"), "2->3")]
    assert {p.tool for p in problems} == {"ze_peak", "matrix_mul_mkl", "1ccl_benchmark"}


def test_a_lost_first_line_does_not_hide_a_tools_output() -> None:
    text = detail_log().replace("oneMKL DPC++ GEMM benchmark\n", "", 1)
    text = text.replace("Single Process Unidirectional tests\n", "", 1)
    metrics, _ = metrics_from_detail_log(text)
    keys = {m.key for m in metrics}
    assert ("gemm", "int8", "") in keys
    assert ("p2p", "Unidirectional Write", "128 MB") in keys


def test_every_parser_finds_its_tool_in_the_whole_log() -> None:
    from multiarc.evaluation.parsers.ccl import parse_ccl_text
    from multiarc.evaluation.parsers.gemm import parse_gemm
    from multiarc.evaluation.parsers.sycl_ls import count_level_zero_gpus, parse_sycl_ls
    from multiarc.evaluation.parsers.xpu_smi import parse_discovery, parse_dump
    from multiarc.evaluation.parsers.ze_peak import parse_ze_peak
    from multiarc.evaluation.parsers.ze_peer import parse_ze_peer

    text = detail_log()
    results = {
        "sycl-ls": parse_sycl_ls(text), "discovery": parse_discovery(text),
        "dump": parse_dump(text), "ze_peer": parse_ze_peer(text), "ze_peak": parse_ze_peak(text),
        "gemm": parse_gemm(text), "ccl": parse_ccl_text(text),
    }
    assert {name: r.problems for name, r in results.items() if not r.ok} == {}
    assert count_level_zero_gpus(results["sycl-ls"].records) == 4
    assert len(results["discovery"].records) == len(results["dump"].records) == 4
    assert len(results["ze_peer"].records) == 4 * 26 + 2 * 26
    assert len(results["ze_peak"].records) == 6 + 5
    assert [r.device_index for r in results["gemm"].records] == [0]
    assert len(results["ccl"].records) == 3 * 18
