"""``sycl-ls`` (intel/llvm sycl/tools/sycl-ls): one line per SYCL device.

Current format (``[backend:type][backend:index] Platform, Device Version [Driver]``)::

    [level_zero:gpu][level_zero:0] Intel(R) oneAPI Unified Runtime over Level-Zero,
        Intel(R) Arc(TM) Pro B60 Graphics 20.1.0 [1.6.33578+15]      (one line)
    [opencl:cpu][opencl:0] Intel(R) OpenCL, Intel(R) Xeon(R) Gold 6530 OpenCL 3.0 (Build 0)
        [2025.19.4.0.18_160000]                                       (one line)

Older releases printed ``[level_zero:gpu:0] Platform, Device Version [Driver]`` or
``[ext_oneapi_level_zero:gpu:0] ...``; both are read too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import ParseResult, never_raises, numbered_lines

TOOL = "sycl-ls"


@dataclass(frozen=True)
class SyclDevice:
    backend: str  # "level_zero", "opencl", "cuda" ("ext_oneapi_" prefix removed)
    device_type: str  # "gpu", "cpu", "acc", "fpga"
    index: int  # per-backend index, as ONEAPI_DEVICE_SELECTOR counts
    platform: str  # "Intel(R) oneAPI Unified Runtime over Level-Zero"
    name: str  # "Intel(R) Arc(TM) Pro B60 Graphics"
    version: str  # "20.1.0", "OpenCL 3.0 NEO"
    driver_version: str  # "1.6.33578+15"
    line: int

    @property
    def is_level_zero_gpu(self) -> bool:
        return self.backend == "level_zero" and self.device_type == "gpu"


_BACKEND_TYPE = r"\[(?P<backend>[A-Za-z_]+):(?P<type>[A-Za-z]+)"
_NEW_PREFIX = re.compile(rf"^{_BACKEND_TYPE}\]\[(?P=backend):(?P<index>\d+)\]\s*(?P<rest>.*)$")
_OLD_PREFIX = re.compile(rf"^{_BACKEND_TYPE}:(?P<index>\d+)\]\s*(?P<rest>.*)$")
_DEVICE_PART = re.compile(
    r"^(?P<name>.*?)\s+(?P<version>OpenCL\s+\S+(?:\s+(?:NEO|\(Build \d+\)))?|\d+(?:\.\d+)+|\S+)\s*"
    r"\[(?P<driver>[^\]]*)\]\s*$"
)


def _split_rest(rest: str) -> tuple[str, str, str, str] | None:
    rest = rest.strip()
    if rest.startswith(":"):  # very old: "[...] : Platform Version [Driver]"
        rest = rest[1:].strip()
    platform, sep, device = rest.partition(", ")
    if not sep:
        return None
    match = _DEVICE_PART.match(device.strip())
    if not match:
        return None
    name, version, driver = match["name"], match["version"], match["driver"]
    return platform.strip(), name.strip(), version.strip(), driver.strip()


@never_raises(TOOL)
def parse_sycl_ls(text: str) -> ParseResult[SyclDevice]:
    result: ParseResult[SyclDevice] = ParseResult()
    for number, line in numbered_lines(text):
        stripped = line.strip()
        match = _NEW_PREFIX.match(stripped) or _OLD_PREFIX.match(stripped)
        if not match:
            continue
        parts = _split_rest(match["rest"])
        if parts is None:
            result.problem(TOOL, f"unreadable device line: {stripped[:120]!r}", number)
            continue
        platform, name, version, driver = parts
        backend = match["backend"].removeprefix("ext_oneapi_")
        result.records.append(
            SyclDevice(backend, match["type"].lower(), int(match["index"]), platform, name,
                       version, driver, number)
        )
    if not result.records:
        result.problem(TOOL, "no SYCL devices listed")
    return result


def count_level_zero_gpus(devices: list[SyclDevice]) -> int:
    """How many distinct Level Zero GPUs ``sycl-ls`` shows."""
    return len({d.index for d in devices if d.is_level_zero_gpu})
