"""What goes into the support archive, grouped by concern, as declarative items.

Everything Intel's collect_sysinfo.sh gathers (scaling governor, lscpu, lspci -tv / -vvv,
dmesg, the /sys/kernel/debug/dri tree, free, dmidecode, libze package versions) plus the
BKC table, kernel command line, modules, NUMA, PCI ids, sycl-ls and xpu-smi, and
multiarc's own install logs, state and last evaluation results.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

from multiarc.collect import bkc, host_probes, probes
from multiarc.collect.context import Context
from multiarc.collect.runner import run_process
from multiarc.collect.spec import Collector, Command, CopyFile, CopyTree, Generate

QUICK = 30.0  # seconds: local commands that answer at once
SLOW = 120.0  # tools talking to the GPU stack
DIAG = 300.0  # xpu-smi diag -l 1


def _governors(ctx: Context) -> str:
    governors = host_probes.cpu_governors(ctx.root)
    if not governors:
        return "Not available (no cpufreq in sysfs)\n"
    return "".join(f"cpu{n} {g}\n" for n, g in governors.items())


def _cpu_summary(ctx: Context) -> str:
    info = host_probes.cpu_info(ctx.root)
    mem = host_probes.memory_info()
    return (
        json.dumps(
            {
                "cpu": info.__dict__
                | {"governors": {str(k): v for k, v in info.governors.items()}},
                "memory": mem.__dict__,
                "in_container": probes.in_container(ctx.root, ctx.environ),
            },
            indent=2,
        )
        + "\n"
    )


def _pci_devices(ctx: Context) -> str:
    devices = probes.pci_devices(ctx.root)
    return json.dumps([d.__dict__ for d in devices], indent=2) + "\n"


def _drm_cards(ctx: Context) -> str:
    return json.dumps([c.__dict__ for c in probes.drm_cards(ctx.root)], indent=2) + "\n"


def _dri_tree(ctx: Context) -> str:
    """Names under /sys/kernel/debug/dri, like `tree` (debugfs: root only, mounted)."""
    base = ctx.path("/sys/kernel/debug/dri")
    debugfs = ctx.path("/sys/kernel/debug")
    try:
        unmounted = debugfs.is_dir() and not any(debugfs.iterdir())
    except OSError:  # not readable without root: os.listdir below says so
        unmounted = False
    if unmounted:
        raise FileNotFoundError(
            errno.ENOENT, "debugfs is not mounted (mount -t debugfs none /sys/kernel/debug)"
        )
    os.listdir(base)  # raises PermissionError / FileNotFoundError: recorded as the reason
    lines = [str(base)]
    for folder, dirs, files in os.walk(base):
        dirs.sort()
        depth = len(Path(folder).relative_to(base).parts)
        if depth:
            lines.append("    " * (depth - 1) + "|-- " + Path(folder).name + "/")
        lines += ["    " * depth + "|-- " + f for f in sorted(files)]
        if len(lines) > 20000:
            lines.append("... (truncated at 20000 entries)")
            break
    return "\n".join(lines) + "\n"


def _proxy_settings(ctx: Context) -> str:
    """Proxy variables of this environment (credentials are scrubbed like everything else)."""
    lines = [f"{k}={v}" for k, v in sorted(ctx.environ.items()) if "proxy" in k.lower()]
    return ("\n".join(lines) + "\n") if lines else "no proxy variables set\n"


def _gpu_ids(ctx: Context) -> list[int]:
    return list(range(len(ctx.intel_gpus())))


_FIRMWARE_LINE = re.compile(r"firmware|\b(GuC|HuC|DMC|GSC)\b", re.IGNORECASE)


def _firmware_lines(ctx: Context) -> str:
    """Firmware lines of the whole kernel log (the BKC table's source when dmesg.txt is
    limited to the time since the install and the boot came before it)."""
    out, err, code, _ = run_process(("dmesg",), ctx.timeout(QUICK), ctx.command_env())
    if code != 0:
        raise PermissionError(err.decode(errors="replace").strip() or f"dmesg exit {code}")
    lines = out.decode(errors="replace").splitlines()
    return "".join(line + "\n" for line in lines if _FIRMWARE_LINE.search(line))


def _numa(ctx: Context) -> str:
    """NUMA nodes from sysfs: CPUs and memory of each (numactl is often not installed)."""
    base = ctx.path("/sys/devices/system/node")
    nodes = sorted(
        (n for n in os.listdir(base) if re.fullmatch(r"node\d+", n)), key=lambda n: int(n[4:])
    )
    lines = []
    for node in nodes:
        cpus = probes.read_text(base / node / "cpulist") or "?"
        meminfo = probes.read_text(base / node / "meminfo") or ""
        total = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
        size = f"{int(total.group(1)) // 1024} MiB" if total else "?"
        lines.append(f"{node}: cpus {cpus.strip()}  memory {size}")
    return "\n".join(lines) + "\n" if lines else "no NUMA nodes in sysfs\n"


def build_collectors(ctx: Context) -> list[Collector]:
    lspci_v = ("lspci", "--version")
    xpu_v = ("xpu-smi", "-v")
    gpu_items: list[Command] = [
        Command("gpu/sycl-ls.txt", ("sycl-ls",), SLOW),
        Command("gpu/sycl-ls-verbose.txt", ("sycl-ls", "--verbose"), SLOW),
        Command("gpu/xpu-smi-discovery.txt", ("xpu-smi", "discovery"), SLOW, version_argv=xpu_v),
        Command("gpu/xpu-smi-discovery.json", ("xpu-smi", "discovery", "-j"), SLOW),
        Command("gpu/xpu-smi-health.txt", ("xpu-smi", "health", "-l"), SLOW),
        Command("gpu/xpu-smi-diag-l1.txt", ("xpu-smi", "diag", "-l", "1"), DIAG),
    ]
    gpu_items += [
        Command(f"gpu/xpu-smi-discovery-d{n}.txt", ("xpu-smi", "discovery", "-d", str(n)), SLOW)
        for n in _gpu_ids(ctx)
    ]
    since = bkc.last_install(ctx) if ctx.since_install else None
    dmesg_argv = ("dmesg",) if since is None else ("dmesg", "--since", since.local())
    kernel_items: list[Command | CopyFile | Generate] = [
        Command("kernel/uname.txt", ("uname", "-a"), QUICK, version_argv=("uname", "--version")),
        CopyFile("kernel/cmdline.txt", Path("/proc/cmdline")),
        CopyFile("kernel/modules.txt", Path("/proc/modules")),
        Command("kernel/lsmod.txt", ("lsmod",), QUICK),  # kmod's lsmod has no --version
        Command(
            "kernel/dmesg.txt",
            dmesg_argv,
            QUICK,
            needs_root=True,
            version_argv=("dmesg", "--version"),
        ),
        Generate(
            "kernel/dri_tree.txt", _dri_tree, "tree of /sys/kernel/debug/dri", needs_root=True
        ),
    ]
    if since is not None:
        kernel_items += [
            Command(
                "kernel/journal-since-install.txt",
                ("journalctl", "--no-pager", "--since", since.local()),
                SLOW,
                needs_root=True,  # or the systemd-journal group: else only the user's own
                version_argv=("journalctl", "--version"),
            ),
            Generate(
                "kernel/dmesg-firmware-lines.txt",
                _firmware_lines,
                "firmware lines of the whole dmesg",
                needs_root=True,
            ),
        ]
    return [
        Collector(
            "cpu",
            (
                Generate("cpu/scaling_governor.txt", _governors, "scaling governor of every CPU"),
                Command("cpu/lscpu.txt", ("lscpu",), QUICK, version_argv=("lscpu", "--version")),
                Command("cpu/numactl-hardware.txt", ("numactl", "--hardware"), QUICK),
                Generate("cpu/numa-nodes.txt", _numa, "NUMA nodes from sysfs"),
                Generate("cpu/probes.json", _cpu_summary, "cpu and memory probes"),
            ),
        ),
        Collector(
            "memory",
            (
                Command("memory/free.txt", ("free", "-h"), QUICK, version_argv=("free", "-V")),
                CopyFile("memory/meminfo.txt", Path("/proc/meminfo")),
            ),
        ),
        Collector(
            "pci",
            (
                Command("pci/lspci-tv.txt", ("lspci", "-tv"), QUICK, version_argv=lspci_v),
                Command("pci/lspci-vvv.txt", ("lspci", "-vvv"), QUICK, needs_root=True),
                Command("pci/lspci-nn-D.txt", ("lspci", "-nn", "-D"), QUICK),
                Generate("pci/devices.json", _pci_devices, "PCI devices from udev/sysfs"),
                Generate("pci/drm-cards.json", _drm_cards, "DRM cards from sysfs"),
            ),
        ),
        Collector("kernel", tuple(kernel_items)),
        Collector(
            "firmware",
            (
                Command(
                    "firmware/dmidecode.txt",
                    ("dmidecode",),
                    QUICK,
                    needs_root=True,
                    version_argv=("dmidecode", "--version"),
                ),
                Command(
                    "firmware/dpkg-libze.txt",
                    ("dpkg-query", "-W", "libze*"),
                    QUICK,
                    version_argv=("dpkg-query", "--version"),
                    absent_when=r"no packages found matching",
                ),
                Command("firmware/lib-firmware-xe.txt", ("ls", "-l", "/lib/firmware/xe"), QUICK,
                        absent_when=r"No such file or directory"),
            ),
        ),
        Collector(
            "system",
            (
                CopyFile("system/os-release.txt", Path("/etc/os-release")),
                CopyFile("system/hostname.txt", Path("/etc/hostname")),
                CopyFile("system/hosts.txt", Path("/etc/hosts")),
                CopyTree("system/apt.conf.d", Path("/etc/apt/apt.conf.d"), "*", 100, 2**20),
                Generate("system/proxy-env.txt", _proxy_settings, "proxy variables"),
                Command("system/ip-addr.txt", ("ip", "addr"), QUICK, version_argv=("ip", "-V")),
            ),
        ),
        Collector("gpu", tuple(gpu_items)),
        Collector(
            "multiarc",
            (
                CopyFile("multiarc/state.json", ctx.state_file),
                CopyTree(
                    "multiarc/install-logs",
                    ctx.install_log_dir,
                    "*",
                    500,
                    200 * 2**20,
                    newer_than=since.at.timestamp() if since else None,
                ),
                Generate("multiarc/last-results.txt", _last_results_note, "last evaluation folder"),
            ),
        ),
    ]


def _last_results_note(ctx: Context) -> str:
    folder = bkc.last_results_dir(ctx)
    return f"{folder}\n" if folder else "no evaluation results found\n"


def all_collectors(ctx: Context) -> list[Collector]:
    """Everything the archive holds, in the order the results are listed."""
    from multiarc.collect.collectors_logs import log_collectors
    from multiarc.collect.collectors_system import system_collectors

    collectors = [*build_collectors(ctx), *log_collectors(ctx), *system_collectors(ctx)]
    extra = last_results_collector(ctx)
    return [*collectors, extra] if extra else collectors


def last_results_collector(ctx: Context) -> Collector | None:
    folder = bkc.last_results_dir(ctx)
    if folder is None:
        return None
    return Collector(
        "multiarc",
        (
            CopyTree(
                f"multiarc/last-results/{folder.name}",
                folder,
                "*",
                500,
                200 * 2**20,
                below_root=False,
            ),
        ),
    )
