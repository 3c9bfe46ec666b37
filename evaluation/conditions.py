"""The conditions a figure was measured under, recorded with every result.

A bandwidth measured while another process uses the GPU, under the ``powersave`` governor,
or without the NEO keys, is not the same figure. ``basic`` records, in ``meta.json``:

- per run: the CPU governor, the GPU frequency limits the xe driver exposes, the
  benchmark environment (NEO keys), the performance mode, the kernel and the versions of
  the stack's packages (the Level Zero loader and GPU driver, OpenCL, xpu-smi, oneCCL);
- per step (``steps.json``): whether the GPUs were idle before it started. A step that
  started while another process held ``/dev/dri/*`` is WARN "GPU busy: pid 4242 (python3)".

Processes are listed with psutil on the live machine; a recording keeps the same facts in
its ``root/proc/<pid>/{comm,fd/*}`` slice. ``compare`` says when two runs' conditions differ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiarc.evaluation.steps import BENCHMARK_ENV

# The stack whose versions change figures (globs for dpkg-query).
STACK_PACKAGES = (
    "libze1", "libze-intel-gpu1", "intel-level-zero-gpu", "intel-opencl-icd", "libigc2",
    "xpu-smi", "intel-oneapi-ccl*", "intel-oneapi-mkl-core*", "linux-image-*",
)  # fmt: skip
DRI = "/dev/dri/"


@dataclass(frozen=True)
class Holder:
    pid: int
    name: str
    devices: tuple[str, ...]

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.name}: {', '.join(self.devices)})"


def _pids(root: Path) -> list[int]:
    if root == Path("/"):
        import psutil

        return list(psutil.pids())
    try:
        return [int(n) for n in os.listdir(root / "proc") if n.isdigit()]
    except OSError:
        return []


def _name(root: Path, pid: int) -> str:
    if root == Path("/"):
        import psutil

        try:
            return str(psutil.Process(pid).name())
        except (psutil.Error, OSError):
            return "?"
    try:
        return (root / "proc" / str(pid) / "comm").read_text().strip() or "?"
    except OSError:
        return "?"


def gpu_holders(root: Path = Path("/"), *, exclude: tuple[int, ...] = ()) -> list[Holder]:
    """Processes with a GPU device node (``/dev/dri/*``) open, other than ``exclude``."""
    found = []
    for pid in _pids(root):
        if pid in exclude:
            continue
        fd_dir = root / "proc" / str(pid) / "fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or another user's process we may not look into
        devices = set()
        for fd in names:
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            if target.startswith(DRI):
                devices.add(target.removeprefix(DRI))
        if devices:
            found.append(Holder(pid, _name(root, pid), tuple(sorted(devices))))
    return found


def busy_warning(holders: list[Holder]) -> str:
    shown = "; ".join(str(h) for h in holders[:3])
    more = f" and {len(holders) - 3} more" if len(holders) > 3 else ""
    return f"GPU busy: {shown}{more} held a GPU when the step started"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def gpu_frequencies(root: Path) -> dict[str, dict[str, str]]:
    """The xe driver's frequency limits per card (``device/tile0/gt0/freq0``)."""
    found: dict[str, dict[str, str]] = {}
    drm = root / "sys/class/drm"
    try:
        cards = sorted(n for n in os.listdir(drm) if n.startswith("card") and "-" not in n)
    except OSError:
        return found
    for card in cards:
        freq = drm / card / "device/tile0/gt0/freq0"
        values = {k: v for k in ("min_freq", "max_freq") if (v := _read(freq / k)) is not None}
        if values:
            found[card] = values
    return found


def run_conditions(root: Path, performance_mode: bool, kernel: str) -> dict[str, Any]:
    """What the whole run was measured under (meta.json "conditions")."""
    from multiarc.collect.probes import package_versions

    admindir = None if root == Path("/") else root / "var/lib/dpkg"
    return {
        "cpu_governor": _read(root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "gpu_frequency": gpu_frequencies(root),
        "benchmark_env": dict(BENCHMARK_ENV),
        "performance_mode": performance_mode,
        "kernel": kernel,
        "packages": package_versions(STACK_PACKAGES, admindir=admindir),
    }


def differences(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """What differs between two runs' conditions, one line per fact."""
    if not a or not b:
        return [] if a == b else ["one run records no conditions (an older run or a bare log)"]
    lines = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        if left == right:
            continue
        if isinstance(left, dict) and isinstance(right, dict):
            for sub in sorted(set(left) | set(right)):
                if left.get(sub) != right.get(sub):
                    lines.append(f"{key} {sub}: {left.get(sub)} -> {right.get(sub)}")
        else:
            lines.append(f"{key}: {left} -> {right}")
    return lines
