"""System probes: small, typed facts about the machine that every layer reads.

Every probe that reads the file system takes ``root`` (default ``/``) and reads
``root/proc/cmdline``, ``root/sys/...`` and so on, so a recorded slice of a file system
(``tests/recordings/<host>/root``) can be probed like a live machine. No probe raises on a
missing or unreadable file: it returns an empty value or None instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from multiarc import paths
from multiarc.devices import is_supported_gpu

ROOT = Path("/")


# ----------------------------------------------------------------------------- helpers


def read_text(path: Path) -> str | None:
    """The file's text (undecodable bytes replaced), or None if it cannot be read."""
    try:
        return path.read_text(errors="replace")
    except (OSError, ValueError):
        return None


def _read_line(path: Path) -> str | None:
    text = read_text(path)
    return None if text is None else text.strip()


def _hex_id(value: str | None) -> str:
    """``0x8086\\n`` -> ``8086``; ``0x030000`` -> ``030000``."""
    if not value:
        return ""
    return value.strip().lower().removeprefix("0x")


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


# ----------------------------------------------------------------------------- os, kernel


@dataclass(frozen=True)
class OsRelease:
    id: str = ""
    version_id: str = ""
    pretty_name: str = ""
    version_codename: str = ""
    version: str = ""  # e.g. "25.04 (Plucky Puffin)": what Intel's BKC table prints


def parse_os_release(text: str) -> dict[str, str]:
    """Key/value pairs of an os-release file (shell quoting removed)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key.strip()] = " ".join(parts)
    return values


def os_release(root: Path = ROOT) -> OsRelease:
    """/etc/os-release (falling back to /usr/lib/os-release); empty fields when absent."""
    for candidate in (root / "etc/os-release", root / "usr/lib/os-release"):
        text = read_text(candidate)
        if text is not None:
            v = parse_os_release(text)
            return OsRelease(
                id=v.get("ID", ""),
                version_id=v.get("VERSION_ID", ""),
                pretty_name=v.get("PRETTY_NAME", ""),
                version_codename=v.get("VERSION_CODENAME", ""),
                version=v.get("VERSION", ""),
            )
    return OsRelease()


def kernel_release(root: Path = ROOT) -> str:
    """The running kernel release (``uname -r``), from root/proc/sys/kernel/osrelease."""
    return _read_line(root / "proc/sys/kernel/osrelease") or ""


def kernel_cmdline(root: Path = ROOT) -> list[str]:
    """The booted kernel's command line, split into parameters."""
    text = read_text(root / "proc/cmdline")
    if not text:
        return []
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


# ----------------------------------------------------------------------------- pci, drm


@dataclass(frozen=True)
class PciDevice:
    bdf: str  # "0000:18:00.0"
    vendor_id: str  # "8086"
    device_id: str  # "e211"
    class_id: str  # "030000"
    driver: str | None
    current_link_speed: str | None  # "32.0 GT/s PCIe", as sysfs prints it
    current_link_width: int | None
    max_link_speed: str | None
    max_link_width: int | None
    numa_node: int | None
    bar_sizes: tuple[int, ...]  # bytes, one per line of `resource` (BAR0..5, ROM, ...)

    @property
    def pci_id(self) -> str:
        return f"{self.vendor_id}:{self.device_id}"


def parse_pci_resource(text: str) -> tuple[int, ...]:
    """Sizes in bytes from a sysfs ``resource`` file (``start end flags`` per line)."""
    sizes: list[int] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        try:
            start, end = int(fields[0], 16), int(fields[1], 16)
        except ValueError:
            continue
        sizes.append(end - start + 1 if end > start else 0)
    return tuple(sizes)


def _pci_record(bdf: str, attr: Callable[[str], str | None], driver: str | None) -> PciDevice:
    resource = attr("resource")
    return PciDevice(
        bdf=bdf,
        vendor_id=_hex_id(attr("vendor")),
        device_id=_hex_id(attr("device")),
        class_id=_hex_id(attr("class")),
        driver=driver,
        current_link_speed=attr("current_link_speed"),
        current_link_width=_int_or_none(attr("current_link_width")),
        max_link_speed=attr("max_link_speed"),
        max_link_width=_int_or_none(attr("max_link_width")),
        numa_node=_int_or_none(attr("numa_node")),
        bar_sizes=parse_pci_resource(resource) if resource else (),
    )


def pci_devices_from_sysfs(root: Path = ROOT) -> list[PciDevice]:
    """Walk root/sys/bus/pci/devices (the fallback when pyudev is not usable)."""
    base = root / "sys/bus/pci/devices"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return []
    devices = []
    for bdf in entries:
        folder = base / bdf

        def attr(name: str, folder: Path = folder) -> str | None:
            return _read_line(folder / name)

        try:
            driver: str | None = os.path.basename(os.readlink(folder / "driver"))
        except OSError:
            driver = None
        devices.append(_pci_record(bdf, attr, driver))
    return devices


def pci_devices_from_udev() -> list[PciDevice]:
    """Enumerate PCI devices through pyudev (live system only). Raises if udev is unusable."""
    import pyudev

    context = pyudev.Context()
    devices = []
    for dev in context.list_devices(subsystem="pci"):

        def attr(name: str, dev: pyudev.Device = dev) -> str | None:
            try:
                value = dev.attributes.get(name)
            except OSError:
                return None
            return None if value is None else value.decode(errors="replace").strip()

        devices.append(_pci_record(dev.sys_name, attr, dev.driver))
    return sorted(devices, key=lambda d: d.bdf)


