"""No input makes a parser raise: arbitrary text, and real recordings cut, spliced and mutated."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multiarc.evaluation.extract import (
    metrics_from_ccl_csv,
    metrics_from_detail_log,
    metrics_from_step,
)
from multiarc.evaluation.model import Metric, ParseProblem
from multiarc.evaluation.parsers.base import ParseResult
from multiarc.evaluation.parsers.ccl import parse_ccl_csv, parse_ccl_text
from multiarc.evaluation.parsers.dmesg import parse_dmesg
from multiarc.evaluation.parsers.gemm import parse_gemm
from multiarc.evaluation.parsers.lspci import parse_lspci_nn, parse_lspci_vvv
from multiarc.evaluation.parsers.sycl_ls import parse_sycl_ls
from multiarc.evaluation.parsers.xpu_smi import (
    parse_config,
    parse_config_change,
    parse_discovery,
    parse_discovery_json,
    parse_dump,
)
from multiarc.evaluation.parsers.ze_peak import parse_global_bw, parse_transfer_bw, parse_ze_peak
from multiarc.evaluation.parsers.ze_peer import parse_ze_peer
from parser_recordings import RECORDINGS, detail_log

PARSERS: dict[str, Callable[[str], ParseResult[object]]] = {
    "sycl_ls": parse_sycl_ls,
    "lspci_nn": parse_lspci_nn,
    "lspci_vvv": parse_lspci_vvv,
    "discovery": parse_discovery,
    "discovery_json": parse_discovery_json,
    "dump": parse_dump,
    "config": parse_config,
    "config_change": parse_config_change,
    "dmesg": parse_dmesg,
    "ze_peer": parse_ze_peer,
    "ze_peak": parse_ze_peak,
    "transfer_bw": parse_transfer_bw,
    "global_bw": parse_global_bw,
    "gemm": parse_gemm,
    "ccl_text": parse_ccl_text,
    "ccl_csv": parse_ccl_csv,
}

# Every recorded output of the 4-GPU host plus its detail log: the material to mutate.
SAMPLES = [
    *sorted(p.read_text() for p in (RECORDINGS / "b60x4" / "outputs").iterdir()),
    detail_log(),
]

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(result: ParseResult[object]) -> None:
    assert isinstance(result, ParseResult)
    assert all(isinstance(p, ParseProblem) for p in result.problems)
    assert result.ok == (not result.problems)
    # The never_raises safety net must stay unused: a parser handles bad input itself.
    assert not any(p.message.startswith("internal parser error") for p in result.problems)


@pytest.mark.parametrize("name", sorted(PARSERS))
@FAST
@given(text=st.text())
def test_arbitrary_text(name: str, text: str) -> None:
    _check(PARSERS[name](text))


@st.composite
def mutated_recording(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SAMPLES))
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(0, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["cut", "drop", "dup", "replace", "chop"]))
        if action == "cut":
            lines = lines[:i]
        elif action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "replace":
            lines[i] = draw(st.text(max_size=80)) + "\n"
        else:
            line = lines[i]
            lines[i] = line[: draw(st.integers(0, max(len(line) - 1, 0)))]
    return "".join(lines)


@pytest.mark.parametrize("name", sorted(PARSERS))
@FAST
@given(text=mutated_recording())
def test_mutated_recordings(name: str, text: str) -> None:
    _check(PARSERS[name](text))


@FAST
@given(text=mutated_recording(), kind=st.sampled_from(
    ["ze_peer", "ze_peak_transfer", "ze_peak_global", "gemm", "ccl", "bogus"]))
def test_extraction_never_raises(text: str, kind: str) -> None:
    for metrics, problems in (
        metrics_from_detail_log(text),
        metrics_from_step(kind, text, devices="0"),
        metrics_from_ccl_csv(text, "allreduce"),
    ):
        assert all(isinstance(m, Metric) for m in metrics)
        assert all(isinstance(p, ParseProblem) for p in problems)


def test_non_text_input_is_a_problem_not_a_crash() -> None:
    result = parse_sycl_ls(b"[level_zero:gpu]")  # type: ignore[arg-type]
    assert result.records == [] and "expected text" in result.problems[0].message


@FAST
@given(text=mutated_recording())
def test_split_by_tool_covers_the_text_in_order(text: str) -> None:
    from multiarc.evaluation.parsers.detail_log import split_by_tool

    segments = split_by_tool(text)
    assert "".join(text[s.start:s.end] for s in segments) == text
    for before, after in itertools.pairwise(segments):
        assert before.end == after.start and before.tool != after.tool
    for s in segments:
        assert s.first_line == text.count("\n", 0, s.start) + 1


PEER_OUTPUTS = sorted(p.name for p in (RECORDINGS / "b60x4" / "outputs").glob("ze_peer-*.txt"))


@st.composite
def peer_log(draw: st.DrawFn) -> str:
    """One to three ze_peer runs as a log holds them, sometimes damaged."""
    runs = []
    for _ in range(draw(st.integers(1, 3))):
        text = (RECORDINGS / "b60x4" / "outputs" / draw(st.sampled_from(PEER_OUTPUTS))).read_text()
        s, d = draw(st.sampled_from([("0", "1"), ("2", "3"), ("1", "3")]))
        runs.append("=" * 80 + "\n" + text.replace("{{s}}", s).replace("{{d}}", d)
                    if draw(st.booleans()) else text.replace("{{s}}", s).replace("{{d}}", d))
    text = "".join(runs)
    if draw(st.booleans()):
        lines = text.split("\n")
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        text = "\n".join(lines)
    return text


@FAST
@given(text=peer_log(),
       sizes=st.sampled_from([("128 MB", "256 MB"), ("8 B",), ("64 KB", "1 MB")]))
def test_ze_peer_fast_path_matches_line_scan(text: str, sizes: tuple[str, ...]) -> None:
    from multiarc.evaluation.parsers.ze_peer import scan_ze_peer, scan_ze_peer_text

    wanted = frozenset(sizes)
    fast: ParseResult[object] = ParseResult()
    slow: ParseResult[object] = ParseResult()
    scan_ze_peer_text("x\n" + text, 2, len(text) + 2, 2, fast, wanted)  # type: ignore[arg-type]
    scan_ze_peer(text.split("\n"), 2, slow, wanted)  # type: ignore[arg-type]
    assert fast.records == slow.records
    assert fast.problems == slow.problems
