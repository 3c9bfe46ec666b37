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
from collections.abc import Sequence
from dataclasses import dataclass

from .base import ParseResult, looks_like_error, never_raises, to_float

TOOL = "matrix_mul_mkl"

_BENCH = re.compile(
    r"Benchmarking\s+\((?P<m>\d+)\s*x\s*(?P<k>\d+)\)\s*x\s*\((?P<k2>\d+)\s*x\s*(?P<n>\d+)\)"
    r"(?:\s*x\s*\((?P<n2>\d+)\s*x\s*(?P<z>\d+)\))?\s*matrix multiplication,"
    r"\s*(?P<precision>.+?)\s*$"
)
_AVERAGE = re.compile(r"Average performance:\s*(?P<value>\S+?)(?P<prefix>[GTP])F\b")
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


# What the benchmark prints after "matrix multiplication, " (utilities.hpp type_string, gemv).
PRECISIONS = frozenset({"half precision", "single precision", "double precision", "bf16 precision",
                        "int8 precision", "fp32_vec", "unknown type"})


def _precision(words: str) -> str:
    # "int8 precision" -> "int8"; "single precision" -> "single"; "fp32_vec" -> "fp32_vec"
    return words.removesuffix(" precision").strip()


class GemmScanner:
    """State kept across the pieces of one text (the device the next run is on)."""

    def __init__(self, result: ParseResult[GemmResult]) -> None:
        self.result = result
        self.device_name = ""
        self.device_index: int | None = None

    def scan(self, lines: Sequence[str], first_line: int) -> None:
        result = self.result
        bench: re.Match[str] | None = None
        bench_line = 0
        for number, raw in enumerate(lines, first_line):
            line = raw.strip()
            if not line or line.startswith("->"):
                continue
            if line.startswith("Device:"):
                self.device_name = line[7:].strip()
                continue
            if line.startswith("Running on device:"):
                running = _RUNNING.match(line)
                if running:
                    self.device_index = int(running["index"])
                continue
            if "matrix multiplication" in line:
                found = _BENCH.search(line)
                if found and found["precision"] not in PRECISIONS:
                    result.problem(TOOL, f"unknown precision in {line[:100]!r}", number)
                    bench = None
                    continue
                if found:
                    if bench is not None:
                        result.problem(TOOL, f"{_precision(bench['precision'])} run printed no "
                                       "result", bench_line)
                    bench, bench_line = found, number
                    continue
            if line.startswith(("Can't find device", "SYCL exception", "no FP64 capability")):
                result.problem(TOOL, f"tool reported an error: {line[:160]}", number)
                bench = None
                continue
            if bench is None:
                continue
            if "FAILS" in line:
                result.problem(TOOL, f"verification failed: {line[:160]}", number)
                bench = None
                continue
            if "Average performance" in line:
                average = _AVERAGE.search(line)
                value = to_float(average["value"]) if average else None
                if average is None or value is None:
                    result.problem(TOOL, f"unreadable figure: {line[:100]!r}", number)
                else:
                    result.records.append(GemmResult(
                        precision=_precision(bench["precision"]),
                        m=int(bench["m"]),
                        n=int(bench["n"]),
                        k=int(bench["k"]),
                        tera_ops=value * _PREFIX[average["prefix"]],
                        printed=f"{average['value']}{average['prefix']}F",
                        device_index=self.device_index,
                        device_name=self.device_name,
                        line=number,
                    ))
                bench = None
                continue
            if looks_like_error(line):
                result.problem(TOOL, f"tool reported an error: {line[:160]}", number)
                bench = None
        if bench is not None:
            result.problem(TOOL, f"{_precision(bench['precision'])} run ended without a result "
                           "(truncated?)", bench_line)


def finish(result: ParseResult[GemmResult]) -> ParseResult[GemmResult]:
    if not result.records and not result.problems:
        result.problem(TOOL, "no matrix multiplication result found")
    return result


@never_raises(TOOL)
def parse_gemm(text: str) -> ParseResult[GemmResult]:
    result: ParseResult[GemmResult] = ParseResult()
    GemmScanner(result).scan(text.splitlines(), 1)
    return finish(result)