def pci_devices(root: Path = ROOT) -> list[PciDevice]:
    """All PCI devices: via pyudev when probing the live "/", else (or on failure) sysfs."""
    if Path(root) == ROOT:
        try:
            found = pci_devices_from_udev()
        except Exception:  # pyudev missing, no libudev, no /sys: use the plain walk
            found = []
        if found:
            return found
    return pci_devices_from_sysfs(root)


def intel_gpus(root: Path = ROOT) -> list[PciDevice]:
    """PCI devices that are GPUs this toolkit evaluates (multiarc.devices table)."""
    return [d for d in pci_devices(root) if is_supported_gpu(d.vendor_id, d.device_id)]


@dataclass(frozen=True)
class DrmCard:
    name: str  # "card1"
    bdf: str | None  # PCI address of its device, None for a non-PCI card
    driver: str | None


_CARD_RE = re.compile(r"^card(\d+)$")


def drm_cards(root: Path = ROOT) -> list[DrmCard]:
    """DRM cards (root/sys/class/drm/cardN, not connectors or render nodes) in number order."""
    base = root / "sys/class/drm"
    try:
        names = [n for n in os.listdir(base) if _CARD_RE.match(n)]
    except OSError:
        return []
    cards = []
    for name in sorted(names, key=lambda n: int(_CARD_RE.match(n).group(1))):  # type: ignore[union-attr]
        device = base / name / "device"
        try:
            bdf: str | None = os.path.basename(os.readlink(device))
        except OSError:
            bdf = None
        driver = None
        for link in (device / "driver", root / "sys/bus/pci/devices" / (bdf or "-") / "driver"):
            try:
                driver = os.path.basename(os.readlink(link))
                break
            except OSError:
                continue
        cards.append(DrmCard(name=name, bdf=bdf, driver=driver))
    return cards


# ----------------------------------------------------------------------------- packages, tools


def package_versions(
    patterns: Iterable[str], admindir: Path | None = None, timeout: float = 30.0
) -> dict[str, str]:
    """Installed versions of the packages matching ``patterns`` (dpkg globs, e.g. "libze*").

    Packages known to dpkg but not installed are left out. {} when dpkg-query is missing
    or fails. ``admindir`` reads another dpkg database (e.g. a recording's var/lib/dpkg).
    """
    patterns = [p for p in patterns if p]
    dpkg_query = shutil.which("dpkg-query")
    if not patterns or dpkg_query is None:
        return {}
    cmd = [dpkg_query]
    if admindir is not None:
        cmd.append(f"--admindir={admindir}")
    cmd += ["-W", "-f=${Package}\t${Version}\t${db:Status-Status}\n", "--", *patterns]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    versions: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[2] == "installed" and fields[1]:
            versions[fields[0]] = fields[1]
    return versions


def find_tool(name: str, extra_dirs: Iterable[Path] = paths.TOOL_SEARCH_DIRS) -> Path | None:
    """An executable called ``name``: PATH first, then the known install folders."""
    found = shutil.which(name)
    if found:
        return Path(found)
    for folder in extra_dirs:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


# ----------------------------------------------------------------------------- container


_CONTAINER_CGROUP = re.compile(r"docker|kubepods|containerd|libpod|lxc")


def in_container(root: Path = ROOT, environ: dict[str, str] | None = None) -> bool:
    """True inside a container: /.dockerenv, /run/.containerenv, /proc/1/cgroup, $container."""
    env = os.environ if environ is None else environ
    if env.get("container"):
        return True
    if (root / ".dockerenv").exists() or (root / "run/.containerenv").exists():
        return True
    cgroup = read_text(root / "proc/1/cgroup") or ""
    return bool(_CONTAINER_CGROUP.search(cgroup))


# ----------------------------------------------------------------------------- firmware


# xe_uc_fw.c: "Using %s firmware from %s version %u.%u.%u" (GuC, HuC, GSC), each line
# prefixed by the device and, on newer kernels, "GT<n>: ".
_UC_FW_RE = re.compile(r"Using (GuC|HuC|GSC) firmware from (\S+) version (\d+(?:\.\d+)*)")
# intel_dmc.c (shared by i915 and xe display): "Finished loading DMC firmware %s (v%u.%u)".
_DMC_RE = re.compile(r"Finished loading DMC firmware (\S+) \(v(\d+(?:\.\d+)*)\)")


def firmware_versions_from_dmesg(text: str) -> dict[str, str]:
    """{"guc": "70.44.1", "huc": "8.2.10", "dmc": "2.6"}: first version of each in dmesg."""
    versions: dict[str, str] = {}
    for m in _UC_FW_RE.finditer(text):
        versions.setdefault(m.group(1).lower(), m.group(3))
    dmc = _DMC_RE.search(text)
    if dmc:
        versions["dmc"] = dmc.group(2)
    return versions


_BASEKIT_LOG_RE = re.compile(
    r"installer\.install\.intel\.oneapi\.lin\.basekit\.product,v=(.+)\.[^.]+$"
)


def oneapi_version(root: Path = ROOT) -> str | None:
    """oneAPI Base Toolkit version from its installer log name (as get_bkc_version.sh does)."""
    logs = root / str(paths.ONEAPI_ROOT).lstrip("/") / "logs"
    try:
        names = sorted(os.listdir(logs))
    except OSError:
        return None
    for name in names:
        m = _BASEKIT_LOG_RE.match(name)
        if m:
            return m.group(1)
    return None
