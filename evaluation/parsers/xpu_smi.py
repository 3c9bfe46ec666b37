"""``xpu-smi`` (intel/xpumanager): ``discovery`` table, ``discovery -j`` JSON, ``dump`` CSV.

Discovery table::

    +-----------+--------------------------------------------------------------------------------------+
    | Device ID | Device Information                                                                   |
    +-----------+--------------------------------------------------------------------------------------+
    | 0         | Device Name: Intel(R) Arc(TM) Pro B60 Graphics                                       |
    |           | Vendor Name: Intel(R) Corporation                                                    |
    |           | SOC UUID: 00000000-0000-0018-0000-0000e2118086                                       |
    |           | PCI BDF Address: 0000:18:00.0                                                        |
    |           | DRM Device: /dev/dri/card1                                                           |
    |           | Function Type: physical                                                              |
    +-----------+--------------------------------------------------------------------------------------+

``dump -m 0,1,2,3,4,5,18,19,20 -n 1`` (values right-aligned to 4 characters, "N/A" when the
device does not report a metric)::

    Timestamp, DeviceId, GPU Utilization (%), GPU Power (W), GPU Frequency (MHz), ...
    17:02:11.000,    0, 0.00, 28.51, 2400, 41.00,  N/A, 0.05, 112.54,  N/A,  N/A
"""  # noqa: E501

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .base import ERROR_LINE_RE, ParseResult, never_raises, numbered_lines, to_float, to_int

TOOL = "xpu-smi"

_ROW_START = re.compile(r"^\|\s*(?P<id>\d+)\s*\|\s*(?P<kv>.*?)\s*\|\s*$")
_ROW_CONT = re.compile(r"^\|\s*\|\s*(?P<kv>.*?)\s*\|\s*$")


@dataclass(frozen=True)
class XpuDevice:
    device_id: int
    name: str
    vendor: str
    uuid: str
    bdf: str  # "0000:18:00.0"
    drm_device: str  # "/dev/dri/card1", "" when not shown
    function_type: str  # "physical" / "virtual", "" when not shown
    pci_device_id: str  # "e211" (JSON only), "" when not shown
    properties: tuple[tuple[str, str], ...]  # every "Key: value" shown, in order
    line: int

    def get(self, key: str, default: str = "") -> str:
        return next((v for k, v in self.properties if k == key), default)


def _device(device_id: int, props: list[tuple[str, str]], line: int) -> XpuDevice:
    d = dict(props)
    return XpuDevice(
        device_id=device_id,
        name=d.get("Device Name", ""),
        vendor=d.get("Vendor Name", ""),
        uuid=d.get("SOC UUID", d.get("UUID", "")),
        bdf=d.get("PCI BDF Address", "").lower(),
        drm_device=d.get("DRM Device", ""),
        function_type=d.get("Function Type", ""),
        pci_device_id=d.get("PCI Device ID", "").lower().removeprefix("0x"),
        properties=tuple(props),
        line=line,
    )


@never_raises(TOOL)
def parse_discovery(text: str) -> ParseResult[XpuDevice]:
    """The ``xpu-smi discovery`` table (also ``discovery -d N`` detail tables)."""
    result: ParseResult[XpuDevice] = ParseResult()
    current: tuple[int, int, list[tuple[str, str]]] | None = None

    def flush() -> None:
        nonlocal current
        if current is not None:
            result.records.append(_device(current[0], current[2], current[1]))
        current = None

    for number, line in numbered_lines(text):
        stripped = line.strip()
        start = _ROW_START.match(stripped)
        if start:
            flush()
            current = (int(start["id"]), number, [])
            kv = start["kv"]
        else:
            cont = _ROW_CONT.match(stripped)
            if cont is None:
                if stripped.startswith("+-") or not stripped.startswith("|"):
                    if stripped.startswith("+-"):
                        continue
                    flush()
                    if ERROR_LINE_RE.search(stripped) or stripped.lower().startswith("error"):
                        result.problem(TOOL, f"tool reported an error: {stripped[:160]}", number)
                continue
            if current is None:
                continue
            kv = cont["kv"]
        key, sep, value = kv.partition(":")
        if sep and current is not None:
            current[2].append((key.strip(), value.strip()))
    flush()
    if not result.records:
        result.problem(TOOL, "no devices in the discovery table")
    return result


