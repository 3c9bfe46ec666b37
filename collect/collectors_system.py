"""Kernel modules, system tables, topology, firmware and the compute stack.

- modules: /etc/modprobe.d, the xe driver's parameters, ``modinfo xe``, ``dkms status``;
- system: ``sysctl -a``, /proc/interrupts, /proc/iomem (root), the udev database of the
  drm and pci devices, and the files that carry proxy settings (credentials always removed);
- topology: ``lstopo`` text (hwloc);
- firmware: /sys/class/dmi/id/* (the fallback when dmidecode fails), ``fwupdmgr``;
- compute: ``clinfo -l``, ``vulkaninfo --summary``, the ``ZE_*``, ``SYCL_*``, ``ONEAPI_*``
  and ``NEO*`` environment variables (secret-named ones never).
"""

from __future__ import annotations

import os
from pathlib import Path

from multiarc.collect.context import Context
from multiarc.collect.runner import run_process
from multiarc.collect.secrets import is_secret_name
from multiarc.collect.spec import Collector, Command, CopyFile, CopyTree, Generate

QUICK = 30.0
SLOW = 120.0
COMPUTE_ENV_PREFIXES = ("ZE_", "SYCL_", "ONEAPI_", "NEO", "ONEAPI", "UR_", "SYCL")
_UDEV_SUBSYSTEMS = ("E: SUBSYSTEM=drm", "E: SUBSYSTEM=pci")
# Files where proxies are set (collected for support: a proxy is a frequent cause of
# failed installs); credentials in them are removed like everywhere else.
PROXY_FILES = (
    ("system/etc-environment.txt", "/etc/environment"),
    ("system/pip.conf", "/etc/pip.conf"),
    ("system/npmrc", "/etc/npmrc"),
    ("system/yarnrc", "/etc/yarnrc"),
    ("system/wgetrc", "/etc/wgetrc"),
)
PROXY_DROP_INS = (
    ("system/docker.service.d", "/etc/systemd/system/docker.service.d"),
    ("system/containerd.service.d", "/etc/systemd/system/containerd.service.d"),
)


def _udev_gpu_db(ctx: Context) -> str:
    """``udevadm info --export-db``, only the drm and pci device records."""
    out, err, code, timed_out = run_process(("udevadm", "info", "--export-db"),
                                            ctx.timeout(QUICK), ctx.command_env())
    if code != 0 or timed_out:
        raise OSError(0, err.decode(errors="replace").strip() or f"udevadm exit {code}")
    records = out.decode(errors="replace").split("\n\n")
    kept = [r for r in records if any(s in r for s in _UDEV_SUBSYSTEMS)]
    return "\n\n".join(kept) + "\n"


def _dmi_id(ctx: Context) -> str:
    """Every readable file of /sys/class/dmi/id (serials need root; --redact replaces them)."""
    base = ctx.path("/sys/class/dmi/id")
    lines = []
    for name in sorted(os.listdir(base)):
        path = base / name
        if path.is_dir() or name in ("uevent", "modalias"):
            continue
        try:
            lines.append(f"{name}: {path.read_text(errors='replace').strip()}")
        except OSError as exc:
            lines.append(f"{name}: (unreadable: {exc.strerror})")
    return "\n".join(lines) + "\n"


def _compute_env(ctx: Context) -> str:
    names = sorted(k for k in ctx.environ
                   if k.upper().startswith(COMPUTE_ENV_PREFIXES) and not is_secret_name(k))
    return "".join(f"{k}={ctx.environ[k]}\n" for k in names) or "none set\n"


def system_collectors(ctx: Context) -> list[Collector]:
    modules = (
        CopyTree("modules/modprobe.d", Path("/etc/modprobe.d"), "*", 100, 2**20),
        CopyTree("modules/xe-parameters", Path("/sys/module/xe/parameters"), "*", 200, 2**20),
        Command("modules/modinfo-xe.txt", ("modinfo", "xe"), QUICK,
                absent_when=r"Module xe not found"),
        Command("modules/dkms-status.txt", ("dkms", "status"), QUICK),
    )
    system: list[Command | CopyFile | CopyTree | Generate] = [
        Command("system/sysctl-a.txt", ("sysctl", "-a"), QUICK),
        CopyFile("system/interrupts.txt", Path("/proc/interrupts")),
        CopyFile("system/iomem.txt", Path("/proc/iomem"), needs_root=True),
        Generate("system/udev-drm-pci.txt", _udev_gpu_db, "udevadm info --export-db (drm, pci)"),
    ]
    system += [CopyFile(name, Path(path)) for name, path in PROXY_FILES]
    system += [CopyTree(name, Path(path), "*", 50, 2**20) for name, path in PROXY_DROP_INS]
    return [
        Collector("modules", modules),
        Collector("system", tuple(system)),
        Collector("topology", (
            Command("topology/lstopo.txt", ("lstopo-no-graphics", "--of", "console"), QUICK),
        )),
        Collector("firmware", (
            Generate("firmware/dmi-id.txt", _dmi_id, "/sys/class/dmi/id/*"),
            Command("firmware/fwupdmgr-get-devices.txt", ("fwupdmgr", "get-devices"), QUICK),
        )),
        Collector("compute", (
            Command("compute/clinfo-l.txt", ("clinfo", "-l"), SLOW),
            Command("compute/vulkaninfo-summary.txt", ("vulkaninfo", "--summary"), SLOW),
            Generate("compute/environment.txt", _compute_env,
                     "ZE_*, SYCL_*, ONEAPI_*, NEO* environment variables"),
        )),
    ]
