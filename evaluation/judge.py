"""Verdicts: each metric against its reference figure and the device's theoretical peak.

With tolerance ``tol`` (0.10 = 10 %) and ``score`` = measured / reference (reference /
measured for latencies, where lower is better):

- PASS  when ``score >= 1 - tol``           (at most ``tol`` worse than the reference)
- WARN  when ``1 - 2·tol <= score < 1 - tol`` (a band of another ``tol`` below that)
- FAIL  when ``score < 1 - 2·tol``
- INFO  when the reference has no row for the metric (nothing to judge it against)

Independently of the reference, a figure above the device's theoretical peak (with a
margin only where the peak itself is a rounded figure: ``multiarc.devices.PEAK_MARGIN``;
memory and PCIe peaks are exact) is physically impossible and is a
FAIL with the reason: e.g. ze_peak's D2D global bandwidth above the GDDR6 peak, which is what
it reports when ``NEOReadDebugKeys=1`` / ``RenderCompressedBuffersEnabled=0`` are not set
(it then reads compressed buffers).

Peaks come from :mod:`multiarc.devices` (one place for each fact):

=========================================  ==========================================
metric                                     peak
=========================================  ==========================================
p2p Unidirectional Write/Read              PCIe payload bandwidth per direction
p2p Bidirectional Write/Read               2 × that (both directions at once)
GPU memory bandwidth H2D / D2H             PCIe payload bandwidth per direction
GPU memory bandwidth D2D (any data type)   the memory's theoretical bandwidth
gemm int8 (TOPS)                           the dense INT8 peak
=========================================  ==========================================

oneCCL bus bandwidth and other figures have no peak here (their bound depends on the
topology of the collective), so no % of peak.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from multiarc.evaluation import metric_names as names
from multiarc.evaluation.gcpause import gc_paused
from multiarc.evaluation.model import Judgement, Metric, Status
from multiarc.evaluation.reference import Reference, ReferenceEntry

from multiarc.devices import PEAK_MARGIN, GpuModel

PCIE_MARGIN = PEAK_MARGIN["pcie"]

DEFAULT_TOLERANCE = 0.10

LOWER_IS_BETTER_UNITS = frozenset({names.UNIT_US, "ms", "ns", "s"})

_UNIDIRECTIONAL = frozenset({names.P2P_UNI_WRITE, names.P2P_UNI_READ})
_BIDIRECTIONAL = frozenset({names.P2P_BI_WRITE, names.P2P_BI_READ})
_HOST_LINK = frozenset({names.H2D, names.D2H})

D2D_HINT = (
    "ze_peak read compressed buffers: run it with NEOReadDebugKeys=1 and "
    "RenderCompressedBuffersEnabled=0 in the environment"
)


def lower_is_better(unit: str) -> bool:
    return unit in LOWER_IS_BETTER_UNITS


@dataclass(frozen=True)
class Peak:
    value: float
    unit: str
    what: str  # e.g. "PCIe 5.0 x8, per direction"
    margin: float = 1.0  # above value × margin a figure is impossible (PEAK_MARGIN)


def peak_for(metric: Metric, model: GpuModel | None) -> Peak | None:
    """The theoretical upper bound of a metric on this GPU model, where it is known."""
    if model is None:
        return None
    if metric.unit == names.UNIT_GBPS:
        link = model.pcie_gbps_per_direction
        pcie = f"PCIe {model.pcie_gen}.0 x{model.pcie_width}"
        if metric.category == names.P2P and link is not None:
            if metric.subcategory in _UNIDIRECTIONAL:
                return Peak(link, names.UNIT_GBPS, f"{pcie}, per direction", PCIE_MARGIN)
            if metric.subcategory in _BIDIRECTIONAL:
                return Peak(2 * link, names.UNIT_GBPS, f"{pcie}, both directions", PCIE_MARGIN)
        if metric.category == names.MEMORY_BW:
            if metric.subcategory in _HOST_LINK and link is not None:
                return Peak(link, names.UNIT_GBPS, f"{pcie}, per direction", PCIE_MARGIN)
            if metric.subcategory == names.D2D and model.memory_gbps is not None:
                return Peak(
                    model.memory_gbps, names.UNIT_GBPS, "memory bandwidth", PEAK_MARGIN["memory"]
                )
    if (
        metric.category == names.GEMM
        and metric.subcategory == "int8"
        and metric.unit == names.UNIT_TOPS
        and model.int8_tops is not None
    ):
        return Peak(model.int8_tops, names.UNIT_TOPS, "dense INT8", PEAK_MARGIN["int8"])
    return None


def verdict_for_score(score: float, tolerance: float) -> Status:
    """PASS / WARN / FAIL for ``score`` = how good the figure is relative to the reference."""
    if score >= 1 - tolerance:
        return Status.PASS
    if score >= 1 - 2 * tolerance:
        return Status.WARN
    return Status.FAIL


def judge_metric(
    metric: Metric,
    reference: Reference | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    gpu_model: GpuModel | None = None,
) -> Judgement:
    """The verdict for one metric (see the module's docstring for the rules)."""
    entry = reference.get(metric.key) if reference is not None else None
    return _judge(metric, entry, peak_for(metric, gpu_model), tolerance, gpu_model)


def _judge(
    metric: Metric,
    entry: ReferenceEntry | None,
    peak: Peak | None,
    tolerance: float,
    gpu_model: GpuModel | None,
) -> Judgement:
    pct = round(100 * metric.value / peak.value, 1) if peak is not None else None
    ref = entry.value if entry is not None else None
    ratio = round(metric.value / ref, 4) if ref is not None else None
    if peak is not None and metric.value > peak.value * peak.margin:
        name = gpu_model.name if gpu_model is not None else "device"
        note = (
            f"{metric.value:g} {metric.unit} is above the theoretical peak {peak.value:.4g} "
            f"{peak.unit} ({peak.what}) of the {name}: physically impossible"
        )
        if metric.category == names.MEMORY_BW and metric.subcategory == names.D2D:
            note += f"; {D2D_HINT}"
        else:
            note += "; check the tool's output and how it was run"
        return Judgement(metric, Status.FAIL, ref, ratio, pct, note)
    if entry is None or ref is None:
        return Judgement(metric, Status.INFO, None, None, pct, "no reference for this key")
    if lower_is_better(metric.unit):
        score = ref / metric.value if metric.value > 0 else float("inf")
    else:
        score = metric.value / ref
    verdict = verdict_for_score(score, tolerance)
    note = ""
    if verdict is not Status.PASS:
        worse = "higher" if lower_is_better(metric.unit) else "lower"
        off = abs(metric.value - ref) / ref * 100
        note = f"{off:.1f} % {worse} than the reference {entry.text}"
    return Judgement(metric, verdict, ref, ratio, pct, note)


@gc_paused()
def judge(
    metrics: Iterable[Metric],
    reference: Reference | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    gpu_model: GpuModel | None = None,
) -> list[Judgement]:
    """A judgement for every metric, in the metrics' order."""
    if not 0 <= tolerance < 0.5:
        raise ValueError(f"tolerance {tolerance} out of range [0, 0.5)")
    # Logs repeat the same few keys thousands of times: look each one up once.
    found: dict[tuple[str, str, str, str], tuple[ReferenceEntry | None, Peak | None]] = {}
    judgements = []
    for m in metrics:
        cache_key = (m.category, m.subcategory, m.size, m.unit)
        hit = found.get(cache_key)
        if hit is None:
            entry = reference.get(m.key) if reference is not None else None
            hit = found[cache_key] = (entry, peak_for(m, gpu_model))
        judgements.append(_judge(m, hit[0], hit[1], tolerance, gpu_model))
    return judgements


def count_verdicts(judgements: Iterable[Judgement]) -> dict[str, int]:
    """{"PASS": n, "WARN": n, "FAIL": n, "INFO": n} (every key present)."""
    counts = {str(s): 0 for s in (Status.PASS, Status.WARN, Status.FAIL, Status.INFO)}
    for j in judgements:
        counts[str(j.verdict)] = counts.get(str(j.verdict), 0) + 1
    return counts
