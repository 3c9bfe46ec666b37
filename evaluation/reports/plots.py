"""Plots for report.html, drawn with matplotlib's Agg renderer into base64 PNG data: URIs.

Two stages: :func:`plot_data` aggregates the judgements into a small :class:`PlotData`
(one bar per metric key, one point per message size, one cell per GPU pair: the mean of
repeated runs), so a log with thousands of runs draws as fast as one with a single run;
:func:`render_plots` draws it. PlotData is plain and picklable, so the drawing can run in
another process while the other reports are written (:mod:`.api`).

matplotlib is imported only by :func:`render_plots` (it takes about half a second).
"""

from __future__ import annotations

import base64
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from multiarc.evaluation import metric_names as names
from multiarc.evaluation.judge import peak_for
from multiarc.evaluation.model import Judgement

from .run_report import RunReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PAIR = re.compile(r"^\s*(\d+)\s*(?:->|<-|<->)\s*(\d+)\s*$")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
_FACTOR = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_VERDICT_COLOUR = {"PASS": "#4caf50", "WARN": "#f0b400", "FAIL": "#d9382e", "INFO": "#7a9cc6"}
_RANK = {"FAIL": 0, "UNSTABLE": 1, "WARN": 2, "PASS": 3, "INFO": 4, "SKIP": 5}
MAX_BARS = 40
_P2P_SIZES = frozenset(names.P2P_SIZES_REPORTED)
MAX_GPUS = 16  # a P2P matrix larger than this is not drawn (labels would be unreadable)

Cells = dict[tuple[int, int], float]
# Short names of the topology classes drawn in the P2P cells (topology.py).
CLASS_ABBREVIATIONS = {
    "same switch": "sw", "same root complex": "rc",
    "across root complexes": "x-rc", "across sockets": "x-sock",
}  # fmt: skip
FONT = 10  # readable at 100 % zoom
DPI = 100

CAPTION_P2P = "P2P bandwidth between GPU pairs (ze_peer; mean of runs, largest size measured)"
CAPTION_BARS = "Bandwidth against reference and theoretical peak (mean over devices and runs)"
CAPTION_CCL = "oneCCL busbw against message size (mean of runs)"


@dataclass
class Bar:
    label: str
    value: float  # mean over devices and runs
    verdict: str  # the worst verdict among them
    reference: float | None
    peak: float | None


@dataclass
class PlotData:
    p2p: dict[str, tuple[str, Cells]] = field(default_factory=dict)  # sub -> (size, cells)
    classes: dict[tuple[int, int], str] = field(default_factory=dict)  # pair -> topology class
    link_bars: list[Bar] = field(default_factory=list)  # P2P, H2D, D2H (PCIe-bound)
    memory_bars: list[Bar] = field(default_factory=list)  # D2D
    ccl: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # op -> [(bytes, GB/s)]

    @property
    def empty(self) -> bool:
        return not (self.p2p or self.link_bars or self.memory_bars or self.ccl)


