"""Split a concatenated ``benchmark_detail_log.txt`` into the pieces each tool printed.

Intel's ``platform_basic_evaluation.sh`` appends every tool's output to one log (setvars,
sycl-ls, xpu-smi, ze_peer, ze_peak, matrix_mul_mkl, mpirun/1ccl_benchmark); ours does the
same. Each tool's output starts with a line only that tool prints, so one regular-expression
pass finds where each piece begins. Parsers then read only their own pieces: an error
line is blamed on the tool that printed it, and huge logs are read quickly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# First lines (prefixes) of each tool's output, as the tools print them.
_ANCHORS: tuple[tuple[str, str], ...] = (
    ("Single Process ", "ze_peer"),  # "Single Process Unidirectional tests" banner
    ("IPC tests", "ze_peer"),
    ("Bandwidth Write : ", "ze_peer"),  # test headers: found even if the banner is lost
    ("Bandwidth Read : ", "ze_peer"),
    ("Latency Write : ", "ze_peer"),
    ("Latency Read : ", "ze_peer"),
    ("ERROR: More than 1 device needed", "ze_peer"),
    ("Unidirectional Bandwidth ", "ze_peer"),  # 2021-08 .. 2021-10 headers
    ("Bidirectional Bandwidth ", "ze_peer"),
    ("Unidirectional Latency ", "ze_peer"),
    ("Bidirectional Latency ", "ze_peer"),
    ("Device : ", "ze_peak"),  # print_ze_device_properties
    ("Device :", "ze_peak"),
    ("Global memory bandwidth (GB/s)", "ze_peak"),
    ("Transfer Bandwidth (GB/s)", "ze_peak"),
    ("Global memory bandwidth (GBPS)", "ze_peak"),  # before 2024-11
    ("Transfer Bandwidth (GBPS)", "ze_peak"),
    ("oneMKL DPC++ GEMM benchmark", "gemm"),
    ("Can't find device", "gemm"),
    ("Running on device:", "gemm"),
    ("Benchmarking (", "gemm"),
    ("Average performance:", "gemm"),
    ("options:", "ccl"),  # print_user_options of the oneCCL benchmark
    ("# Benchmarking:", "ccl"),
    (":: initializing oneAPI environment", "other"),
    (":: WARNING: setvars.sh", "other"),
    ("[level_zero:", "other"),  # sycl-ls
    ("[opencl:cpu]", "other"),
    ("| Device ID |", "other"),  # xpu-smi discovery table header
    ("Timestamp, DeviceId", "other"),  # xpu-smi dump
)
TOOLS = ("ze_peer", "ze_peak", "gemm", "ccl")
_WHOLE_LINE = {"Device :", "Device : ", "options:"}


@dataclass(frozen=True)
class Segment:
    tool: str  # "ze_peer", "ze_peak", "gemm", "ccl", "other" or "unknown" (before any anchor)
    start: int  # offset of the first character in the text
    end: int  # offset after the last character
    first_line: int  # 1-based line number of the segment's first line in the text


def _is_anchor(text: str, start: int, prefix: str) -> bool:
    if prefix not in _WHOLE_LINE:
        return True
    end = text.find("\n", start)
    return text[start:end if end != -1 else len(text)].rstrip() == prefix.rstrip()


_ANCHOR_RE = re.compile("\n(" + "|".join(re.escape(prefix) for prefix, _ in _ANCHORS) + ")")
_TOOL_OF = dict(_ANCHORS)


def split_by_tool(text: str) -> list[Segment]:
    """Consecutive pieces of ``text``, each labelled with the tool that printed it.

    Anchor lines are found in one regular-expression pass that starts at each newline (fast
    even on a 50 MB log); the text between two anchors of different tools belongs to the
    first.
    """
    hits = [(m.start() + 1, m.group(1)) for m in _ANCHOR_RE.finditer("\n" + text)]
    segments: list[Segment] = []
    tool, start, line = "unknown", 0, 1
    for offset, prefix in hits:
        offset -= 1  # the "\n" put in front of the text
        found = _TOOL_OF[prefix]
        if found == tool or not _is_anchor(text, offset, prefix):
            continue
        if offset > start:
            segments.append(Segment(tool, start, offset, line))
            line += text.count("\n", start, offset)
        tool, start = found, offset
    if len(text) > start:
        segments.append(Segment(tool, start, len(text), line))
    return segments
