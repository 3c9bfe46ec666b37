"""``ze_peak`` (level-zero-tests perf_tests/ze_peak): ``-t transfer_bw`` and ``-t global_bw``.

::

    Device :
     * name : Intel(R) Arc(TM) Pro B60 Graphics
     ...
    Global memory bandwidth (GB/s)
    float : 380.93 GB/s
    float16 : 401.528 GB/s
    <<<<<<<<<<<<<<<<<<<<<<<<<<<<
    Transfer Bandwidth (GB/s)
    enqueueWriteBuffer : 24.3176 GB/s
    GPU Copy Host to Shared Memory : 24.1088 GB/s
    <<<<<<<<<<<<<<<<<<<<<<<<<<<<

Every output generation is read (tests/recordings/README.md, "Tool output generations",
names the commits): the headers said ``(GBPS)`` until 2024-11 (ae0ea493) and ``(GB/s)``
since; transfer_bw values were printed with the unit ``GBPS`` (2020), ``GFLOPS``
(2021-03, 590a7daf, a misprint: the figures are GB/s), ``GBPS`` again (2022-09, e33628f9)
and ``GB/s`` (2024-11); global_bw values ``GBPS`` (``GFLOPS`` on sub-devices) until 2024-11.

Values are printed with ostream's default precision (6 significant digits); every line of
each section is kept, whatever its name. A figure counts only from a complete line (name,
number, unit); a section that does not reach its ``<<<<`` end marker is "cut off after"
its last complete line. ``-d N`` with an N the machine lacks makes ze_peak print
"Specified device N is not valid, will default to the first device" and measure device 0:
those figures are not device N's, so that run gives none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .base import ParseResult, looks_like_error, never_raises, to_float

TOOL = "ze_peak"

_SECTION = re.compile(r"(Global memory bandwidth|Transfer Bandwidth) \((?:GB/s|GBPS)\)")
_SECTION_KIND = {"Global memory bandwidth": "global_bw", "Transfer Bandwidth": "transfer_bw"}
# NAME : VALUE UNIT, as ze_peak prints it (units of every generation; all mean GB/s).
_VALUE = re.compile(
    r"(?P<name>[^:]*?\S)\s*:\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
    r"(?P<unit>GB/s|GBPS|GFLOPS)"
)
_UNIT_TAIL = ("GB/s", "GBPS", "GFLOPS")
_FALLBACK = re.compile(r"Specified device (\d+) is not valid, will default to the first device")
GLOBAL_BW_TYPES = ("float", "float2", "float4", "float8", "float16")
H2D_NAME = "GPU Copy Host to Shared Memory"
D2H_NAME = "GPU Copy Shared Memory to Host"
# Every line ze_peak's transfer_bw test prints (transfer_bw.cpp).
TRANSFER_NAMES = frozenset({
    "enqueueWriteBuffer", "enqueueReadBuffer", H2D_NAME, D2H_NAME,
    "System Memory Copy to Shared Memory", "System Memory Copy from Shared Memory",
    "GPU Copy Shared System Memory to Shared Memory",
    "GPU Copy Shared System Memory from Shared Memory",
    "GPU Copy Shared System Memory to Shared Memory with Memory Advice",
    "GPU Copy Shared System Memory from Shared Memory with Memory Advice",
})
_PREFIXES = tuple(TRANSFER_NAMES) + tuple(f"{t} :" for t in GLOBAL_BW_TYPES)

_END = "<<<<<<<<"
# ze_peak's own failure lines (a missing .spv kernel file, a bad device/driver choice).
_OWN_ERRORS = ("Failed to load binary file", "Specified driver")


def _value(line: str) -> tuple[str, float | None] | None:
    """(name, figure) of a complete ``NAME : VALUE UNIT`` line; None for any other line.
    The plain split is the fast path (a 50 MB log has 10^5 of these); the regex decides
    only the odd line (no space before the unit, an exponent)."""
    body = line[: -4 if line.endswith(("GB/s", "GBPS")) else -6].rstrip()
    name, sep, figure = body.rpartition(" : ")
    if sep and name and figure:
        value = to_float(figure)
        if value is not None:
            return name.strip(), value
    match = _VALUE.fullmatch(line)
    if match is None:
        return None
    return match["name"].strip(), to_float(match["value"])


@dataclass(frozen=True)
class PeakResult:
    test: str  # "transfer_bw" or "global_bw"
    name: str  # "GPU Copy Host to Shared Memory", "float16", ...
    gbps: float
    device_name: str  # from the " * name : " line before the section, "" if absent
    section: int  # 0-based number of the section of this test kind in the text (one per run)
    line: int


class ZePeakScanner:
    """State kept across the pieces of one text (section numbering, last device name)."""

    def __init__(self, result: ParseResult[PeakResult]) -> None:
        self.result = result
        self.sections_seen = {"transfer_bw": -1, "global_bw": -1}
        self.device_name = ""
        self.fallback: str | None = None  # the device ze_peak was asked for but lacks

    def scan(self, lines: Sequence[str], first_line: int) -> None:
        result = self.result
        seen: set[str] = set()  # names printed in the current section
        test: str | None = None
        section_line = count = 0
        last = ""
        for number, raw in enumerate(lines, first_line):
            line = raw.strip()
            if not line:
                continue
            value = _value(line) if line.endswith(_UNIT_TAIL) else None
            if value is not None:
                name, gbps = value
                if gbps is None:
                    result.problem(TOOL, f"unreadable value: {line[:100]!r}", number)
                    continue
                kind = test
                if kind is None:
                    if name not in TRANSFER_NAMES:
                        continue  # a sub-device line or another test's figure
                    # A transfer_bw line whose section header was lost: still ze_peak's figure.
                    kind = "transfer_bw"
                    result.problem(TOOL, "transfer_bw value outside its section (header lost?)",
                                   number)
                if name in seen:
                    result.problem(TOOL, f"{kind}: {name} printed twice", number)
                    continue
                seen.add(name)
                count += 1
                last = name
                if self.fallback is not None:
                    continue  # measured on device 0, not on the device asked for
                result.records.append(PeakResult(kind, name, gbps, self.device_name,
                                                 max(self.sections_seen[kind], 0), number))
                continue
            if line.startswith("* name :"):
                self.device_name = line.split(":", 1)[1].strip()
                continue
            header = _SECTION.fullmatch(line)
            if header is not None:
                if test is not None:
                    result.problem(TOOL, f"{test} section cut off after {last or 'its header'} "
                                   "(no end marker)", section_line)
                test = _SECTION_KIND[header[1]]
                self.sections_seen[test] += 1
                section_line, count, last = number, 0, ""
                seen.clear()
                continue
            if line.startswith(_END):
                if test is not None and count == 0:
                    result.problem(TOOL, f"{test} section without any value", section_line)
                test = None
                continue
            fallback = _FALLBACK.search(line)
            if fallback is not None:
                self.fallback = fallback[1]
                result.problem(TOOL, f"tool reported an error: {line[:120]} (its figures are "
                               f"device 0's, not device {fallback[1]}'s: none are kept)", number)
                continue
            if test is not None and line.startswith(_PREFIXES):
                result.problem(TOOL, f"{test}: incomplete line {line[:80]!r}, cut off after "
                               f"{last or 'its header'}", number)
                continue
            if looks_like_error(line) or line.startswith(_OWN_ERRORS):
                result.problem(TOOL, f"tool reported an error: {line[:160]}", number)
        if test is not None:
            result.problem(TOOL, f"output of {test} cut off after {last or 'its header'} "
                           "(no end marker: truncated run?)", section_line)


def finish(result: ParseResult[PeakResult]) -> ParseResult[PeakResult]:
    if not result.records and not result.problems:
        result.problem(TOOL, "no ze_peak transfer_bw or global_bw results found")
    return result


@never_raises(TOOL)
def parse_ze_peak(text: str) -> ParseResult[PeakResult]:
    """Every transfer_bw and global_bw value, in order."""
    result: ParseResult[PeakResult] = ParseResult()
    ZePeakScanner(result).scan(text.splitlines(), 1)
    return finish(result)


def _only(text: str, test: str) -> ParseResult[PeakResult]:
    full = parse_ze_peak(text)
    records = [r for r in full.records if r.test == test]
    problems = [p for p in full.problems
                if test in p.message or "error" in p.message or "internal" in p.message]
    result: ParseResult[PeakResult] = ParseResult(records, problems)
    if not records and not problems:
        result.problem(TOOL, f"no ze_peak {test} results found")
    return result


def parse_transfer_bw(text: str) -> ParseResult[PeakResult]:
    return _only(text, "transfer_bw")


def parse_global_bw(text: str) -> ParseResult[PeakResult]:
    return _only(text, "global_bw")
