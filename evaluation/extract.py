"""From tool output to :class:`~multiarc.evaluation.model.Metric`, keyed like reference_perf.csv.

Two entry points:

- :func:`metrics_from_detail_log` reads a whole concatenated ``benchmark_detail_log.txt``
  (Intel's original or ours) and yields at least every row Intel's
  ``gen_evaluation_report.py`` would write, with the same keys and values, in its order:
  P2P (per section, 128 MB and 256 MB), H2D, D2H, D2D float8/float16, gemm int8, and
  oneCCL busbw at 128 MB per collective. Units are added.
  Where a log holds several runs of a tool (ours with ``--pairs all`` / ``--devices all``),
  every run gives its rows: P2P rows carry their pair ("0->2"), ze_peak rows the number of
  the run ("0", "1", ...; Intel's script would keep only the last), gemm rows the device
  the tool ran on.
- :func:`metrics_from_step` reads one step's raw output (``--pairs all`` / ``--devices all``
  runs), labelling figures with the device or pair they belong to.

Keys beyond Intel's (figures with no reference row are INFO downstream):
``("p2p", "Unidirectional Write", "8 KB")`` (every size), ``("GPU memory bandwidth",
"enqueueWriteBuffer", "")`` (every transfer_bw line under its ze_peak name),
``("GPU memory bandwidth", "D2D", "float4")`` (every data type), ``("gemm", "half", "")``
(TFLOPS for floating point), ``("1ccl", "allgather", "1KB")`` (every message size).

Nothing here raises on bad input: what could not be read comes back as ParseProblems.
A 50 MB log (a thousand runs) is read in about two seconds on a small 2-core machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from multiarc.evaluation import metric_names as names
from multiarc.evaluation.model import Metric, ParseProblem

from .gcpause import gc_paused
from .parsers.base import ParseResult, bytes_label
from .parsers.ccl import CclResult, CclScanner, parse_ccl_csv, parse_ccl_text
from .parsers.ccl import finish as finish_ccl
from .parsers.detail_log import split_by_tool
from .parsers.gemm import GemmResult, GemmScanner, parse_gemm
from .parsers.gemm import finish as finish_gemm
from .parsers.ze_peak import D2H_NAME, H2D_NAME, PeakResult, ZePeakScanner, parse_ze_peak
from .parsers.ze_peak import finish as finish_peak
from .parsers.ze_peer import PeerResult, parse_ze_peer, scan_ze_peer, scan_ze_peer_text
from .parsers.ze_peer import finish as finish_peer

STEP_KINDS = ("ze_peer", "ze_peak_transfer", "ze_peak_global", "gemm", "ccl")

# Intel's report keeps only these D2D data types.
_D2D_REPORTED = ("float8", "float16")


def p2p_subcategory(record: PeerResult) -> str:
    """"Unidirectional Write", "Bidirectional Read", ... as reference_perf.csv spells them."""
    return {
        (False, "write"): names.P2P_UNI_WRITE,
        (False, "read"): names.P2P_UNI_READ,
        (True, "write"): names.P2P_BI_WRITE,
        (True, "read"): names.P2P_BI_READ,
    }.get((record.bidirectional, record.op), names.P2P_BI)


def ccl_size_label(size: int) -> str:
    """134217728 -> "128MB" (reference_perf.csv's spelling for oneCCL sizes)."""
    return bytes_label(size, space=False)


def gemm_unit(precision: str) -> str:
    return names.UNIT_TOPS if precision.startswith("int") else names.UNIT_TFLOPS


def _p2p_metrics(records: Iterable[PeerResult], *, all_sizes: bool, step: str) -> list[Metric]:
    metrics = []
    for r in records:
        if r.test != "transfer_bw":
            continue
        if not all_sizes and r.size_label not in names.P2P_SIZES_REPORTED:
            continue
        metrics.append(Metric(names.P2P, p2p_subcategory(r), r.size_label, r.value,
                              names.UNIT_GBPS, devices=r.devices, step=step))
    return metrics


def _transfer_metrics(records: list[PeakResult], *, devices: str, step: str,
                      every: bool) -> list[Metric]:
    """H2D and D2H (and with ``every`` each other transfer_bw line under its own name)."""
    metrics = []
    for r in records:
        if r.test != "transfer_bw":
            continue
        if r.name == H2D_NAME:
            sub = names.H2D
        elif r.name == D2H_NAME:
            sub = names.D2H
        elif every:
            sub = r.name
        else:
            continue
        metrics.append(Metric(names.MEMORY_BW, sub, "", r.gbps, names.UNIT_GBPS,
                              devices=devices, step=step))
    return metrics


def _global_metrics(records: list[PeakResult], *, devices: str, step: str,
                    every: bool) -> list[Metric]:
    """D2D float8/float16 (with ``every``: each data type ze_peak printed)."""
    return [
        Metric(names.MEMORY_BW, names.D2D, r.name, r.gbps, names.UNIT_GBPS, devices=devices,
               step=step)
        for r in records
        if r.test == "global_bw" and (every or r.name in _D2D_REPORTED)
    ]


def _gemm_metrics(records: Iterable[GemmResult], *, devices: str, step: str) -> list[Metric]:
    return [
        Metric(names.GEMM, r.precision, "", r.tera_ops, gemm_unit(r.precision),
               devices=devices or ("" if r.device_index is None else str(r.device_index)),
               step=step)
        for r in records
    ]


def _ccl_metrics(records: Iterable[CclResult], *, all_sizes: bool, devices: str,
                 step: str) -> list[Metric]:
    return [
        Metric(names.CCL, r.collective, ccl_size_label(r.bytes), r.busbw_gbps, names.UNIT_GBPS,
               devices=devices, step=step)
        for r in records
        if all_sizes or r.bytes == names.CCL_BYTES_REPORTED
    ]


Scan = Callable[[list[str], int], None]


def _guarded(tool: str, problems: list[ParseProblem], read: Callable[[], None]) -> None:
    try:
        read()
    except Exception as err:  # a parser bug must not cost the other tools' figures
        problems.append(ParseProblem(tool, f"internal parser error ({type(err).__name__}: {err})"))


@gc_paused()
def metrics_from_detail_log(
    text: str, *, all_sizes: bool = False
) -> tuple[list[Metric], list[ParseProblem]]:
    """Metrics from a whole ``benchmark_detail_log.txt``, in the original report's order.

    With ``all_sizes`` every P2P size and every oneCCL size is returned too (not only the
    128/256 MB and 128MB figures the original reports). The log is first split into the
    pieces each tool printed (:mod:`.parsers.detail_log`), so every parser reads only its
    own output; lines before the first recognised tool output go to every parser.
    """
    if not isinstance(text, str):
        return [], [ParseProblem("extract", f"expected text, got {type(text).__name__}")]
    peer: ParseResult[PeerResult] = ParseResult()
    peak: ParseResult[PeakResult] = ParseResult()
    gemm: ParseResult[GemmResult] = ParseResult()
    ccl: ParseResult[CclResult] = ParseResult()
    p2p_sizes = None if all_sizes else frozenset(names.P2P_SIZES_REPORTED)
    ccl_sizes = None if all_sizes else frozenset({names.CCL_BYTES_REPORTED})
    scanners: dict[str, tuple[str, Scan]] = {
        "ze_peer": ("ze_peer", lambda piece, first: scan_ze_peer(piece, first, peer, p2p_sizes)),
        "ze_peak": ("ze_peak", ZePeakScanner(peak).scan),
        "gemm": ("matrix_mul_mkl", GemmScanner(gemm).scan),
        "ccl": ("1ccl_benchmark", CclScanner(ccl, ccl_sizes).scan),
    }
    problems: list[ParseProblem] = []
    for segment in split_by_tool(text):
        if segment.tool == "ze_peer":  # the bulk of a log: a fast path for untouched output
            _guarded("ze_peer", problems, partial(scan_ze_peer_text, text, segment.start,
                                                  segment.end, segment.first_line, peer, p2p_sizes))
            continue
        if segment.tool not in scanners and segment.tool != "unknown":
            continue
        piece = text[segment.start:segment.end].split("\n")
        for tool, (name, scan) in scanners.items():
            if segment.tool in (tool, "unknown"):
                _guarded(name, problems, partial(scan, piece, segment.first_line))
    for result in (finish_peer(peer), finish_peak(peak), finish_gemm(gemm), finish_ccl(ccl)):
        problems += result.problems

    metrics: list[Metric] = []
    metrics += _p2p_metrics(peer.records, all_sizes=all_sizes, step="")
    # One ze_peak run per test in Intel's log; with --devices all ours has one per GPU.
    for test, to_metrics in (("transfer_bw", _transfer_metrics), ("global_bw", _global_metrics)):
        runs: dict[int, list[PeakResult]] = {}
        for r in peak.records:
            if r.test == test:
                runs.setdefault(r.section, []).append(r)
        for section, run in sorted(runs.items()):
            label = str(section) if len(runs) > 1 else ""
            metrics += to_metrics(run, devices=label, step="", every=False)
    metrics += _gemm_metrics(gemm.records, devices="", step="")
    metrics += _ccl_metrics(ccl.records, all_sizes=all_sizes, devices="", step="")
    return metrics, problems


def metrics_from_step(
    kind: str, text: str, *, devices: str = "", step: str = "", all_sizes: bool = True
) -> tuple[list[Metric], list[ParseProblem]]:
    """Metrics from one step's raw output.

    ``kind`` is one of :data:`STEP_KINDS`. ``devices`` labels per-device figures
    ("0", "2"); P2P figures carry their own pair label from ze_peer's header ("0->2").
    Every line a tool printed becomes a metric (all sizes, all data types); figures with no
    reference in reference_perf.csv are simply reported as INFO downstream.
    """
    if kind == "ze_peer":
        peer = parse_ze_peer(text)
        return _p2p_metrics(peer.records, all_sizes=all_sizes, step=step), peer.problems
    if kind in ("ze_peak_transfer", "ze_peak_global"):
        peak = parse_ze_peak(text)
        if kind == "ze_peak_transfer":
            metrics = _transfer_metrics(peak.records, devices=devices, step=step, every=True)
        else:
            metrics = _global_metrics(peak.records, devices=devices, step=step, every=True)
        if not metrics and not peak.problems:
            test = "transfer_bw" if kind == "ze_peak_transfer" else "global_bw"
            return metrics, [ParseProblem("ze_peak", f"no {test} results found")]
        return metrics, peak.problems
    if kind == "gemm":
        gemm = parse_gemm(text)
        return _gemm_metrics(gemm.records, devices=devices, step=step), gemm.problems
    if kind == "ccl":
        ccl = parse_ccl_text(text)
        metrics = _ccl_metrics(ccl.records, all_sizes=all_sizes, devices=devices, step=step)
        return metrics, ccl.problems
    return [], [ParseProblem("extract", f"unknown step kind {kind!r}; expected one of "
                             f"{', '.join(STEP_KINDS)}")]


def metrics_from_ccl_csv(
    text: str, op: str, step: str = "", *, all_sizes: bool = True, devices: str = ""
) -> tuple[list[Metric], list[ParseProblem]]:
    """busbw metrics from the CSV written by ``1ccl_benchmark -o`` (rows of collective ``op``)."""
    parsed = parse_ccl_csv(text)
    records = [r for r in parsed.records if r.collective == op.lower()]
    problems = list(parsed.problems)
    if parsed.records and not records:
        problems.append(ParseProblem("1ccl_benchmark", f"CSV has no rows for {op!r}"))
    return _ccl_metrics(records, all_sizes=all_sizes, devices=devices, step=step), problems
