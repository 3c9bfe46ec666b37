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

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .base import ParseResult, looks_like_error, never_raises, to_float

TOOL = "ze_peer"

_HEADER = re.compile(
    r"(?P<test>Bandwidth|Latency)\s+(?P<op>Write|Read)\s*:\s*"
    r"(?:Device\(\s*(?P<src>[\d\s]+?)\s*\)\s*(?P<arrow><->|->|<-)\s*Device\(\s*(?P<dst>[\d\s]+?)\s*\)"
    r"|(?P<pairs>(?:\s*\(\d+\)\s*(?:<->|->|<-)\s*\(\d+\))+))"
)
_PAIR = re.compile(r"\((?P<src>\d+)\)\s*(?P<arrow><->|->|<-)\s*\((?P<dst>\d+)\)")
# Errors only ze_peer prints (generic ones such as "terminate called" are caught too).
_OWN_ERRORS = ("ERROR: Number for source or destination device", "ERROR: More than 1 device",
               "No queue groups found", "Devices ", "Error at ")  # "Error at": -v data mismatch
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


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
    __slots__ = ("bidirectional", "count", "line", "op", "pairs", "test")

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


def _value_line(line: str) -> tuple[str, int, str, float | None] | None:
    """("GB/s"|"us", size in bytes, size label, value) of a result line; None if not one."""
    if line.startswith("BW [GBPS]"):
        unit, rest = "GB/s", line[9:].removeprefix(":")
    elif line.startswith("Latency [us]"):
        unit, rest = "us", line[12:].removeprefix(":")
    else:
        return None
    size, sep, value = rest.partition(":")
    parts = size.split()
    if not sep or len(parts) != 2 or parts[1] not in _UNITS or not parts[0].isdigit():
        return (unit, -1, size.strip(), None)
    number = int(parts[0])
    return unit, number * _UNITS[parts[1]], f"{number} {parts[1]}", to_float(value)


def scan_ze_peer(lines: Sequence[str], first_line: int, result: ParseResult[PeerResult],
                 sizes: frozenset[str] | None = None) -> None:
    """Read ze_peer output from ``lines`` (numbered from ``first_line``) into ``result``.

    With ``sizes`` (labels such as "128 MB") only results of those sizes become records;
    the others are merely counted, which keeps reading a huge detail log fast.
    """
    section: _Section | None = None
    fast = sizes is not None
    # ze_peer prints "BW [GBPS]: " + "%4d" + " MB" + ": ": the size sits in line[11:18].
    fixed = {f"{parts[0]:>4} {parts[1]:>2}" for parts in (label.split() for label in sizes or ())
             if len(parts) == 2}
    for number, raw in enumerate(lines, first_line):
        if fast and section is not None:
            # Fast path for huge logs: count the results nobody asked for, keep the rest.
            if raw.startswith("BW [GBPS]: ") and raw[18:19] == ":" and raw[11:18] not in fixed:
                section.count += 1
                continue
            if section.test == "latency" and raw.startswith("Latency [us]:"):
                section.count += 1
                continue
        line = raw.strip()
        if not line:
            if section is not None:
                if section.count == 0:
                    result.problem(TOOL, "test header without any result", section.line)
                section = None
            continue
        value = _value_line(line)
        if value is not None:
            unit, size, label, figure = value
            if section is None:
                result.problem(TOOL, "result line outside any test section", number)
            elif figure is None or size < 0:
                result.problem(TOOL, f"unreadable result line: {line[:100]!r}", number)
            else:
                src, dst = section.pairs[0]
                result.records.append(PeerResult(
                    section.test, section.op, section.bidirectional, src, dst, section.pairs,
                    size, label, figure, unit, number))
                section.count += 1
            continue
        if ("Bandwidth" in line or "Latency" in line) and ":" in line:
            header = _HEADER.search(line)
            if header:
                if section is not None and section.count == 0:
                    result.problem(TOOL, "test header without any result", section.line)
                section = _Section(header, number)
                if not section.pairs:
                    result.problem(TOOL, f"no device pair in header: {line[:100]!r}", number)
                    section = None
                continue
        if looks_like_error(line) or line.startswith(_OWN_ERRORS) or "P2P capab" in line:
            result.problem(TOOL, f"tool reported an error: {line[:160]}", number)
            section = None
            continue
        if section is not None and section.count > 0:
            result.problem(TOOL, "test output ended early (no empty line after the last result)",
                           number)
            section = None
    if section is not None:
        result.problem(
            TOOL,
            "output ends inside a test section (truncated run?)"
            if section.count
            else "test header without any result (truncated run?)",
            section.line,
        )


