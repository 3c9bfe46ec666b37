"""Kernel log (``dmesg``): GPU firmware versions and xe driver errors.

The xe driver prints, per GPU (drivers/gpu/drm/xe, display code for DMC)::

    xe 0000:18:00.0: [drm] GT0: Using GuC firmware from xe/bmg_guc_70.bin version 70.44.1
    xe 0000:18:00.0: [drm] GT1: Using HuC firmware from xe/bmg_huc.bin version 8.2.10
    xe 0000:18:00.0: [drm] Finished loading DMC firmware i915/bmg_dmc.bin (v2.6)
    xe 0000:98:00.0: probe with driver xe failed with error -110

Older kernels prefix ``Tile0: GT0:``; i915 prints "GuC firmware i915/... version X.Y.Z".
These are the lines Intel's get_bkc_version.sh greps for. The boot lines "Linux version ..."
and "Command line: ..." are read too (the kernel that was booted and its parameters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import ParseResult, never_raises, numbered_lines

TOOL = "dmesg"

_DEVICE = re.compile(r"\b(?P<driver>xe|i915) (?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]):")
_UC = re.compile(
    r"(?:Tile(?P<tile>\d+):\s*)?(?:GT(?P<gt>\d+):\s*)?(?:Using\s+)?(?P<kind>GuC|HuC|GSC)\s+firmware\s+"
    r"(?:from\s+)?(?P<path>\S+)\s+version\s+(?P<version>\d+(?:\.\d+)*)"
)
_DMC = re.compile(
    r"Finished loading DMC firmware\s+(?P<path>\S+)\s+\(v(?P<version>\d+(?:\.\d+)*)\)"
)
_PROBE_FAILED = re.compile(r"probe with driver (?P<driver>\S+) failed with error (?P<errno>-?\d+)")


@dataclass(frozen=True)
class FirmwareLoad:
    kind: str  # "GuC", "HuC", "GSC", "DMC"
    version: str  # "70.44.1"
    path: str  # "xe/bmg_guc_70.bin"
    bdf: str  # "0000:18:00.0" ("" when the line names no device)
    gt: int | None  # GT the microcontroller belongs to (GuC runs on every GT)
    line: int


@dataclass(frozen=True)
class DriverError:
    bdf: str
    message: str  # the kernel's words after "[drm] " / the device prefix
    probe_failed: bool
    line: int


@dataclass(frozen=True)
class KernelLog:
    firmware: tuple[FirmwareLoad, ...]
    errors: tuple[DriverError, ...]
    kernel_release: str = ""  # from "Linux version 6.14.0-1006-intel (...)", "" if not logged
    command_line: str = ""  # from "Command line: ...", "" if not logged

    def versions(self, kind: str) -> tuple[str, ...]:
        """Distinct versions of one firmware kind, in order of appearance."""
        return tuple(dict.fromkeys(f.version for f in self.firmware if f.kind == kind))


@never_raises(TOOL)
def parse_dmesg(text: str) -> ParseResult[KernelLog]:
    """Firmware loads and xe/i915 errors; one KernelLog record (empty tuples when none)."""
    result: ParseResult[KernelLog] = ParseResult()
    firmware: list[FirmwareLoad] = []
    errors: list[DriverError] = []
    release = command_line = ""
    for number, line in numbered_lines(text):
        if not release and "Linux version " in line:
            release = line.split("Linux version ", 1)[1].split(" ", 1)[0]
            continue
        if not command_line and "Command line: " in line:
            command_line = line.split("Command line: ", 1)[1].strip()
            continue
        if "firmware" not in line and "rror" not in line and "failed" not in line:
            continue
        device = _DEVICE.search(line)
        bdf = device["bdf"] if device else ""
        uc = _UC.search(line) if "firmware" in line else None
        if uc:
            firmware.append(FirmwareLoad(uc["kind"], uc["version"], uc["path"], bdf,
                                         int(uc["gt"]) if uc["gt"] else None, number))
            continue
        dmc = _DMC.search(line) if "DMC" in line else None
        if dmc:
            firmware.append(FirmwareLoad("DMC", dmc["version"], dmc["path"], bdf, None, number))
            continue
        if device is None:
            continue
        probe = _PROBE_FAILED.search(line)
        if probe or "*ERROR*" in line or "failed" in line.lower():
            message = line[device.end():].strip().removeprefix("[drm]").strip()
            errors.append(DriverError(bdf, message, probe is not None, number))
    result.records.append(KernelLog(tuple(firmware), tuple(errors), release, command_line))
    if not firmware:
        result.problem(TOOL, "no GPU firmware load messages (GuC/HuC/DMC) found")
    return result
