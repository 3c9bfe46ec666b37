"""``lspci`` (pciutils): ``-nn -D`` device lines and ``-vvv`` blocks.

``-nn -D`` line::

    0000:18:00.0 VGA compatible controller [0300]: Intel Corporation Device [8086:e211]

``-vvv`` block (with or without ``-nn``/``-D`` in its header line)::

    0000:18:00.0 VGA compatible controller [0300]: Intel Corporation Device [8086:e211] (...)
        Region 0: Memory at 94000000 (64-bit, non-prefetchable) [size=16M]
        Region 2: Memory at 6000000000 (64-bit, prefetchable) [size=32G]
            LnkCap:    Port #0, Speed 32GT/s, Width x8, ASPM L1, Exit Latency L1 <4us
            LnkSta:    Speed 2.5GT/s (downgraded), Width x8
        Kernel driver in use: xe

Which ids are GPUs comes from :mod:`multiarc.devices`, the project's one device table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multiarc import devices

from .base import ParseResult, never_raises, numbered_lines, size_to_bytes, to_float

TOOL = "lspci"

_BDF = r"(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"
_NN_LINE = re.compile(
    rf"^(?P<bdf>{_BDF})\s+(?P<class_name>[^\[\]:]+?)\s+\[(?P<class_id>[0-9a-fA-F]{{4}})\]:\s+"
    r"(?P<name>.*?)\s*\[(?P<vendor>[0-9a-fA-F]{4}):(?P<device>[0-9a-fA-F]{4})\]"
    r"(?:\s+\(rev (?P<rev>[0-9a-fA-F]{2})\))?(?:\s+\(prog-if [^)]*\)?\)?)?\s*$"
)
# Header line of a -vvv block without -nn:
# "18:00.0 VGA compatible controller: Intel Corporation Device e211 (prog-if ...)"
_PLAIN_LINE = re.compile(
    rf"^(?P<bdf>{_BDF})\s+(?P<class_name>[^:]+?):\s+(?P<name>.*?)"
    r"(?:\s+\(rev (?P<rev>[0-9a-fA-F]{2})\))?(?:\s+\(prog-if [^)]*\)?\)?)?\s*$"
)
_LINK = re.compile(
    r"Speed\s+(?P<speed>[\d.]+)GT/s(?:\s*\((?P<speed_note>[^)]*)\))?,\s*Width\s+x(?P<width>\d+)"
    r"(?:\s*\((?P<width_note>[^)]*)\))?"
)
_REGION = re.compile(
    r"^Region\s+(?P<index>\d+):\s+(?P<kind>Memory|I/O ports)\s+at\s+(?P<address>\S+)"
    r"(?:\s+\((?P<flags>[^)]*)\))?(?P<tail>.*)$"
)
_SIZE = re.compile(r"\[size=(?P<number>\d+)(?P<unit>[KMGT]?)\]")
_REBAR = re.compile(r"^BAR\s+(?P<index>\d+):\s+current size:\s*(?P<number>\d+)(?P<unit>[KMGT]?B)")


def _norm_bdf(bdf: str) -> str:
    bdf = bdf.lower()
    return bdf if bdf.count(":") == 2 else f"0000:{bdf}"


@dataclass(frozen=True)
class PciDevice:
    """One ``lspci -nn -D`` line."""

    bdf: str  # always with domain: "0000:18:00.0"
    class_name: str  # "VGA compatible controller"
    class_id: str  # "0300"
    vendor_id: str  # "8086"
    device_id: str  # "e211"
    name: str  # "Intel Corporation Device"
    rev: str | None
    line: int

    @property
    def is_display(self) -> bool:
        return self.class_id.startswith("03")

    @property
    def is_supported_gpu(self) -> bool:
        return self.is_display and devices.is_supported_gpu(self.vendor_id, self.device_id)


@dataclass(frozen=True)
class PciRegion:
    index: int
    kind: str  # "Memory" or "I/O ports"
    address: str
    size_bytes: int | None
    prefetchable: bool
    is_64bit: bool
    disabled: bool


@dataclass(frozen=True)
class PciDetail:
    """One ``lspci -vvv`` block."""

    bdf: str
    class_name: str
    class_id: str | None  # only with -nn
    vendor_id: str | None  # only with -nn
    device_id: str | None  # only with -nn
    name: str
    link_cap_speed_gts: float | None
    link_cap_width: int | None
    link_sta_speed_gts: float | None
    link_sta_width: int | None
    link_sta_speed_note: str  # "downgraded", "overdriven", "ok" or ""
    link_sta_width_note: str
    regions: tuple[PciRegion, ...]
    rebar_current_bytes: tuple[tuple[int, int], ...]  # (BAR index, current size) from Resizable BAR
    driver: str | None  # "Kernel driver in use"
    modules: tuple[str, ...]
    line: int
    capabilities_hidden: bool = False  # "Capabilities: <access denied>": lspci run without root

    @property
    def link_downgraded(self) -> bool:
        return "downgraded" in (self.link_sta_speed_note + self.link_sta_width_note)

    @property
    def largest_bar_bytes(self) -> int | None:
        sizes = [r.size_bytes for r in self.regions if r.kind == "Memory" and r.size_bytes]
        return max(sizes) if sizes else None

    def is_supported_gpu(self) -> bool:
        if self.vendor_id and self.device_id:
            display = bool(self.class_id and self.class_id.startswith("03"))
            return display and devices.is_supported_gpu(self.vendor_id, self.device_id)
        # Without -nn: "Intel Corporation Device e211" / "... Battlemage G21 [...]"
        if "intel" not in self.name.lower() or not any(
            word in self.class_name.lower() for word in ("vga", "display", "3d")
        ):
            return False
        return any(
            model.discrete and re.search(rf"\b{model.device_id}\b", self.name.lower())
            for model in devices.GPU_MODELS.values()
        )


@never_raises(TOOL)
def parse_lspci_nn(text: str) -> ParseResult[PciDevice]:
    """Every device line of ``lspci -nn -D`` (or ``-nn``) output, wherever it sits."""
    result: ParseResult[PciDevice] = ParseResult()
    for number, line in numbered_lines(text):
        match = _NN_LINE.match(line.strip()) if line[:1] not in ("\t", " ") else None
        if not match:
            continue
        result.records.append(
            PciDevice(
                bdf=_norm_bdf(match["bdf"]),
                class_name=match["class_name"].strip(),
                class_id=match["class_id"].lower(),
                vendor_id=match["vendor"].lower(),
                device_id=match["device"].lower(),
                name=match["name"].strip(),
                rev=match["rev"],
                line=number,
            )
        )
    if not result.records:
        result.problem(TOOL, "no 'lspci -nn' device lines found")
    return result


def supported_gpus(devices_found: list[PciDevice]) -> list[PciDevice]:
    """The Battlemage GPUs (per multiarc.devices) among ``lspci -nn`` devices."""
    return [d for d in devices_found if d.is_supported_gpu]


class _Block:
    def __init__(self, header: re.Match[str], line: int, with_ids: bool) -> None:
        self.header = header
        self.line = line
        self.with_ids = with_ids
        self.cap: tuple[float | None, int | None] = (None, None)
        self.sta: tuple[float | None, int | None, str, str] = (None, None, "", "")
        self.regions: list[PciRegion] = []
        self.rebar: list[tuple[int, int]] = []
        self.driver: str | None = None
        self.modules: tuple[str, ...] = ()
        self.hidden = False

    def detail(self) -> PciDetail:
        h = self.header
        return PciDetail(
            bdf=_norm_bdf(h["bdf"]),
            class_name=h["class_name"].strip(),
            class_id=h["class_id"].lower() if self.with_ids else None,
            vendor_id=h["vendor"].lower() if self.with_ids else None,
            device_id=h["device"].lower() if self.with_ids else None,
            name=h["name"].strip(),
            link_cap_speed_gts=self.cap[0],
            link_cap_width=self.cap[1],
            link_sta_speed_gts=self.sta[0],
            link_sta_width=self.sta[1],
            link_sta_speed_note=self.sta[2],
            link_sta_width_note=self.sta[3],
            regions=tuple(self.regions),
            rebar_current_bytes=tuple(self.rebar),
            driver=self.driver,
            modules=self.modules,
            line=self.line,
            capabilities_hidden=self.hidden,
        )


def _region(match: re.Match[str]) -> PciRegion:
    flags = (match["flags"] or "").lower()
    tail = match["tail"] or ""
    size = _SIZE.search(tail)
    return PciRegion(
        index=int(match["index"]),
        kind=match["kind"],
        address=match["address"],
        size_bytes=size_to_bytes(size["number"], size["unit"]) if size else None,
        prefetchable="non-prefetchable" not in flags and "prefetchable" in flags,
        is_64bit="64-bit" in flags,
        disabled="[disabled]" in tail or "[virtual]" in tail,
    )


@never_raises(TOOL)
def parse_lspci_vvv(text: str) -> ParseResult[PciDetail]:
    """Every device block of ``lspci -vvv`` (with or without ``-nn``/``-D``)."""
    result: ParseResult[PciDetail] = ParseResult()
    block: _Block | None = None
    for number, line in numbered_lines(text):
        if line and line[0] not in ("\t", " "):
            if block is not None:
                result.records.append(block.detail())
                block = None
            stripped = line.strip()
            nn = _NN_LINE.match(stripped)
            if nn:
                block = _Block(nn, number, with_ids=True)
            else:
                plain = _PLAIN_LINE.match(stripped)
                if plain:
                    block = _Block(plain, number, with_ids=False)
            continue
        if block is None:
            continue
        item = line.strip()
        if item.startswith("LnkCap:"):
            link = _LINK.search(item)
            if link:
                block.cap = (to_float(link["speed"]), int(link["width"]))
            else:
                result.problem(TOOL, f"unreadable LnkCap: {item[:100]!r}", number)
        elif item.startswith("LnkSta:"):
            link = _LINK.search(item)
            if link:
                block.sta = (to_float(link["speed"]), int(link["width"]),
                             (link["speed_note"] or "").strip(), (link["width_note"] or "").strip())
            else:
                result.problem(TOOL, f"unreadable LnkSta: {item[:100]!r}", number)
        elif item.startswith("Region "):
            region = _REGION.match(item)
            if region:
                block.regions.append(_region(region))
        elif item.startswith("BAR ") and "current size" in item:
            rebar = _REBAR.match(item)
            if rebar:
                size = size_to_bytes(rebar["number"], rebar["unit"])
                if size is not None:
                    block.rebar.append((int(rebar["index"]), size))
        elif item.startswith("Kernel driver in use:"):
            block.driver = item.split(":", 1)[1].strip() or None
        elif item.startswith("Capabilities: <access denied>"):
            block.hidden = True
        elif item.startswith("Kernel modules:"):
            block.modules = tuple(m.strip() for m in item.split(":", 1)[1].split(",") if m.strip())
    if block is not None:
        result.records.append(block.detail())
    if not result.records:
        result.problem(TOOL, "no 'lspci -vvv' device blocks found")
    return result