def finish(result: ParseResult[PeerResult]) -> ParseResult[PeerResult]:
    if not result.records and not any("error" in p.message for p in result.problems):
        result.problem(TOOL, "no ze_peer results found")
    return result


@never_raises(TOOL)
def parse_ze_peer(text: str) -> ParseResult[PeerResult]:
    result: ParseResult[PeerResult] = ParseResult()
    scan_ze_peer(text.splitlines(), 1, result)
    return finish(result)


# Output exactly as ze_peer prints it (banners, sections, fixed-width result lines). A piece of
# a log that matches this is read with a few regex passes instead of line by line.
_PRISTINE = re.compile(
    r"(?:(?:={80}\n)?(?:Single Process (?:Uni|Bi)directional tests|IPC tests)\n={80}\n"
    r"(?:-{80}\n(?:Bandwidth|Latency) (?:Write|Read) : [^\n]*\n"
    r"(?:(?:BW \[GBPS\]|Latency \[us\]): [ \d]{4}(?: MB| KB|  B): +\d+\.\d\d\n)+\n-{80}\n)*)+"
    r"(?:={80}\n)?"
)
_HEADER_LINE = re.compile(r"\n((?:Bandwidth|Latency) (?:Write|Read) : [^\n]*)")
_UNIT_FIELD = {"B": "  B", "KB": " KB", "MB": " MB", "GB": " GB"}


@functools.lru_cache(maxsize=16)
def _wanted_lines(sizes: frozenset[str]) -> re.Pattern[str] | None:
    """Bandwidth result lines of the given size labels, as ze_peer prints them."""
    fields = []
    for label in sorted(sizes):
        number, _, unit = label.partition(" ")
        if number.isdigit() and unit in _UNIT_FIELD:
            fields.append(re.escape(f"{int(number):4d}{_UNIT_FIELD[unit]}"))
    if not fields:
        return None
    # Bandwidth results only, as scan_ze_peer with sizes (which skips latency results).
    return re.compile(r"\nBW \[GBPS\]: (?:" + "|".join(fields) + r"): +\S+")


def scan_ze_peer_text(text: str, start: int, end: int, first_line: int,
                      result: ParseResult[PeerResult], sizes: frozenset[str] | None) -> None:
    """:func:`scan_ze_peer` over ``text[start:end]``, fast for untouched output.

    When ``sizes`` is given and the piece is exactly what ze_peer prints, the bandwidth
    records of those sizes are found with regular expressions: the same records
    :func:`scan_ze_peer` gives with ``sizes``, and no problems (untouched output has none).
    Anything else is read line by line.
    """
    if sizes is None or not _PRISTINE.fullmatch(text, start, end):
        scan_ze_peer(text[start:end].split("\n"), first_line, result, sizes)
        return
    wanted = _wanted_lines(sizes)
    if wanted is None:
        return
    events = [(m.start(), m) for m in _HEADER_LINE.finditer(text, start, end)]
    events += [(m.start(), m) for m in wanted.finditer(text, start, end)]
    events.sort(key=lambda event: event[0])
    section: _Section | None = None
    counted, line = start, first_line
    for pos, match in events:
        line += text.count("\n", counted, pos + 1)
        counted = pos + 1
        if match.re is _HEADER_LINE:
            header = _HEADER.search(match[1])
            section = _Section(header, line) if header else None
            continue
        if section is None or not section.pairs:
            continue
        value = _value_line(match[0][1:])
        if value is None:
            continue
        unit, size, label, figure = value
        if figure is None:
            continue
        src, dst = section.pairs[0]
        result.records.append(PeerResult(section.test, section.op, section.bidirectional, src, dst,
                                         section.pairs, size, label, figure, unit, line))
