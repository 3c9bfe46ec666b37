"""oneCCL benchmark (``1ccl_benchmark``, oneCCL examples/benchmark): text table and ``-o`` CSV.

Text (rank 0)::

    #------------------------------------------------------------
    # Benchmarking: allreduce
    # #processes: 2
    #------------------------------------------------------------
            #bytes   #elem_count  #repetitions   t_min[usec]   t_max[usec]   t_avg[usec]  stddev[%]   algbw[GB/s]   busbw[GB/s]
         134217728      67108864            50      10672.51      10699.12      10685.90       0.09         12.56         12.56

CSV (``-o FILE``)::

    #ranks,collective,reduction,dtype,dtype_size,#elements/buffer,message_size,#buffers,#repetitions,t_min[usec],t_max[usec],t_avg[usec],stddev[%],wait_t_avg[usec],algbw[GB/s],busbw[GB/s]
"""  # noqa: E501

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .base import ParseResult, looks_like_error, never_raises, to_float, to_int

TOOL = "1ccl_benchmark"

_BENCH = re.compile(r"^#?\s*Benchmarking:\s*(?P<colls>.+?)\s*$", re.IGNORECASE)
_PROCS = re.compile(r"^#\s*#processes:\s*(?P<n>\d+)")
_DTYPE = re.compile(r"^datatype:\s*(?P<v>\S+)")
_REDUCTION = re.compile(r"^reduction:\s*(?P<v>\S+)")


@dataclass(frozen=True)
class CclResult:
    collective: str  # "allreduce", "allgather", "alltoall", ...
    bytes: int  # message size: elements x dtype size x buffers
    elem_count: int
    repetitions: int
    t_min_us: float
    t_max_us: float
    t_avg_us: float
    stddev_pct: float
    algbw_gbps: float
    busbw_gbps: float
    dtype: str  # "float16"; "" when not printed
    reduction: str  # "sum"; "" when not printed / not a reduction
    processes: int | None
    line: int


def _bench_name(colls: str) -> str:
    return colls.split()[0].lower() if colls.split() else ""


_REDUCING = ("allreduce", "reduce", "reduce_scatter")
# Collectives the oneCCL benchmark knows (its -l option).
COLLECTIVES = frozenset({"allgather", "allgatherv", "allreduce", "alltoall", "alltoallv", "bcast",
                         "broadcast", "reduce", "reduce_scatter"})


class CclScanner:
    """State kept across the pieces of one text (datatype, reduction, process count)."""

    def __init__(self, result: ParseResult[CclResult], sizes: frozenset[int] | None = None) -> None:
        """With ``sizes`` (message sizes in bytes) only those rows become records."""
        self.result = result
        self.prefixes = tuple(f"{size} " for size in sizes) if sizes is not None else None
        self.processes: int | None = None
        self.dtype = ""
        self.reduction = ""

    def scan(self, lines: Sequence[str], first_line: int) -> None:
        result = self.result
        collective: str | None = None
        bench_line = rows = 0
        in_options = False
        seen: set[int] = set()  # message sizes of the current table
        for number, raw in enumerate(lines, first_line):
            if in_options and raw.startswith("  ") and raw[2:3].isalpha():
                continue  # "  processes:       2": the options block, nothing to read
            line = raw.strip()
            if not line:
                in_options = False
                continue
            if line == "options:":
                in_options = True
                continue
            if collective is not None and line[0].isdigit():
                if self.prefixes is not None and not line.startswith(self.prefixes):
                    rows += 1
                    continue
                cols = line.split()
                if len(cols) < 9:
                    result.problem(TOOL, f"{collective}: unreadable row: {line[:120]!r}", number)
                    continue
                ints = [to_int(c) for c in cols[:3]]
                values = [to_float(c) for c in cols[3:9]]
                if None in ints or None in values:
                    result.problem(TOOL, f"{collective}: unreadable row: {line[:120]!r}", number)
                    continue
                f = [float(v or 0.0) for v in values]
                if ints[0] in seen:
                    result.problem(TOOL, f"{collective}: row for {ints[0]} bytes repeated", number)
                    continue
                seen.add(int(ints[0] or 0))
                result.records.append(CclResult(
                    collective, int(ints[0] or 0), int(ints[1] or 0), int(ints[2] or 0),
                    f[0], f[1], f[2], f[3], f[4], f[5], self.dtype,
                    self.reduction if collective in _REDUCING else "", self.processes, number))
                rows += 1
                continue
            if line[0] == "#":
                if "enchmarking" in line:
                    bench = _BENCH.match(line.lstrip("# ").strip())
                    if bench:
                        if collective is not None and rows == 0:
                            result.problem(TOOL, f"{collective}: table without rows", bench_line)
                        collective, bench_line, rows = _bench_name(bench["colls"]), number, 0
                        seen.clear()
                        if collective not in COLLECTIVES:
                            result.problem(TOOL, f"unknown collective in {line[:80]!r}", number)
                            collective = None
                        continue
                if line.startswith("# All done"):
                    if collective is not None and rows == 0:
                        result.problem(TOOL, f"{collective}: table without rows", bench_line)
                    collective = None
                    continue
                procs = _PROCS.match(line)
                if procs:
                    self.processes = int(procs["n"])
                continue
            if line.startswith("datatype:"):
                found = _DTYPE.match(line)
                self.dtype = found["v"] if found else ""
                continue
            if line.startswith("reduction:"):
                found = _REDUCTION.match(line)
                self.reduction = found["v"] if found else ""
                continue
            if looks_like_error(line) or any(
                word in line for word in ("CCL_ERROR", "BAD TERMINATION", "ASSERT", "FAILED")
            ):
                result.problem(TOOL, f"tool reported an error: {line[:160]}", number)
        if collective is not None:
            if rows == 0:
                result.problem(TOOL, f"{collective}: table without rows (truncated run?)",
                               bench_line)
            else:
                result.problem(TOOL, f"{collective}: output ends without '# All done' "
                               "(truncated run?)", bench_line)