def size_bytes(label: str) -> int | None:
    """ "128 MB" / "128MB" / "4KB" / "512" -> bytes (binary units, as the tools mean them)."""
    match = _SIZE.match(label)
    if not match:
        return None
    return int(match.group(1)) * _FACTOR[match.group(2).upper()]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def p2p_matrices(judgements: Iterable[Judgement]) -> dict[str, tuple[str, Cells]]:
    """Per P2P subcategory: (size shown, {(src, dst): mean GB/s}) at the largest size measured."""
    values: dict[str, dict[str, dict[tuple[int, int], list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    pairs: dict[str, re.Match[str] | None] = {}
    for j in judgements:
        m = j.metric
        if m.category != names.P2P or m.unit != names.UNIT_GBPS:
            continue
        pair = pairs.get(m.devices)
        if m.devices not in pairs:
            pair = pairs[m.devices] = _PAIR.match(m.devices)
        if pair is None:
            continue
        values[m.subcategory][m.size][(int(pair.group(1)), int(pair.group(2)))].append(m.value)
    result = {}
    for sub, by_size in values.items():
        size = max(by_size, key=lambda s: size_bytes(s) or 0)
        result[sub] = (size, {cell: _mean(v) for cell, v in by_size[size].items()})
    return result


def _bars(report: RunReport) -> tuple[list[Bar], list[Bar]]:
    groups: dict[tuple[str, str, str, str], list[Judgement]] = {}
    for j in report.judgements:
        m = j.metric
        if m.unit == names.UNIT_GBPS and m.category in (names.P2P, names.MEMORY_BW):
            # P2P pairs of another topology class are another bar (and another reference)
            groups.setdefault((*m.key, j.group), []).append(j)
    link: list[Bar] = []
    memory: list[Bar] = []
    for (*key, group), js in groups.items():
        peak = peak_for(js[0].metric, report.gpu_model)
        if js[0].reference is None and peak is None:
            continue  # nothing to draw it against
        if js[0].reference is None and key[0] == names.P2P and key[2] not in _P2P_SIZES:
            continue  # a run folder has every size (8 B ...): show those the reference keys use
        worst = min((str(j.verdict) for j in js), key=lambda v: _RANK.get(v, 9))
        bar = Bar(
            " ".join(part for part in key[1:] if part) + (f" ({group})" if group else ""),
            _mean([j.metric.value for j in js]),
            worst,
            js[0].reference,
            peak.value if peak else None,
        )
        (memory if key[1] == names.D2D else link).append(bar)
    return link[:MAX_BARS], memory[:MAX_BARS]


def _ccl_series(judgements: Iterable[Judgement]) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    sizes: dict[str, int | None] = {}
    for j in judgements:
        m = j.metric
        if m.category != names.CCL:
            continue
        size = sizes.get(m.size)
        if m.size not in sizes:
            size = sizes[m.size] = size_bytes(m.size)
        if size:
            series[m.subcategory][size].append(m.value)
    return {op: sorted((s, _mean(v)) for s, v in by.items()) for op, by in sorted(series.items())}


def pair_classes(judgements: Iterable[Judgement]) -> dict[tuple[int, int], str]:
    found: dict[tuple[int, int], str] = {}
    for j in judgements:
        if j.group and j.metric.category == names.P2P:
            pair = _PAIR.match(j.metric.devices)
            if pair:
                found[(int(pair.group(1)), int(pair.group(2)))] = j.group
    return found


def plot_data(report: RunReport) -> PlotData:
    """What the plots show, aggregated (small, whatever the number of runs)."""
    link, memory = _bars(report)
    p2p = {
        k: v
        for k, v in p2p_matrices(report.judgements).items()
        if max(max(cell) for cell in v[1]) < MAX_GPUS
    }
    classes = pair_classes(report.judgements) if p2p else {}
    return PlotData(p2p, classes, link, memory, _ccl_series(report.judgements))


# --- drawing ---------------------------------------------------------------------------


def _data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    # "tight": the saved area grows to every title, label and legend: nothing is cut off
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _draw_p2p(p2p: dict[str, tuple[str, Cells]], classes: dict[tuple[int, int], str]) -> str:
    from matplotlib.figure import Figure

    order = [
        s
        for s in (names.P2P_UNI_WRITE, names.P2P_UNI_READ, names.P2P_BI_WRITE, names.P2P_BI_READ)
        if s in p2p
    ]
    order += sorted(s for s in p2p if s not in order)
    n = 1 + max(max(cell) for _, cells in p2p.values() for cell in cells)
    fig = Figure(figsize=(3.9 * len(order) + 1.0, 4.4), layout="constrained")
    axes = fig.subplots(1, len(order), squeeze=False)[0]
    top = max(max(cells.values()) for _, cells in p2p.values()) or 1.0
    image = None
    for index, (ax, sub) in enumerate(zip(axes, order, strict=True)):
        size, cells = p2p[sub]
        grid = [[float("nan")] * n for _ in range(n)]
        for (src, dst), value in cells.items():
            grid[src][dst] = value
        image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=top)
        for (src, dst), value in cells.items():
            colour = "black" if value > 0.6 * top else "white"  # readable on viridis
            cls = CLASS_ABBREVIATIONS.get(classes.get((src, dst), ""), "")
            ax.text(dst, src, f"{value:.1f}" + (f"\n{cls}" if cls and n <= 8 else ""),
                    ha="center", va="center", color=colour,
                    fontsize=FONT - 1 if n <= 4 else FONT - 3)  # fmt: skip
        ax.set_title(f"{sub}\n{size}", fontsize=FONT)
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.tick_params(labelsize=FONT - 1, length=2)
        ax.set_xlabel("destination GPU (-d)", fontsize=FONT - 1)
        if index == 0:
            ax.set_ylabel("source GPU (-s)", fontsize=FONT - 1)
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes), shrink=0.85, pad=0.02)
        bar.set_label("GB/s", fontsize=FONT - 1)
        bar.ax.tick_params(labelsize=FONT - 2)
    if classes:
        order = list(CLASS_ABBREVIATIONS)
        shown = sorted(set(classes.values()), key=lambda c: order.index(c) if c in order else 9)
        legend = ", ".join(f"{CLASS_ABBREVIATIONS.get(c, c)} = {c}" for c in shown)
        fig.supxlabel(f"pairs: {legend}", fontsize=FONT - 1)
    return _data_uri(fig)


