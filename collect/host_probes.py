"""CPU and memory of the machine: psutil where it is installed, else /proc.

The support archive is also made on fleet nodes by a self-contained copy of this package
(fleet_zipapp.py) that carries no compiled modules, so psutil is optional here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from multiarc.collect.probes import ROOT, read_text

try:
    import psutil
except ImportError:  # the node copy: /proc gives the same figures
    psutil = None


@dataclass(frozen=True)
class CpuInfo:
    model: str
    logical_cores: int
    physical_cores: int | None
    governors: dict[int, str]  # cpu number -> scaling governor (only CPUs that have cpufreq)


def cpu_governors(root: Path = ROOT) -> dict[int, str]:
    """The scaling governor of every CPU with cpufreq, from root/sys/devices/system/cpu."""
    base = root / "sys/devices/system/cpu"
    governors: dict[int, str] = {}
    try:
        names = os.listdir(base)
    except OSError:
        return governors
    for name in names:
        m = re.fullmatch(r"cpu(\d+)", name)
        if not m:
            continue
        governor = (read_text(base / name / "cpufreq/scaling_governor") or "").strip()
        if governor:
            governors[int(m.group(1))] = governor
    return dict(sorted(governors.items()))


def cpu_model(root: Path = ROOT) -> str:
    text = read_text(root / "proc/cpuinfo") or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model"):
            return value.strip()
    return ""


def physical_cores_from_cpuinfo(text: str) -> int | None:
    """Distinct (physical id, core id) pairs of /proc/cpuinfo; None when it names none."""
    cores: set[tuple[str, str]] = set()
    package = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            package = value.strip()
        elif key.strip() == "core id":
            cores.add((package, value.strip()))
    return len(cores) or None


def cpu_info(root: Path = ROOT) -> CpuInfo:
    """CPU model, core counts and per-CPU scaling governors."""
    if psutil is not None:
        logical, physical = psutil.cpu_count(logical=True), psutil.cpu_count(logical=False)
    else:
        logical = None
        physical = physical_cores_from_cpuinfo(read_text(root / "proc/cpuinfo") or "")
    return CpuInfo(
        model=cpu_model(root),
        logical_cores=logical or os.cpu_count() or 0,
        physical_cores=physical,
        governors=cpu_governors(root),
    )


@dataclass(frozen=True)
class MemoryInfo:
    total_bytes: int
    available_bytes: int
    swap_total_bytes: int


def meminfo_bytes(text: str) -> dict[str, int]:
    """/proc/meminfo's kB figures, in bytes."""
    found = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(\w+):\s+(\d+)\s*kB", line.strip())
        if m:
            found[m.group(1)] = int(m.group(2)) * 1024
    return found


def memory_info() -> MemoryInfo:
    if psutil is not None:
        vm = psutil.virtual_memory()
        return MemoryInfo(int(vm.total), int(vm.available), int(psutil.swap_memory().total))
    info = meminfo_bytes(read_text(Path("/proc/meminfo")) or "")
    total = info.get("MemTotal", 0)
    return MemoryInfo(total, info.get("MemAvailable", total), info.get("SwapTotal", 0))
