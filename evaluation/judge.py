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
from multiarc.evaluation.peers import NO_CLASS_REFERENCE, apply_peer_verdicts
from multiarc.evaluation.reference import Reference, ReferenceEntry
from multiarc.evaluation.topology import Topology

from multiarc.devices import PEAK_MARGIN, GpuModel

PCIE_MARGIN = PEAK_MARGIN["pcie"]

DEFAULT_TOLERANCE = 0.10

LOWER_IS_BETTER_UNITS = names.LOWER_IS_BETTER_UNITS

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
    topology: Topology | None = None,
) -> list[Judgement]:
    """A judgement for every metric, in the metrics' order.

    With a ``topology``, each P2P figure is judged against the reference row for its pair's
    class (a ``Topology`` row), else Intel's row when the pair is of the class of the pair
    0-1 (what Intel measured), else against the other pairs of its class; then every
    figure is compared with its peers (peers.py)."""
    if not 0 <= tolerance < 0.5:
        raise ValueError(f"tolerance {tolerance} out of range [0, 0.5)")
    # Logs repeat the same few keys thousands of times: look each one up once.
    found: dict[tuple[str, ...], tuple[ReferenceEntry | None, Peak | None, bool]] = {}
    classes: dict[str, str | None] = {}
    judgements = []
    for m in metrics:
        cls = None
        if topology is not None and m.category == names.P2P and m.devices:
            if m.devices not in classes:
                classes[m.devices] = topology.class_of_label(m.devices)
            cls = classes[m.devices]
        cache_key = (m.category, m.subcategory, m.size, m.unit, cls or "")
        hit = found.get(cache_key)
        if hit is None:
            hit = found[cache_key] = _reference_for(m, cls, reference, topology, gpu_model)
        entry, peak, by_peers = hit
        j = _judge(m, entry, peak, tolerance, gpu_model)
        j.group = cls or ""
        if by_peers:
            j.by_peers = True
            j.note = NO_CLASS_REFERENCE.format(cls=cls)
        judgements.append(j)
    apply_peer_verdicts(judgements, tolerance)
    return judgements


def _reference_for(
    m: Metric,
    cls: str | None,
    reference: Reference | None,
    topology: Topology | None,
    gpu_model: GpuModel | None,
) -> tuple[ReferenceEntry | None, Peak | None, bool]:
    """(the reference row, the peak, judged by its peers alone) for one metric."""
    peak = peak_for(m, gpu_model)
    if reference is None:
        return None, peak, False
    if cls is None:
        return reference.get(m.key), peak, False
    entry = reference.for_class(m.key, cls)
    if entry is None and (topology is None or topology.reference_class in (None, cls)):
        entry = reference.get(m.key)
    by_peers = entry is None and reference.has_key(m.key)
    return entry, peak, by_peers


def count_verdicts(judgements: Iterable[Judgement]) -> dict[str, int]:
    """{"PASS": n, "WARN": n, "FAIL": n, "INFO": n} (every key present)."""
    counts = {
        str(s): 0 for s in (Status.PASS, Status.WARN, Status.FAIL, Status.UNSTABLE, Status.INFO)
    }
    for j in judgements:
        counts[str(j.verdict)] = counts.get(str(j.verdict), 0) + 1
    return counts
