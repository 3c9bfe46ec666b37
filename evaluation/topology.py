"""Where each GPU sits on the PCIe tree, and the class of every GPU pair.

A pair's P2P figures depend on the path between the two GPUs, not only on the GPUs: two
B60 of one dual board talk through the board's own PCIe switch, two boards through the
root complex, two sockets through the CPU interconnect. Judging every pair against the
reference Intel measured on a same-board pair (0-1) fails healthy cross-board pairs.

The path is read from sysfs, as the kernel lays it out: ``/sys/bus/pci/devices/<BDF>`` is
a link into ``/sys/devices/pci<domain>:<bus>/<root port>/<bridge>.../<BDF>``, the chain of
parent bridges up to the host bridge; ``numa_node`` says the socket. It is cross-checked
with ``lspci -tv`` (the tree lspci draws): two GPUs under one root port share a switch,
two root ports of one host bridge share a root complex. Classes, nearest first:

- ``same switch``: a PCIe switch below one root port (one dual-GPU board);
- ``same root complex``: different root ports of one host bridge;
- ``across root complexes``: different host bridges of one NUMA node;
- ``across sockets``: different NUMA nodes.

GPU numbers are Level Zero indices, mapped to PCI addresses by ``xpu-smi discovery``
(its Device ID and PCI BDF Address), else by PCI address order (Level Zero's order with
``ZE_ENABLE_PCI_ID_DEVICE_ORDER=1``, the order sycl-ls prints on these hosts).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAME_SWITCH = "same switch"
SAME_ROOT_COMPLEX = "same root complex"
ACROSS_ROOT_COMPLEXES = "across root complexes"
ACROSS_SOCKETS = "across sockets"
PAIR_CLASSES = (SAME_SWITCH, SAME_ROOT_COMPLEX, ACROSS_ROOT_COMPLEXES, ACROSS_SOCKETS)

_BDF = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_HOST_BRIDGE = re.compile(r"^pci[0-9a-f]{4}:[0-9a-f]{2}$")
_PAIR_LABEL = re.compile(r"^(\d+)\s*(?:<->|->|<-)\s*(\d+)$")


@dataclass(frozen=True)
class GpuPlace:
    index: int  # Level Zero index
    bdf: str
    chain: tuple[str, ...]  # host bridge ("pci0000:15"), then the bridges' BDFs down to the GPU
    numa_node: int | None


@dataclass
class Topology:
    gpus: dict[int, GpuPlace] = field(default_factory=dict)
    source: str = ""  # "sysfs", "lspci -tv"
    notes: list[str] = field(default_factory=list)  # disagreements, fallbacks

    def pair_class(self, a: int, b: int) -> str | None:
        first, second = self.gpus.get(a), self.gpus.get(b)
        if first is None or second is None:
            return None
        return classify(first, second)

    def class_of_label(self, devices: str) -> str | None:
        """The class of a P2P figure's pair label ("0->2", "1<->3"); None if unknown."""
        match = _PAIR_LABEL.match(devices.strip())
        return self.pair_class(int(match[1]), int(match[2])) if match else None

    @property
    def reference_class(self) -> str | None:
        """The class of the pair 0-1, which Intel's reference rows were measured on."""
        return self.pair_class(0, 1)

    def groups(self) -> dict[str, list[tuple[int, int]]]:
        """Every unordered pair of GPUs by class."""
        found: dict[str, list[tuple[int, int]]] = {}
        indices = sorted(self.gpus)
        for i, a in enumerate(indices):
            for b in indices[i + 1 :]:
                cls = self.pair_class(a, b)
                if cls is not None:
                    found.setdefault(cls, []).append((a, b))
        return found

    def describe(self) -> str:
        parts = [f"{cls}: " + ", ".join(f"{a}-{b}" for a, b in pairs)
                 for cls, pairs in self.groups().items()]  # fmt: skip
        return "; ".join(parts) or "one GPU"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "notes": list(self.notes),
            "gpus": [
                {"index": g.index, "bdf": g.bdf, "chain": list(g.chain), "numa_node": g.numa_node}
                for g in sorted(self.gpus.values(), key=lambda g: g.index)
            ],
            "pairs": {cls: [f"{a}-{b}" for a, b in pairs] for cls, pairs in self.groups().items()},
        }

    @classmethod
    def from_dict(cls, data: Any) -> Topology | None:
        if not isinstance(data, dict) or not isinstance(data.get("gpus"), list):
            return None
        gpus = {}
        for item in data["gpus"]:
            try:
                place = GpuPlace(
                    int(item["index"]), str(item["bdf"]), tuple(str(c) for c in item["chain"]),
                    item.get("numa_node") if isinstance(item.get("numa_node"), int) else None,
                )  # fmt: skip
            except (KeyError, TypeError, ValueError):
                continue
            gpus[place.index] = place
        return cls(gpus, str(data.get("source", "")), [str(n) for n in data.get("notes", [])])


def classify(a: GpuPlace, b: GpuPlace) -> str:
    common = 0
    for x, y in zip(a.chain, b.chain, strict=False):
        if x != y:
            break
        common += 1
    if common >= 2:  # the same root port: the path runs through a switch below it
        return SAME_SWITCH
    if common == 1:
        return SAME_ROOT_COMPLEX
    if a.numa_node is not None and b.numa_node is not None and a.numa_node != b.numa_node:
        return ACROSS_SOCKETS
    return ACROSS_ROOT_COMPLEXES