@never_raises(TOOL)
def parse_discovery_json(text: str) -> ParseResult[XpuDevice]:
    """``xpu-smi discovery -j``: the first JSON object with a ``device_list``."""
    result: ParseResult[XpuDevice] = ParseResult()
    decoder = json.JSONDecoder()
    data: object = None
    for match in re.finditer(r"\{", text):
        try:
            data, _ = decoder.raw_decode(text, match.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict) and "device_list" in data:
            break
        if isinstance(data, dict) and "error" in data:
            result.problem(TOOL, f"tool reported an error: {str(data['error'])[:160]}")
        data = None
    if not isinstance(data, dict):
        result.problem(TOOL, "no JSON object with a device_list found")
        return result
    devices = data.get("device_list")
    if not isinstance(devices, list):
        result.problem(TOOL, "device_list is not a list")
        return result
    for position, entry in enumerate(devices):
        if not isinstance(entry, dict):
            result.problem(TOOL, f"device_list[{position}] is not an object")
            continue
        device_id = entry.get("device_id")
        if not isinstance(device_id, int) or isinstance(device_id, bool):
            result.problem(TOOL, f"device_list[{position}] has no integer device_id")
            continue
        props = [
            ("Device Name", str(entry.get("device_name", ""))),
            ("Vendor Name", str(entry.get("vendor_name", ""))),
            ("SOC UUID", str(entry.get("uuid", ""))),
            ("PCI BDF Address", str(entry.get("pci_bdf_address", ""))),
            ("DRM Device", str(entry.get("drm_device", ""))),
            ("Function Type", str(entry.get("device_function_type", ""))),
            ("PCI Device ID", str(entry.get("pci_device_id", ""))),
        ]
        props += [(str(k), str(v)) for k, v in entry.items() if not isinstance(v, dict | list)]
        result.records.append(_device(device_id, props, 0))
    if not result.records and not result.problems:
        result.problem(TOOL, "device_list is empty")
    return result


@dataclass(frozen=True)
class DumpRow:
    timestamp: str
    device_id: int
    tile_id: int | None
    metrics: tuple[tuple[str, float | None], ...]  # (column header, value or None for N/A)
    line: int

    def value(self, column: str) -> float | None:
        return next((v for k, v in self.metrics if k == column), None)

    def as_dict(self) -> dict[str, float | None]:
        return dict(self.metrics)


@never_raises(TOOL)
def parse_dump(text: str) -> ParseResult[DumpRow]:
    """``xpu-smi dump`` rows (every header block, every device)."""
    result: ParseResult[DumpRow] = ParseResult()
    header: list[str] | None = None
    for number, line in numbered_lines(text):
        stripped = line.strip()
        if stripped.startswith("Timestamp, DeviceId"):
            header = [h.strip() for h in stripped.split(",")]
            continue
        if stripped.lower().startswith("error"):
            result.problem(TOOL, f"tool reported an error: {stripped[:160]}", number)
            continue
        if header is None:
            continue
        cells = [c.strip() for c in stripped.split(",")]
        if len(cells) != len(header) or not re.match(r"^[\d:T.\-]+$", cells[0]):
            if stripped:
                header = None  # the dump table ended
            continue
        device_id = to_int(cells[1])
        if device_id is None:
            result.problem(TOOL, f"unreadable device id in dump row: {stripped[:100]!r}", number)
            continue
        first_metric = 2
        tile_id = None
        if len(header) > 2 and header[2] == "TileId":
            tile_id = to_int(cells[2])
            first_metric = 3
        metrics = []
        for name, cell in zip(header[first_metric:], cells[first_metric:], strict=True):
            value = to_float(cell)
            if value is None and cell not in ("N/A", ""):
                result.problem(TOOL, f"unreadable value {cell!r} for {name}", number)
            metrics.append((name, value))
        result.records.append(DumpRow(cells[0], device_id, tile_id, tuple(metrics), number))
    if not result.records and not result.problems:
        result.problem(TOOL, "no xpu-smi dump rows found")
    return result


@dataclass(frozen=True)
class TileConfig:
    """One device or tile block of ``xpu-smi config -d N``."""

    device_id: int
    tile_id: int | None  # None for the device-level block ("0"), else the tile ("0/0" -> 0)
    min_frequency_mhz: float | None
    max_frequency_mhz: float | None
    frequency_options_mhz: tuple[float, ...]
    power_limit_w: float | None
    standby_mode: str
    properties: tuple[tuple[str, str], ...]
    line: int


