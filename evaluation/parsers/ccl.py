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
from dataclasses import dataclass

from .base import ERROR_LINE_RE, ParseResult, never_raises, numbered_lines, to_float, to_int

TOOL = "1ccl_benchmark"

_BENCH = re.compile(r"^#?\s*Benchmarking:\s*(?P<colls>.+?)\s*$", re.IGNORECASE)
_PROCS = re.compile(r"^#\s*#processes:\s*(?P<n>\d+)")
_DTYPE = re.compile(r"^datatype:\s*(?P<v>\S+)")
_REDUCTION = re.compile(r"^reduction:\s*(?P<v>\S+)")
_ROW = re.compile(r"^\d")


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


@never_raises(TOOL)
def parse_ccl_text(text: str) -> ParseResult[CclResult]:
    """Every row of every ``# Benchmarking: OP`` table."""
    result: ParseResult[CclResult] = ParseResult()
    collective: str | None = None
    bench_line = 0
    rows = 0
    processes: int | None = None
    dtype = reduction = ""
    for number, line in numbered_lines(text):
        stripped = line.strip()
        for regex, kind in ((_DTYPE, "dtype"), (_REDUCTION, "reduction")):
            found = regex.match(stripped)
            if found:
                if kind == "dtype":
                    dtype = found["v"]
                else:
                    reduction = found["v"]
        bench = _BENCH.match(stripped.lstrip("# ").strip()) if "enchmarking" in stripped else None
        if bench:
            if collective is not None and rows == 0:
                result.problem(TOOL, f"{collective}: table without rows", bench_line)
            collective, bench_line, rows = _bench_name(bench["colls"]), number, 0
            continue
        procs = _PROCS.match(stripped)
        if procs:
            processes = int(procs["n"])
            continue
        if collective is None:
            continue
        if stripped.startswith("# All done"):
            if rows == 0:
                result.problem(TOOL, f"{collective}: table without rows", bench_line)
            collective = None
            continue
        if _ROW.match(stripped):
            cols = stripped.split()
            numbers = [to_float(c) for c in cols[:9]]
            ints = [to_int(c) for c in cols[:3]]
            if len(cols) < 9 or any(n is None for n in numbers) or any(i is None for i in ints):
                result.problem(TOOL, f"{collective}: unreadable row: {stripped[:120]!r}", number)
                continue
            values = [float(n) for n in numbers if n is not None]
            result.records.append(
                CclResult(
                    collective=collective,
                    bytes=int(ints[0] or 0),
                    elem_count=int(ints[1] or 0),
                    repetitions=int(ints[2] or 0),
                    t_min_us=values[3],
                    t_max_us=values[4],
                    t_avg_us=values[5],
                    stddev_pct=values[6],
                    algbw_gbps=values[7],
                    busbw_gbps=values[8],
                    dtype=dtype,
                    reduction=reduction if collective in ("allreduce", "reduce", "reduce_scatter")
                    else "",
                    processes=processes,
                    line=number,
                )
            )
            rows += 1
            continue
        if ERROR_LINE_RE.search(stripped) or any(
            word in stripped for word in ("CCL_ERROR", "BAD TERMINATION")
        ):
            result.problem(TOOL, f"tool reported an error: {stripped[:160]}", number)
    if collective is not None:
        if rows == 0:
            result.problem(TOOL, f"{collective}: table without rows (truncated run?)", bench_line)
        else:
            result.problem(TOOL, f"{collective}: output ends without '# All done' (truncated run?)",
                           bench_line)
    if not result.records and not result.problems:
        result.problem(TOOL, "no oneCCL benchmark table found")
    return result


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