def finish(result: ParseResult[CclResult]) -> ParseResult[CclResult]:
    if not result.records and not result.problems:
        result.problem(TOOL, "no oneCCL benchmark table found")
    return result


@never_raises(TOOL)
def parse_ccl_text(text: str) -> ParseResult[CclResult]:
    """Every row of every ``# Benchmarking: OP`` table."""
    result: ParseResult[CclResult] = ParseResult()
    CclScanner(result).scan(text.splitlines(), 1)
    return finish(result)


_CSV_FIELDS = {
    "ranks": "#ranks", "collective": "collective", "reduction": "reduction", "dtype": "dtype",
    "elements": "#elements/buffer", "message_size": "message_size", "repetitions": "#repetitions",
    "t_min": "t_min[usec]", "t_max": "t_max[usec]", "t_avg": "t_avg[usec]",
    "stddev": "stddev[%]", "algbw": "algbw[GB/s]", "busbw": "busbw[GB/s]",
}


@never_raises(TOOL)
def parse_ccl_csv(text: str) -> ParseResult[CclResult]:
    """Rows of the CSV file written by ``-o``."""
    result: ParseResult[CclResult] = ParseResult()
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("#ranks,")), None)
    if start is None:
        result.problem(TOOL, "no CSV header ('#ranks,collective,...') found")
        return result
    reader = csv.reader(io.StringIO("\n".join(lines[start:])))
    header = next(reader)
    index = {name: header.index(col) for name, col in _CSV_FIELDS.items() if col in header}
    missing = [col for name, col in _CSV_FIELDS.items() if name not in index]
    if missing:
        result.problem(TOOL, f"CSV header lacks {', '.join(missing)}", start + 1)
        return result
    for offset, row in enumerate(reader, start=start + 2):
        if not row or all(not c.strip() for c in row):
            continue

        def cell(name: str, row: list[str] = row) -> str:
            pos = index[name]
            return row[pos] if pos < len(row) else ""

        floats = {k: to_float(cell(k)) for k in ("t_min", "t_max", "t_avg", "stddev", "algbw",
                                                 "busbw")}
        ints = {k: to_int(cell(k)) for k in ("ranks", "elements", "message_size", "repetitions")}
        if any(v is None for v in floats.values()) or any(v is None for v in ints.values()):
            result.problem(TOOL, f"unreadable CSV row: {','.join(row)[:120]!r}", offset)
            continue
        f = {k: float(v or 0.0) for k, v in floats.items()}
        i = {k: int(v or 0) for k, v in ints.items()}
        result.records.append(
            CclResult(
                collective=cell("collective").strip().lower(),
                bytes=i["message_size"],
                elem_count=i["elements"],
                repetitions=i["repetitions"],
                t_min_us=f["t_min"],
                t_max_us=f["t_max"],
                t_avg_us=f["t_avg"],
                stddev_pct=f["stddev"],
                algbw_gbps=f["algbw"],
                busbw_gbps=f["busbw"],
                dtype=cell("dtype").strip(),
                reduction=cell("reduction").strip(),
                processes=i["ranks"],
                line=offset,
            )
        )
    if not result.records and not result.problems:
        result.problem(TOOL, "CSV has a header but no rows")
    return result