def _draw_bars(panels: list[tuple[str, list[Bar]]]) -> str:
    from matplotlib.figure import Figure

    rows = sum(len(bars) for _, bars in panels)
    fig = Figure(figsize=(9, 0.35 * rows + 1.2 * len(panels) + 0.8))
    axes = fig.subplots(
        len(panels),
        1,
        squeeze=False,
        gridspec_kw={"height_ratios": [len(b) + 1 for _, b in panels]},
    )
    fig.subplots_adjust(left=0.27, right=0.97, top=0.95, bottom=0.07, hspace=0.5)
    for ax, (title, bars) in zip(axes[:, 0], panels, strict=True):
        ys = list(range(len(bars)))
        ax.barh(
            ys,
            [b.value for b in bars],
            height=0.6,
            color=[_VERDICT_COLOUR.get(b.verdict, "#999") for b in bars],
        )
        refs = [(b.reference, y) for b, y in zip(bars, ys, strict=True) if b.reference]
        peaks = [(b.peak, y) for b, y in zip(bars, ys, strict=True) if b.peak]
        if refs:
            ax.scatter(
                *zip(*refs, strict=True),
                marker="|",
                s=250,
                color="black",
                label="reference",
                zorder=3,
            )
        if peaks:
            ax.scatter(
                *zip(*peaks, strict=True),
                marker="|",
                s=250,
                linewidths=2.5,
                color="#6a1b9a",  # not a verdict colour: visible on red (FAIL) bars too
                label="theoretical peak",
                zorder=3,
            )
        top = max(max(b.value, b.reference or 0, b.peak or 0) for b in bars)
        ax.set_xlim(0, (top or 1.0) * 1.4)  # room on the right for the legend, clear of bars
        ax.set_yticks(ys, [b.label for b in bars], fontsize=FONT - 1)
        ax.set_ylim(len(bars) - 0.5, -0.5)
        ax.tick_params(axis="x", labelsize=FONT - 1)
        ax.set_xlabel("GB/s", fontsize=FONT - 1)
        ax.set_title(f"{title} (bar colour = worst verdict)", fontsize=FONT)
        if refs or peaks:
            ax.legend(fontsize=FONT - 2, loc="lower right", framealpha=0.9)
    return _data_uri(fig)


def _draw_ccl(ccl: dict[str, list[tuple[int, float]]]) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.4))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.15)
    ax = fig.add_subplot(1, 1, 1)
    for collective, points in ccl.items():
        ax.plot(
            [s for s, _ in points],
            [v for _, v in points],
            marker="o",
            markersize=3,
            label=collective,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("message size (bytes)", fontsize=FONT)
    ax.set_ylabel("busbw (GB/s)", fontsize=FONT)
    ax.tick_params(labelsize=FONT - 1)
    ax.set_title("oneCCL bus bandwidth", fontsize=FONT + 1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=FONT - 1)
    return _data_uri(fig)


def render_plots(data: PlotData) -> list[tuple[str, str]]:
    """(caption, data: URI) for every plot the data allows."""
    images = []
    if data.p2p:
        images.append((CAPTION_P2P, _draw_p2p(data.p2p, data.classes)))
    panels = [
        (t, b)
        for t, b in (
            ("PCIe: P2P, host <-> device", data.link_bars),
            ("device memory (D2D)", data.memory_bars),
        )
        if b
    ]
    if panels:
        images.append((CAPTION_BARS, _draw_bars(panels)))
    if data.ccl:
        images.append((CAPTION_CCL, _draw_ccl(data.ccl)))
    return images


def report_plots(report: RunReport) -> list[tuple[str, str]]:
    return render_plots(plot_data(report))
