"""Logs, apt and boot: what ``sos report`` gathers there, and a B60 engineer needs.

- logs: the kernel journal of this boot and the one before (bounded in time and size),
  ``/var/log/kern.log*`` tails, failed units, and with ``--since TIME`` the journal from then;
- apt: history and term logs, dpkg.log*, sources (credentials removed like everywhere),
  held packages, ``apt-cache policy`` of the bundle's packages;
- boot: GRUB's defaults and drop-ins, the menu entries of grub.cfg, /boot, Secure Boot.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from multiarc.collect import bkc, probes
from multiarc.collect.context import Context
from multiarc.collect.runner import run_process
from multiarc.collect.spec import Absent, Collector, Command, CopyFile, CopyTree, Generate

QUICK = 30.0
SLOW = 120.0
LOG_BYTES = 20 * 2**20  # the most kept of one log (its end: the newest lines)
TAIL_BYTES = 2 * 2**20  # of each kern.log*
JOURNAL_WINDOW = "-7d"  # the kernel journal of the last boot: at most this far back
# What the stack is made of, when no installed bundle names its packages (state.json).
STACK_PACKAGES = (
    "linux-image-generic", "firmware-intel-graphics", "linux-firmware", "libze1",
    "libze-intel-gpu1", "intel-opencl-icd", "intel-level-zero-gpu", "libigdgmm12",
    "intel-media-va-driver-non-free", "libvpl2", "libmfx-gen1.2", "intel-gpu-tools",
    "xpu-smi", "clinfo", "hwloc",
)  # fmt: skip
_NO_PREVIOUS_BOOT = (
    r"no persistent journal|Specifying boot ID or boot offset has no effect|"
    r"No journal boot entry found|Data from the specified boot \(-1\) is not available"
)
_MENU = re.compile(r"^\s*(?:menuentry|submenu|set default|set timeout|set saved_entry|"
                   r"load_env|linux\s|initrd\s)", re.MULTILINE)
_TAINT_FLAGS = (
    ("P", "proprietary module loaded"), ("F", "module force loaded"),
    ("S", "kernel running on an out of specification system"), ("R", "module force unloaded"),
    ("M", "processor reported a Machine Check Exception"), ("B", "bad page referenced"),
    ("U", "taint requested by user"), ("D", "kernel died recently (OOPS or BUG)"),
    ("A", "ACPI table overridden"), ("W", "kernel issued a warning"),
    ("C", "staging driver loaded"), ("I", "workaround for a platform firmware bug"),
    ("O", "externally-built (out-of-tree) module loaded"), ("E", "unsigned module loaded"),
    ("L", "soft lockup occurred"), ("K", "kernel live patched"), ("X", "auxiliary taint"),
    ("T", "kernel built with the struct randomization plugin"), ("N", "an in-kernel test ran"),
)  # fmt: skip


def decode_tainted(value: int) -> str:
    if value == 0:
        return "0: not tainted\n"
    lines = [f"{value}: tainted"]
    for bit, (letter, meaning) in enumerate(_TAINT_FLAGS):
        if value & (1 << bit):
            lines.append(f"  bit {bit:2d} ({letter}) {meaning}")
    return "\n".join(lines) + "\n"


def _tainted(ctx: Context) -> str:
    text = ctx.path("/proc/sys/kernel/tainted").read_text().strip()
    return decode_tainted(int(text)) if text.isdigit() else f"unreadable: {text!r}\n"


def _tail(path: Path, limit: int) -> bytes:
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            fh.seek(size - limit)
            data = fh.read()
            return b"(earlier lines left out)\n" + data[data.find(b"\n") + 1:]
        return fh.read()


def _kern_log(ctx: Context) -> str:
    """The end of /var/log/kern.log and kern.log.1 (rsyslog's kernel messages)."""
    parts = []
    for name in ("kern.log.1", "kern.log"):
        path = ctx.path("/var/log/" + name)
        if path.is_file() and not path.is_symlink():
            parts.append(f"==> /var/log/{name} <==\n" + _tail(path, TAIL_BYTES).decode(
                errors="replace"))
    if not parts:
        raise FileNotFoundError(2, "no /var/log/kern.log (no rsyslog: see the journal)")
    return "\n".join(parts)


def _grub_menu(ctx: Context) -> str:
    """The menu entries and default of the generated grub.cfg (not the whole script)."""
    text = ctx.path("/boot/grub/grub.cfg").read_text(errors="replace")
    return "".join(m.group(0).strip() + "\n" for m in re.finditer(r"^.*$", text, re.MULTILINE)
                   if _MENU.match(m.group(0)))


def _boot_listing(ctx: Context) -> str:
    base = ctx.path("/boot")
    lines = []
    for entry in sorted(os.scandir(base), key=lambda e: e.name):
        st = entry.stat(follow_symlinks=False)
        link = f" -> {os.readlink(entry.path)}" if entry.is_symlink() else ""
        kind = "d" if entry.is_dir(follow_symlinks=False) else "-"
        lines.append(f"{kind} {st.st_size:>12} {entry.name}{link}")
    return "\n".join(lines) + "\n"


def _held(ctx: Context) -> str:
    """What ``apt-mark showhold`` prints, read from dpkg's selections (apt-mark itself
    builds apt's whole cache first: half a second where that cache is disabled)."""
    argv: tuple[str, ...] = ("dpkg-query", "-W", "-f=${db:Status-Want} ${Package}\n")
    if ctx.root != Path("/"):
        argv = (argv[0], f"--admindir={ctx.path('/var/lib/dpkg')}", *argv[1:])
    out, err, code, _timed_out = run_process(argv, ctx.timeout(QUICK), ctx.command_env())
    if code != 0:
        raise OSError(0, err.decode(errors="replace").strip() or f"dpkg-query exit {code}")
    held = sorted(line.split()[1] for line in out.decode(errors="replace").splitlines()
                  if line.startswith("hold ") and len(line.split()) == 2)
    return "".join(f"{name}\n" for name in held) or "no packages on hold\n"


def bundle_packages(ctx: Context) -> list[str]:
    """The installed bundle's packages (state.json); without one, those of the stack's
    usual packages that are installed."""
    state = bkc.read_state(ctx)
    bundle_dir = state.get("bundle_dir")
    if isinstance(bundle_dir, str):
        lists = bkc.bundle_package_lists(ctx.path(bundle_dir))
        found = sorted({p for names in lists.values() for p in names})
        if found:
            return found
    admindir = ctx.path("/var/lib/dpkg") if ctx.root != Path("/") else None
    return sorted(probes.package_versions(STACK_PACKAGES, admindir=admindir))


def _policy(ctx: Context) -> str:
    """``apt-cache policy`` of the bundle's packages (candidates, pins, origins)."""
    packages = bundle_packages(ctx)
    if not packages:
        raise Absent("no installed bundle and none of the stack's packages is installed")
    out, err, code, timed_out = run_process(("apt-cache", "policy", *packages),
                                            ctx.timeout(QUICK), ctx.command_env())
    if code != 0 or timed_out:
        raise OSError(0, err.decode(errors="replace").strip() or f"apt-cache exit {code}")
    return out.decode(errors="replace")


def log_collectors(ctx: Context) -> list[Collector]:
    journal = ("journalctl", "--no-pager", "-o", "short-iso")
    since = ("--since", ctx.since) if ctx.since else ("--since", JOURNAL_WINDOW)
    logs: list[Command | CopyFile | CopyTree | Generate] = [
        Command("logs/journal-kernel-this-boot.txt", (*journal, "-k", "-b", "0", *since), SLOW,
                needs_root=True, version_argv=("journalctl", "--version"), max_bytes=LOG_BYTES),
        Command("logs/journal-kernel-previous-boot.txt", (*journal, "-k", "-b", "-1", *since),
                SLOW, needs_root=True, absent_when=_NO_PREVIOUS_BOOT, max_bytes=LOG_BYTES),
        Generate("logs/kern.log-tail.txt", _kern_log, "end of /var/log/kern.log*",
                 needs_root=True),
        Command("logs/failed-units.txt", ("systemctl", "list-units", "--failed", "--no-pager",
                                          "--no-legend"), QUICK),
    ]
    if ctx.since:
        logs.append(Command("logs/journal-since.txt", (*journal, "--since", ctx.since), SLOW,
                            needs_root=True, max_bytes=LOG_BYTES))
    apt = (
        CopyTree("apt/log", Path("/var/log/apt"), "*.log*", 20, 50 * 2**20, recursive=False),
        CopyTree("apt/dpkg-log", Path("/var/log"), "dpkg.log*", 10, 50 * 2**20, recursive=False),
        CopyFile("apt/sources.list", Path("/etc/apt/sources.list")),
        CopyTree("apt/sources.list.d", Path("/etc/apt/sources.list.d"), "*", 100, 2**20),
        CopyFile("apt/apt.conf", Path("/etc/apt/apt.conf")),
        Generate("apt/held-packages.txt", _held, "packages on hold (as apt-mark showhold)"),
        Generate("apt/apt-cache-policy.txt", _policy, "apt-cache policy of the bundle's packages"),
    )
    boot = (
        CopyFile("boot/etc-default-grub.txt", Path("/etc/default/grub")),
        CopyTree("boot/etc-default-grub.d", Path("/etc/default/grub.d"), "*", 50, 2**20),
        Generate("boot/grub-menu.txt", _grub_menu, "menu entries of /boot/grub/grub.cfg",
                 needs_root=True),
        Generate("boot/boot-listing.txt", _boot_listing, "listing of /boot"),
        Command("boot/mokutil-sb-state.txt", ("mokutil", "--sb-state"), QUICK,
                absent_when=r"EFI variables are not supported|not supported on this system"),
        Generate("boot/tainted.txt", _tainted, "/proc/sys/kernel/tainted, decoded"),
    )
    return [Collector("logs", tuple(logs)), Collector("apt", apt), Collector("boot", boot)]
