"""``ze_peer`` (level-zero-tests perf_tests/ze_peer): P2P bandwidth and latency.

Every output generation since 2021 is read (see tests/recordings/README.md, "Tool output
generations", for the commits). Each test prints a header, its result lines, then an empty
line::

    2023-11 on (80d69a83):      Bandwidth Write : Device( 0 )->Device( 1 )
                                BW [GBPS]:  128 MB:    24.51
                                Latency [us]:    8  B:     9.87
    2022-06 .. 2023-11 (086d3d64): arrows ``--->``, ``<---``, ``<--->``, same result lines
    2021-10 .. 2022-06 (31a8b7fd): Bandwidth Write : Device(0)--->Device(1)
                                 Size   | BW [GBPS]
                                 128 MB:  24.5100
    2021-08 .. 2021-10 (4f148b61): Unidirectional Bandwidth P2P Write: Device(0)-->Device(1)
                                 Size:  128 MB - BW:  24.5100 GBPS

Arrows: ``->`` write, ``<-`` read, ``<->`` bidirectional (``-b``), with one to three
dashes. Parallel pair tests print `` (0)->(1) (2)->(3)`` instead of ``Device( ... )``.
Sizes are binary (MB = 2**20).

A figure counts only from a complete result line in its generation's own format (fixed
two or four decimals): a line cut in the middle (``BW [GBPS]:  128 MB:    3``) gives no
figure, and a test that does not reach its closing empty line is "cut off after" its
last complete size. The newline at the very end of a text is not that empty line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .base import ParseResult, looks_like_error, never_raises, to_float

TOOL = "ze_peer"

_ARROW = r"(?P<arrow><-{1,3}>|-{1,3}>|<-{1,3})"
_HEADER = re.compile(
    r"(?P<test>Bandwidth|Latency)\s+(?P<op>Write|Read)\s*:\s*"
    r"(?:Device\(\s*(?P<src>[\d\s]+?)\s*\)\s*" + _ARROW + r"\s*Device\(\s*(?P<dst>[\d\s]+?)\s*\)"
    r"|(?P<pairs>(?:\s*\(\d+\)\s*(?:<-{1,3}>|-{1,3}>|<-{1,3})\s*\(\d+\))+))"
)
# 2021-08 .. 2021-10: "Unidirectional Bandwidth [IPC ]P2P Write: Device(0)-->Device(1)"
_HEADER_2021 = re.compile(
    r"(?P<dir>Unidirectional|Bidirectional) (?P<test>Bandwidth|Latency) (?:IPC )?P2P"
    r"(?: (?P<op>Write|Read))?: Device\((?P<src>\d+)\)" + _ARROW + r"Device\((?P<dst>\d+)\)"
)
_PAIR = re.compile(r"\((?P<src>\d+)\)\s*(?P<arrow><-{1,3}>|-{1,3}>|<-{1,3})\s*\((?P<dst>\d+)\)")
# Errors only ze_peer prints (generic ones such as "terminate called" are caught too).
_OWN_ERRORS = ("ERROR: Number for source or destination device", "ERROR: More than 1 device",
               "No queue groups found", "Devices ", "Error at ")  # "Error at": -v data mismatch
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
# Complete result lines, per generation: (unit, regex with size, unit and value groups).
_ROW_PREFIXED = re.compile(r"(BW \[GBPS\]|Latency \[us\]):\s+(\d+)\s+(B|KB|MB|GB):\s+(\d+\.\d\d)")
_ROW_TABLE = re.compile(r"(\d+)\s+(B|KB|MB|GB):\s+(\d+\.\d{4})")
_ROW_2021 = re.compile(r"Size:\s+(\d+)\s+(B|KB|MB|GB)\s+-\s+BW:\s+(\d+\.\d{4})\s+GBPS")
_LATENCY_2021 = re.compile(r"Latency:\s+(\d+\.\d+)\s+us")
_TABLE_HEAD = re.compile(r"Size\s+\|\s+(BW \[GBPS\]|Latency \[us\])")


@dataclass(frozen=True)
class PeerResult:
    test: str  # "transfer_bw" or "latency"
    op: str  # "write", "read" (or "" for 2021's bidirectional tests, which name none)
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


def _kind(arrow: str) -> str:
    if arrow.startswith("<") and arrow.endswith(">"):
        return "both"
    return "write" if arrow.endswith(">") else "read"


class _Section:
    __slots__ = ("bidirectional", "count", "last", "line", "op", "pairs", "style", "test", "title")

    def __init__(self, match: re.Match[str], line: int, style: str) -> None:
        self.line = line
        self.style = style  # "prefixed" (2022-06 on), "table" (2021-10), "2021" (2021-08)
        self.title = match[0].strip()
        self.test = "transfer_bw" if match["test"] == "Bandwidth" else "latency"
        self.last = ""  # size label of the last complete result line
        self.pairs: tuple[tuple[int, int], ...]
        if style == "2021":
            self.pairs = ((int(match["src"]), int(match["dst"])),)
            self.bidirectional = match["dir"] == "Bidirectional"
            kind = _kind(match["arrow"])
            self.op = "" if self.bidirectional else (match["op"] or kind).lower()
            if not self.bidirectional and kind in ("write", "read"):
                self.op = kind  # 2021 printed "IPC P2P Read" for reads; the arrow is right
        elif match["pairs"]:
            found = _PAIR.findall(match["pairs"])
            self.pairs = tuple((int(s), int(d)) for s, _, d in found)
            self.bidirectional = any(_kind(arrow) == "both" for _, arrow, _ in found)
            self.op = match["op"].lower()
        else:
            srcs = [int(x) for x in match["src"].split()]
            dsts = [int(x) for x in match["dst"].split()]
            self.pairs = tuple((s, d) for s in srcs for d in dsts)
            self.bidirectional = _kind(match["arrow"]) == "both"
            self.op = match["op"].lower()
        self.count = 0

    def cut_off(self) -> str:
        after = f"after {self.last}" if self.last else "before its first result"
        return f"{self.title}: output cut off {after} (truncated run?)"


def _row(line: str, section: _Section | None) -> tuple[str, int, str, float] | str | None:
    """A result line: (unit, size in bytes, size label, value); "partial" for a line that
    starts like a result line but is not complete; None for any other line."""
    match = _ROW_PREFIXED.fullmatch(line)
    if match:
        unit = "GB/s" if match[1].startswith("BW") else "us"
        return _figure(unit, match[2], match[3], match[4])
    if line.startswith(("BW [GBPS]", "Latency [us]")):
        return "partial"
    if section is not None and section.style == "table":
        match = _ROW_TABLE.fullmatch(line)
        if match:
            unit = "GB/s" if section.test == "transfer_bw" else "us"
            return _figure(unit, match[1], match[2], match[3])
        if line[:1].isdigit():
            return "partial"
    if section is not None and section.style == "2021":
        match = _ROW_2021.fullmatch(line)
        if match:
            return _figure("GB/s", match[1], match[2], match[3])
        if _LATENCY_2021.fullmatch(line):
            return "latency-2021"
        if line.startswith(("Size:", "Latency:")):
            return "partial"
    return None


def _figure(unit: str, number: str, size_unit: str, value: str) -> tuple[str, int, str, float]:
    figure = to_float(value)
    size = int(number)
    value_or_bad = figure if figure is not None else -1.0
    return unit, size * _UNITS[size_unit], f"{size} {size_unit}", value_or_bad


def _header(line: str, number: int) -> _Section | None:
    if "P2P" in line:
        match = _HEADER_2021.search(line)
        if match:
            return _Section(match, number, "2021")
    match = _HEADER.search(line)
    return _Section(match, number, "prefixed") if match else None


def scan_ze_peer(lines: Sequence[str], first_line: int, result: ParseResult[PeerResult],
                 sizes: frozenset[str] | None = None) -> None:
    """Read ze_peer output from ``lines`` (numbered from ``first_line``) into ``result``.

    ``lines`` are the text's lines without line ends; an empty last element (the newline at
    the end of a text, split) is not an empty line of the output. With ``sizes`` (labels
    such as "128 MB") only results of those sizes become records; the others are merely
    counted, which keeps reading a huge detail log fast.
    """
    if lines and lines[-1] == "":
        lines = lines[:-1]
    section: _Section | None = None
    fast = sizes is not None
    # ze_peer prints "BW [GBPS]: " + "%4d" + " MB" + ": ": the size sits in line[11:18].
    fixed = {f"{parts[0]:>4} {parts[1]:>2}" for parts in (label.split() for label in sizes or ())
             if len(parts) == 2}
    for number, raw in enumerate(lines, first_line):
        if fast and section is not None and section.style == "prefixed":
            # Fast path for huge logs: count the complete results nobody asked for.
            if (raw.startswith("BW [GBPS]: ") and raw[18:19] == ":" and raw[11:18] not in fixed
                    and raw[-3:-2] == "." and raw[-2:].isdigit()):
                section.count += 1
                section.last = " ".join(raw[11:18].split())
                continue
            if (section.test == "latency" and raw.startswith("Latency [us]:")
                    and raw[-3:-2] == "."):
                section.count += 1
                continue
        line = raw.strip()
        if not line:
            if section is not None:
                if section.count == 0:
                    result.problem(TOOL, f"{section.title}: test header without any result",
                                   section.line)
                section = None
            continue
        if section is not None and _TABLE_HEAD.fullmatch(line):
            section.style = "table" if section.style == "prefixed" else section.style
            continue
        row = _row(line, section)
        if row is not None:
            if section is None:
                result.problem(TOOL, "result line outside any test section", number)
            elif row == "latency-2021":
                section.count += 1  # 2021's latency lines name no size: not a figure
            elif isinstance(row, str):  # a result line that is not complete: no figure
                result.problem(TOOL, f"{section.title}: unreadable result line {line[:60]!r} "
                               f"(after {section.last or 'the header'})", number)
                section.count += 1
            else:
                unit, size, label, figure = row
                section.count += 1
                section.last = label
                if figure < 0:
                    result.problem(TOOL, f"unreadable result line: {line[:100]!r}", number)
                elif sizes is None or (unit == "GB/s" and label in sizes):
                    src, dst = section.pairs[0]
                    result.records.append(PeerResult(
                        section.test, section.op, section.bidirectional, src, dst, section.pairs,
                        size, label, figure, unit, number))
            continue
        if ("Bandwidth" in line or "Latency" in line) and ":" in line:
            header = _header(line, number)
            if header is not None:
                if section is not None:
                    result.problem(TOOL, section.cut_off(), section.line)
                section = header
                if not section.pairs:
                    result.problem(TOOL, f"no device pair in header: {line[:100]!r}", number)
                    section = None
                continue
        if looks_like_error(line) or line.startswith(_OWN_ERRORS) or "P2P capab" in line:
            result.problem(TOOL, f"tool reported an error: {line[:160]}", number)
            section = None
            continue
        if section is not None and section.count > 0:
            result.problem(TOOL, section.cut_off(), number)
            section = None
    if section is not None:
        result.problem(TOOL, section.cut_off(), section.line)


def finish(result: ParseResult[PeerResult]) -> ParseResult[PeerResult]:
    if not result.records and not any("error" in p.message for p in result.problems):
        result.problem(TOOL, "no ze_peer results found")
    return result


@never_raises(TOOL)
def parse_ze_peer(text: str) -> ParseResult[PeerResult]:
    result: ParseResult[PeerResult] = ParseResult()
    scan_ze_peer(text.split("\n"), 1, result)
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
    records: list[PeerResult] = []
    for pos, match in events:
        line += text.count("\n", counted, pos + 1)
        counted = pos + 1
        if match.re is _HEADER_LINE:
            header = _HEADER.search(match[1])
            section = _Section(header, line, "prefixed") if header else None
            if section is None or not section.pairs:  # a header the tool would not print
                scan_ze_peer(text[start:end].split("\n"), first_line, result, sizes)
                return
            continue
        if section is None:
            continue
        value = _row(match[0][1:], section)
        if not isinstance(value, tuple) or value[3] < 0:
            continue
        unit, size, label, figure = value
        src, dst = section.pairs[0]
        records.append(PeerResult(section.test, section.op, section.bidirectional, src, dst,
                                  section.pairs, size, label, figure, unit, line))
    result.records.extend(records)
