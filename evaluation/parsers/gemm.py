"""``matrix_mul_mkl`` (oneAPI-samples Libraries/oneMKL/matrix_mul_mkl, Intel's gemm tool).

::

    Running on device: 0

    Benchmarking (40960 x 40960) x (40960 x 40960) matrix multiplication, int8 precision
     -> Initializing data...
     -> Verification...gemm  passes. for type: int8 precision
     -> Warmup...
     -> Timing...
    gemm Passes for type: int8 precision!

    Average performance: 142.318TF

The figure carries its own prefix (G/T/P + "F"); results are normalised to tera-ops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import ERROR_LINE_RE, ParseResult, never_raises, numbered_lines, to_float

TOOL = "matrix_mul_mkl"

_BENCH = re.compile(
    r"Benchmarking\s+\((?P<m>\d+)\s*x\s*(?P<k>\d+)\)\s*x\s*\((?P<k2>\d+)\s*x\s*(?P<n>\d+)\)"
    r"(?:\s*x\s*\((?P<n2>\d+)\s*x\s*(?P<z>\d+)\))?\s*matrix multiplication,"
    r"\s*(?P<precision>.+?)\s*$"
)
_AVERAGE = re.compile(r"Average performance:\s*(?P<value>\S+?)(?P<prefix>[GTP])F\b")
_DEVICE = re.compile(r"^Device:\s+(?P<name>.+?)\s*$")
_RUNNING = re.compile(r"^Running on device:\s*(?P<index>\d+)")
_PREFIX = {"G": 1e-3, "T": 1.0, "P": 1e3}


@dataclass(frozen=True)
class GemmResult:
    precision: str  # "int8", "half", "single", "double", "bf16", "fp32_vec"
    m: int
    n: int
    k: int
    tera_ops: float  # TOPS for int8, TFLOPS for floating point
    printed: str  # the figure as printed, e.g. "142.318TF"
    device_index: int | None  # "Running on device: N"
    device_name: str
    line: int


def _precision(words: str) -> str:
    # "int8 precision" -> "int8"; "single precision" -> "single"; "fp32_vec" -> "fp32_vec"
    return words.removesuffix(" precision").strip()


@never_raises(TOOL)
def parse_gemm(text: str) -> ParseResult[GemmResult]:
    result: ParseResult[GemmResult] = ParseResult()
    device_name = ""
    device_index: int | None = None
    bench: re.Match[str] | None = None
    bench_line = 0
    for number, line in numbered_lines(text):
        stripped = line.strip()
        device = _DEVICE.match(stripped)
        if device:
            device_name = device["name"]
            continue
        running = _RUNNING.match(stripped)
        if running:
            device_index = int(running["index"])
            continue
        found = _BENCH.search(stripped)
        if found:
            if bench is not None:
                result.problem(TOOL, f"{_precision(bench['precision'])} run printed no result",
                               bench_line)
            bench, bench_line = found, number
            continue
        if bench is None:
            continue
        if "FAILS" in stripped:
            result.problem(TOOL, f"verification failed: {stripped[:160]}", number)
            bench = None
            continue
        average = _AVERAGE.search(stripped)
        if average:
            value = to_float(average["value"])
            if value is None:
                result.problem(TOOL, f"unreadable figure: {stripped[:100]!r}", number)
            else:
                result.records.append(
                    GemmResult(
                        precision=_precision(bench["precision"]),
                        m=int(bench["m"]),
                        n=int(bench["n"]),
                        k=int(bench["k"]),
                        tera_ops=value * _PREFIX[average["prefix"]],
                        printed=f"{average['value']}{average['prefix']}F",
                        device_index=device_index,
                        device_name=device_name,
                        line=number,
                    )
                )
            bench = None
            continue
        if ERROR_LINE_RE.search(stripped):
            result.problem(TOOL, f"tool reported an error: {stripped[:160]}", number)
            bench = None
    if bench is not None:
        result.problem(TOOL, f"{_precision(bench['precision'])} run ended without a result "
                       "(truncated?)", bench_line)
    if not result.records and not result.problems:
        result.problem(TOOL, "no matrix multiplication result found")
    return result