_CFG_START = re.compile(
    r"^\|\s*GPU\s*\|\s*(?P<dev>\d+)(?:/(?P<tile>\d+))?\s*\|\s*(?P<kv>.*?)\s*\|\s*$"
)
_CFG_CONT = re.compile(r"^\|\s*\|\s*\|\s*(?P<kv>.*?)\s*\|\s*$")
_MHZ = re.compile(r"\d+(?:\.\d+)?")


def _tile_config(dev: int, tile: int | None, props: list[tuple[str, str]], options: list[str],
                 line: int) -> TileConfig:
    d = dict(props)

    def number(key: str) -> float | None:
        found = _MHZ.search(d.get(key, ""))
        return to_float(found.group()) if found else None

    values = [to_float(v) for v in _MHZ.findall(" ".join(options))]
    return TileConfig(
        device_id=dev,
        tile_id=tile,
        min_frequency_mhz=number("GPU Min Frequency(MHz)"),
        max_frequency_mhz=number("GPU Max Frequency(MHz)"),
        frequency_options_mhz=tuple(v for v in values if v is not None),
        power_limit_w=number("Power Limit (w)"),
        standby_mode=d.get("Standby Mode", ""),
        properties=tuple(props),
        line=line,
    )


class _ConfigBlock:
    def __init__(self, dev: int, tile: int | None, line: int) -> None:
        self.dev, self.tile, self.line = dev, tile, line
        self.props: list[tuple[str, str]] = []
        self.options: list[str] = []
        self.collecting = False

    def add(self, kv: str) -> None:
        key, sep, value = kv.partition(":")
        if not sep:
            if self.collecting and kv:
                self.options.append(kv)  # wrapped list of frequency options
            else:
                self.collecting = False
            return
        key = key.strip()
        last = self.props[-1][0] if self.props else ""
        self.collecting = key == "Valid Options" and last.startswith("GPU Max Frequency")
        if self.collecting:
            self.options.append(value)
        self.props.append((key, value.strip()))


@never_raises(TOOL)
def parse_config(text: str) -> ParseResult[TileConfig]:
    """``xpu-smi config -d N``: power limit (device block), frequency range per tile."""
    result: ParseResult[TileConfig] = ParseResult()
    block: _ConfigBlock | None = None

    def flush() -> None:
        nonlocal block
        if block is not None:
            result.records.append(
                _tile_config(block.dev, block.tile, block.props, block.options, block.line))
        block = None

    for number, line in numbered_lines(text):
        stripped = line.strip()
        start = _CFG_START.match(stripped)
        if start:
            flush()
            tile = int(start["tile"]) if start["tile"] is not None else None
            block = _ConfigBlock(int(start["dev"]), tile, number)
            block.add(start["kv"])
            continue
        cont = _CFG_CONT.match(stripped)
        if cont is not None and block is not None:
            block.add(cont["kv"])
        elif stripped.lower().startswith("error"):
            result.problem(TOOL, f"tool reported an error: {stripped[:160]}", number)
    flush()
    if not result.records and not result.problems:
        result.problem(TOOL, "no configuration table found")
    return result


@dataclass(frozen=True)
class ConfigChange:
    """``xpu-smi config ... --frequencyrange MIN,MAX`` (or another setting) and its answer."""

    succeeded: bool
    message: str
    line: int


@never_raises(TOOL)
def parse_config_change(text: str) -> ParseResult[ConfigChange]:
    """"Succeed to change the core frequency range on GPU 0 tile 0." or the error it printed."""
    result: ParseResult[ConfigChange] = ParseResult()
    for number, line in numbered_lines(text):
        stripped = line.strip()
        if stripped.startswith(("Succeed", "Return: Succeed")):
            result.records.append(ConfigChange(True, stripped, number))
        elif stripped.lower().startswith("error") or "fail" in stripped.lower():
            result.records.append(ConfigChange(False, stripped, number))
            result.problem(TOOL, f"tool reported an error: {stripped[:160]}", number)
    if not result.records:
        result.problem(TOOL, "no answer to the configuration change")
    return result
