"""Checks on the controller before anything changes: root, operating system, disk space.

The roles' own ``preflight`` role checks each target node again (OS, container, disk); these
checks stop a local run early with a clear exit 3, before the bundle is even read.
The target OS is Ubuntu 25.04 on amd64. Other Debian-family systems are accepted only
with the explicit ``--allow-os-override`` (documented for test roots and labs; the real
check is never weakened).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from multiarc.errors import EnvironmentNotReady
from multiarc.safe_files import make_own_folder

TARGET_OS_ID = "ubuntu"
TARGET_OS_VERSION = "25.04"
TARGET_ARCH = "amd64"
OS_RELEASE = Path("/etc/os-release")


@dataclass(frozen=True)
class OsRelease:
    id: str
    version_id: str
    id_like: tuple[str, ...]
    pretty_name: str

    @property
    def debian_family(self) -> bool:
        return (
            self.id in ("debian", "ubuntu") or "debian" in self.id_like or "ubuntu" in self.id_like
        )

    @property
    def is_target(self) -> bool:
        return self.id == TARGET_OS_ID and self.version_id == TARGET_OS_VERSION


def read_os_release(path: Path = OS_RELEASE) -> OsRelease:
    fields: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"').strip("'")
    return OsRelease(
        id=fields.get("ID", "unknown").lower(),
        version_id=fields.get("VERSION_ID", ""),
        id_like=tuple(fields.get("ID_LIKE", "").lower().split()),
        pretty_name=fields.get("PRETTY_NAME", fields.get("ID", "unknown")),
    )


def machine_arch() -> str:
    dpkg = shutil.which("dpkg")
    if dpkg:
        out = subprocess.run([dpkg, "--print-architecture"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def check_root(euid: int | None = None) -> None:
    if (os.geteuid() if euid is None else euid) != 0:
        raise EnvironmentNotReady(
            "multiarc-install must run as root to change this system",
            "run it with sudo",
        )


def check_os(release: OsRelease, arch: str, allow_override: bool) -> str | None:
    """Raise unless the OS is the target (or Debian-family with the override); return a note."""
    target = f"Ubuntu {TARGET_OS_VERSION} {TARGET_ARCH}"
    if release.is_target and arch == TARGET_ARCH:
        return None
    found = f"{release.pretty_name} {arch}"
    if not allow_override:
        raise EnvironmentNotReady(
            f"unsupported system: {found} (the validated stack targets {target})",
            "install Ubuntu 25.04, or pass --allow-os-override to try another "
            "Debian-family amd64 system at your own risk",
        )
    if not release.debian_family or arch != TARGET_ARCH:
        raise EnvironmentNotReady(
            f"unsupported system even with --allow-os-override: {found}",
            f"the override accepts Debian-family {TARGET_ARCH} systems only",
        )
    return f"OS override: installing onto {found}, not the validated {target}"


def existing_parent(path: Path) -> Path:
    """path itself, or its nearest parent that exists (a folder not created yet)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem that holds path (or will hold it)."""
    return shutil.disk_usage(existing_parent(path)).free


def check_disk(path: Path, needed_bytes: int, what: str) -> None:
    """Raise when the filesystem holding path (or its nearest existing parent) is too full."""
    probe = existing_parent(path)
    free = free_bytes(probe)
    if free < needed_bytes:
        raise EnvironmentNotReady(
            f"not enough disk space for {what} in {probe}: "
            f"{_mib(needed_bytes)} MiB needed, {_mib(free)} MiB free",
            "free some space there and run again",
        )


def check_writable(path: Path, what: str) -> None:
    """``path`` made if missing, safe for root's files (nobody else can write in it or move
    it: multiarc.safe_files) and writable: EnvironmentNotReady (exit 3) otherwise."""
    make_own_folder(path, what)
    if not os.access(path, os.W_OK):
        raise EnvironmentNotReady(f"{what} {path} is not writable", "run as root (sudo)")


def _mib(n: int) -> int:
    return n // (1024 * 1024)


def controller_preflight(
    *,
    local: bool,
    allow_os_override: bool,
    state_dir: Path,
    bundle: Path,
) -> list[str]:
    """All controller checks in order; returns notes to show (e.g. the OS override)."""
    notes: list[str] = []
    if local:
        check_root()
        note = check_os(read_os_release(), machine_arch(), allow_os_override)
        if note:
            notes.append(note)
    # The extracted tree needs at least as much as the archive; the bundle reader checks
    # the exact uncompressed size before it extracts anything.
    check_disk(state_dir, bundle.stat().st_size, f"bundle {bundle.name}")
    return notes
