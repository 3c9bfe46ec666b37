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

Values are printed with ostream's default precision (6 significant digits); every line of
each section is kept, whatever its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .base import ParseResult, looks_like_error, never_raises, to_float

TOOL = "ze_peak"

SECTIONS = {
    "Global memory bandwidth (GB/s)": "global_bw",
    "Transfer Bandwidth (GB/s)": "transfer_bw",
}
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

_END = "<<<<<<<<"
# ze_peak's own failure lines (a missing .spv kernel file, a bad device/driver choice).
_OWN_ERRORS = ("Failed to load binary file", "Specified device", "Specified driver")


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

    def scan(self, lines: Sequence[str], first_line: int) -> None:
        result = self.result
        seen: set[str] = set()  # names printed in the current section
        test: str | None = None
        section_line = count = 0
        for number, raw in enumerate(lines, first_line):
            line = raw.strip()
            if not line:
                continue
            if test is not None and line.endswith("GB/s"):
                name, sep, value = line[:-4].rpartition(":")
                gbps = to_float(value) if sep else None
                if gbps is None or not name.strip():
                    result.problem(TOOL, f"unreadable value: {line[:100]!r}", number)
                elif name.strip() in seen:
                    result.problem(TOOL, f"{test}: {name.strip()} printed twice", number)
                else:
                    seen.add(name.strip())
                    result.records.append(PeakResult(test, name.strip(), gbps, self.device_name,
                                                     self.sections_seen[test], number))
                    count += 1
                continue
            if test is None and line.endswith("GB/s") and line.split(" :")[0] in TRANSFER_NAMES:
                # A transfer_bw line whose section header was lost: still ze_peak's figure.
                name, _, value = line[:-4].rpartition(":")
                gbps = to_float(value)
                if gbps is not None:
                    result.problem(TOOL, "transfer_bw value outside its section (header lost?)",
                                   number)
                    result.records.append(PeakResult("transfer_bw", name.strip(), gbps,
                                                     self.device_name,
                                                     max(self.sections_seen["transfer_bw"], 0),
                                                     number))
                continue
            if line.startswith("* name :"):
                self.device_name = line.split(":", 1)[1].strip()
                continue
            kind = SECTIONS.get(line)
            if kind is not None:
                if test is not None:
                    result.problem(TOOL, f"{test} section ended before its end marker "
                                   "(truncated?)", section_line)
                test = kind
                self.sections_seen[test] += 1
                section_line, count = number, 0
                seen.clear()
                continue
            if line.startswith(_END):
                if test is not None and count == 0:
                    result.problem(TOOL, f"{test} section without any value", section_line)
                test = None
                continue
            if looks_like_error(line) or line.startswith(_OWN_ERRORS):
                result.problem(TOOL, f"tool reported an error: {line[:160]}", number)
        if test is not None:
            result.problem(TOOL, f"output ends inside the {test} section (truncated run?)",
                           section_line)


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
