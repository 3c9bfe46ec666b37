"""The one table of Intel GPU PCI ids this project knows, with their theoretical peaks.

Every layer (lspci counting, udev checks, installer preflight, % of peak in reports)
reads device facts from here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

INTEL_VENDOR_ID = "8086"


@dataclass(frozen=True)
class GpuModel:
    device_id: str  # lower-case hex, no vendor prefix, e.g. "e211"
    name: str
    family: str  # "battlemage", "lunarlake", ...
    discrete: bool
    pcie_gen: int | None = None
    pcie_width: int | None = None
    memory_gbps: float | None = None  # theoretical DRAM bandwidth, GB/s (exact, see below)
    int8_tops: float | None = None  # dense INT8 peak, TOPS (a rounded vendor figure)
    memory_gib: int | None = None

    @property
    def pcie_gbps_per_direction(self) -> float | None:
        """Theoretical PCIe bandwidth per direction in GB/s after 128b/130b coding (exact,
        not rounded: B60, PCIe 5.0 x8: 32 GT/s × 8 × 128/130 / 8 = 31.5077 GB/s)."""
        if self.pcie_gen is None or self.pcie_width is None:
            return None
        per_lane_gts = PCIE_GEN_GTS[self.pcie_gen]
        encoding = 128 / 130 if self.pcie_gen >= 3 else 8 / 10
        return per_lane_gts * encoding * self.pcie_width / 8


# How far a measured figure may exceed each theoretical peak before it is impossible:
# only for peaks that are rounded. Exact ones get no margin:
# - memory: data rate × bus width / 8, exact (B60: 19 Gbps × 192 bit / 8 = 456 GB/s;
#   B580 the same; B570 19 × 160 / 8 = 380; B50 14 × 128 / 8 = 224);
# - pcie: computed from the link's transfer rate, width and line coding, exact (above);
# - int8: the vendor's dense INT8 figure (~197 TOPS for the B60), rounded: 2 %.
PEAK_MARGIN: dict[str, float] = {"memory": 1.0, "pcie": 1.0, "int8": 1.02}

# Transfer rate per lane, GT/s, by PCIe generation.
PCIE_GEN_GTS: dict[int, float] = {1: 2.5, 2: 5.0, 3: 8.0, 4: 16.0, 5: 32.0, 6: 64.0}

GPU_MODELS: dict[str, GpuModel] = {
    m.device_id: m
    for m in (
        GpuModel("e211", "Intel Arc Pro B60", "battlemage", True, 5, 8, 456.0, 197.0, 24),
        GpuModel("e210", "Intel Arc Pro B60 (e210)", "battlemage", True, 5, 8, 456.0, 197.0, 24),
        GpuModel("e20b", "Intel Arc B580", "battlemage", True, 4, 8, 456.0, 233.0, 12),
        GpuModel("e20c", "Intel Arc B570", "battlemage", True, 4, 8, 380.0, 203.0, 10),
        GpuModel("e212", "Intel Arc Pro B50", "battlemage", True, 5, 8, 224.0, 170.0, 16),
        GpuModel("e20d", "Intel Battlemage (e20d)", "battlemage", True),
        GpuModel("e20e", "Intel Battlemage (e20e)", "battlemage", True),
        GpuModel("e20f", "Intel Battlemage (e20f)", "battlemage", True),
        GpuModel("e215", "Intel Battlemage (e215)", "battlemage", True),
        GpuModel("e216", "Intel Battlemage (e216)", "battlemage", True),
        GpuModel("64a0", "Intel Arc 140V (Lunar Lake iGPU)", "lunarlake", False),
    )
}

# The product's target device.
TARGET_DEVICE_ID = "e211"


def lookup(device_id: str) -> GpuModel | None:
    """Model for a PCI device id ("e211", "0xe211", "8086:e211"); None if unknown."""
    key = device_id.lower().removeprefix("0x").split(":")[-1]
    return GPU_MODELS.get(key)


def is_supported_gpu(vendor_id: str, device_id: str) -> bool:
    """True for a discrete Battlemage GPU this toolkit evaluates."""
    model = lookup(device_id)
    return (
        vendor_id.lower().removeprefix("0x") == INTEL_VENDOR_ID
        and model is not None
        and model.discrete
    )
