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