def sysfs_chain(root: Path, bdf: str) -> tuple[str, ...] | None:
    """("pci0000:15", "0000:15:01.0", ..., bdf) from the device's sysfs link, or None."""
    link = root / "sys/bus/pci/devices" / bdf
    try:
        real = Path(os.path.realpath(link))
        devices = Path(os.path.realpath(root / "sys/devices"))
        parts = real.relative_to(devices).parts
    except (OSError, ValueError):
        return None
    if not parts or not _HOST_BRIDGE.match(parts[0]) or parts[-1] != bdf:
        return None
    if not all(_BDF.match(p) for p in parts[1:]):
        return None
    return tuple(parts)


# ----------------------------------------------------------------------------- lspci -tv

_ROOT = re.compile(r"\[([0-9a-f]{4}):([0-9a-f]{2})\]")
_RANGE = re.compile(r"-\[([0-9a-f]{2})(?:-([0-9a-f]{2}))?\]")


@dataclass(frozen=True)
class _TreeRoot:
    domain: str
    bus: int
    ranges: tuple[tuple[int, int], ...]  # secondary bus ranges of every bridge below it

    def root_ports(self) -> list[tuple[int, int]]:
        """The ranges no other range holds: one per root port."""
        def held(r: tuple[int, int]) -> bool:
            return any(o != r and o[0] <= r[0] and r[1] <= o[1] for o in self.ranges)

        return [r for r in self.ranges if not held(r)]


def parse_lspci_tree(text: str) -> list[_TreeRoot]:
    """The host bridges of ``lspci -tv`` with the bus ranges drawn below each."""
    roots: list[_TreeRoot] = []
    current: tuple[str, int] | None = None
    ranges: list[tuple[int, int]] = []
    for line in text.splitlines():
        found = _ROOT.search(line)
        if found:
            if current is not None:
                roots.append(_TreeRoot(current[0], current[1], tuple(ranges)))
            current, ranges = (found[1], int(found[2], 16)), []
            line = line[found.end():]
        for match in _RANGE.finditer(line):
            low = int(match[1], 16)
            ranges.append((low, int(match[2], 16) if match[2] else low))
    if current is not None:
        roots.append(_TreeRoot(current[0], current[1], tuple(ranges)))
    return roots


def lspci_chain(roots: Iterable[_TreeRoot], bdf: str) -> tuple[str, ...] | None:
    """A coarse chain from lspci -tv: host bridge, then the root port's bus range."""
    domain, bus_text = bdf.split(":")[0], bdf.split(":")[1]
    bus = int(bus_text, 16)
    for root in roots:
        if root.domain != domain:
            continue
        for low, high in root.root_ports():
            if low <= bus <= high:
                return (f"pci{root.domain}:{root.bus:02x}", f"{low:02x}-{high:02x}", bdf)
        if bus == root.bus:
            return (f"pci{root.domain}:{root.bus:02x}", bdf)
    return None


# ----------------------------------------------------------------------------- building


@dataclass(frozen=True)
class GpuInput:
    """What the topology needs of one GPU: its Level Zero index, address and NUMA node."""

    index: int
    bdf: str
    numa_node: int | None


def build_topology(root: Path, gpus: Iterable[GpuInput], lspci_tv: str | None) -> Topology:
    """The topology from sysfs, checked against ``lspci -tv`` (sysfs missing: lspci only)."""
    gpus = list(gpus)
    tree = parse_lspci_tree(lspci_tv) if lspci_tv else []
    topo = Topology(source="sysfs")
    lspci_places: dict[int, GpuPlace] = {}
    for gpu in gpus:
        coarse = lspci_chain(tree, gpu.bdf) if tree else None
        if coarse is not None:
            lspci_places[gpu.index] = GpuPlace(gpu.index, gpu.bdf, coarse, gpu.numa_node)
        chain = sysfs_chain(root, gpu.bdf)
        if chain is not None:
            topo.gpus[gpu.index] = GpuPlace(gpu.index, gpu.bdf, chain, gpu.numa_node)
    if not topo.gpus and lspci_places:
        topo.gpus, topo.source = lspci_places, "lspci -tv"
        topo.notes.append("sysfs has no PCIe hierarchy here: classes from lspci -tv")
        return topo
    _cross_check(topo, lspci_places)
    return topo


def _cross_check(topo: Topology, lspci_places: dict[int, GpuPlace]) -> None:
    if not lspci_places:
        if topo.gpus:
            topo.notes.append("lspci -tv not available: sysfs alone")
        return
    coarse = Topology(lspci_places, "lspci -tv")
    for a in sorted(topo.gpus):
        for b in sorted(topo.gpus):
            if a >= b:
                continue
            mine, theirs = topo.pair_class(a, b), coarse.pair_class(a, b)
            if theirs is None or mine is None:
                continue
            cross = (ACROSS_ROOT_COMPLEXES, ACROSS_SOCKETS)
            if mine != theirs and not (mine in cross and theirs in cross):
                topo.notes.append(f"GPUs {a}-{b}: sysfs says {mine}, lspci -tv {theirs}")
    if not topo.notes:
        topo.source = "sysfs (lspci -tv agrees)"
