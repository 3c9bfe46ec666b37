"""``ze_peer`` (level-zero-tests perf_tests/ze_peer): P2P bandwidth and latency.

Each test prints a header, one line per size, then an empty line::

    Bandwidth Write : Device( 0 )->Device( 1 )
    BW [GBPS]:  128 MB:    24.51
    Latency Read : Device( 0 )<-Device( 1 )
    Latency [us]:    8  B:     9.87

Arrows: ``->`` write, ``<-`` read, ``<->`` bidirectional (``-b``). Parallel pair tests
print `` (0)->(1) (2)->(3)`` instead of ``Device( ... )``. Sizes are binary (MB = 2**20).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import ERROR_LINE_RE, ParseResult, never_raises, numbered_lines, size_to_bytes, to_float

TOOL = "ze_peer"

_HEADER = re.compile(
    r"(?P<test>Bandwidth|Latency)\s+(?P<op>Write|Read)\s*:\s*"
    r"(?:Device\(\s*(?P<src>[\d\s]+?)\s*\)\s*(?P<arrow><->|->|<-)\s*Device\(\s*(?P<dst>[\d\s]+?)\s*\)"
    r"|(?P<pairs>(?:\s*\(\d+\)\s*(?:<->|->|<-)\s*\(\d+\))+))"
)
_PAIR = re.compile(r"\((?P<src>\d+)\)\s*(?P<arrow><->|->|<-)\s*\((?P<dst>\d+)\)")
_VALUE = re.compile(
    r"^(?P<kind>BW \[GBPS\]|Latency \[us\]):\s*(?P<number>\d+)\s*(?P<unit>[KMG]?B)\s*:"
    r"\s*(?P<value>\S*)\s*$"
)


@dataclass(frozen=True)
class PeerResult:
    test: str  # "transfer_bw" or "latency"
    op: str  # "write" or "read"
    bidirectional: bool
    src: int  # first source device
    dst: int  # first destination device
    pairs: tuple[tuple[int, int], ...]  # every (src, dst) of the test (parallel tests: several)
    size_bytes: int
    size_label: str  # as Intel's report spells it: "128 MB", "8 KB", "8 B"
    value: float  # GB/s for transfer_bw, microseconds for latency
    unit: str  # "GB/s" or "us"
    line: int

    @property
    def direction(self) -> str:
        return "Bidirectional" if self.bidirectional else "Unidirectional"

    @property
    def devices(self) -> str:
        """Pair label: "0->1" (write), "0<-1" (read), "0<->1" (bidirectional)."""
        arrow = "<->" if self.bidirectional else ("->" if self.op == "write" else "<-")
        return ",".join(f"{s}{arrow}{d}" for s, d in self.pairs)


class _Section:
    def __init__(self, match: re.Match[str], line: int) -> None:
        self.line = line
        self.test = "transfer_bw" if match["test"] == "Bandwidth" else "latency"
        self.op = match["op"].lower()
        if match["pairs"]:
            found = _PAIR.findall(match["pairs"])
            self.pairs = tuple((int(s), int(d)) for s, _, d in found)
            self.bidirectional = any(arrow == "<->" for _, arrow, _ in found)
        else:
            srcs = [int(x) for x in match["src"].split()]
            dsts = [int(x) for x in match["dst"].split()]
            self.pairs = tuple((s, d) for s in srcs for d in dsts)
            self.bidirectional = match["arrow"] == "<->"
        self.count = 0


@never_raises(TOOL)
def parse_ze_peer(text: str) -> ParseResult[PeerResult]:
    result: ParseResult[PeerResult] = ParseResult()
    section: _Section | None = None

    def close(reason: str | None, line: int | None) -> None:
        nonlocal section
        if section is not None and reason is not None:
            result.problem(TOOL, reason, line)
        if section is not None and section.count == 0 and reason is None:
            result.problem(TOOL, "test header without any result", section.line)
        section = None

    for number, line in numbered_lines(text):
        stripped = line.strip()
        header = _HEADER.search(stripped)
        if header:
            if section is not None and section.count == 0:
                close("test header without any result", section.line)
            section = _Section(header, number)
            if not section.pairs:
                result.problem(TOOL, f"no device pair in header: {stripped[:100]!r}", number)
                section = None
            continue
        value = _VALUE.match(stripped)
        if value and section is not None:
            number_ok = to_float(value["value"])
            size = size_to_bytes(value["number"], value["unit"])
            if number_ok is None or size is None:
                result.problem(TOOL, f"unreadable result line: {stripped[:100]!r}", number)
                continue
            src, dst = section.pairs[0]
            result.records.append(
                PeerResult(
                    test=section.test,
                    op=section.op,
                    bidirectional=section.bidirectional,
                    src=src,
                    dst=dst,
                    pairs=section.pairs,
                    size_bytes=size,
                    size_label=f"{int(value['number'])} {value['unit']}",
                    value=number_ok,
                    unit="GB/s" if value["kind"].startswith("BW") else "us",
                    line=number,
                )
            )
            section.count += 1
            continue
        if value and section is None:
            result.problem(TOOL, "result line outside any test section", number)
            continue
        if section is not None and stripped == "":
            close(None, number)
            continue
        if ERROR_LINE_RE.search(stripped) or "do not have P2P capabilities" in stripped or (
            stripped.startswith("Devices ") and "P2P" in stripped
        ):
            result.problem(TOOL, f"tool reported an error: {stripped[:160]}", number)
            if section is not None:
                section = None
            continue
        if section is not None and section.count > 0:
            # Anything but a result or an empty line inside a section: the test stopped early.
            close("test output ended early (no empty line after the last result)", number)
    if section is not None:
        close(
            "output ends inside a test section (truncated run?)"
            if section.count
            else "test header without any result (truncated run?)",
            section.line,
        )
    if not result.records and not any("error" in p.message for p in result.problems):
        result.problem(TOOL, "no ze_peer results found")
    return result
