"""The dpkg repair the installer sends to a node after an interrupted run, in every state a
killed run can leave a package in, on a real Debian root (real dpkg and apt, chrooted).

A run killed while dpkg unpacks a package leaves it half installed (``iH``) or marked for
reinstallation (``iUR``, ``iFR``): ``dpkg --configure -a`` skips the first and exits 0, and
fails on the others, as does ``apt-get -f install``. The end-to-end kill test
(test_interrupted.py) hits that phase only by chance; here each state is set in dpkg's
status file, as the kill leaves it, and the repair must leave the package installed and
``dpkg --audit`` clean.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from multiarc.installer.node_ops import REPAIR_DPKG

from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration

PACKAGE = "multiarc-repair-probe"
DEB = f"{PACKAGE}_1.0_all.deb"
CONFIGURED = "/var/tmp/repair-probe-configured"  # its postinst touches this


def _chroot(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), "sh", "-c", command], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def _build_repository(root: Path) -> None:
    """A .deb with files and a postinst, in a flat file: repository like the bundle's."""
    package = root / "build" / PACKAGE
    (package / "DEBIAN").mkdir(parents=True)
    (package / "usr/share" / PACKAGE).mkdir(parents=True)
    for i in range(5):
        (package / "usr/share" / PACKAGE / f"f{i}").write_text(f"{i}\n" * 1000)
    (package / "DEBIAN/control").write_text(
        f"Package: {PACKAGE}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: a package for the repair test\n")  # fmt: skip
    postinst = package / "DEBIAN/postinst"
    postinst.write_text(f"#!/bin/sh\ntouch {CONFIGURED}\n")
    postinst.chmod(0o755)
    (root / "repo").mkdir()
    built = _chroot(root, f"dpkg-deb -b /build/{PACKAGE} /repo/{DEB}")
    assert built.returncode == 0, built.stderr
    data = (root / "repo" / DEB).read_bytes()
    control = (package / "DEBIAN/control").read_text()
    digest = hashlib.sha256(data).hexdigest()
    (root / "repo/Packages").write_text(
        f"{control}Filename: ./{DEB}\nSize: {len(data)}\nSHA256: {digest}\n\n")
    (root / "etc/apt/sources.list.d/repair-probe.list").write_text(
        "deb [trusted=yes] file:/repo ./\n")


@pytest.fixture(scope="module")
def probe_root(harness: Harness) -> Iterator[Path]:
    """A copy of the node image with the probe package installed from its repository."""
    root = harness.workdir / "repair-root"
    subprocess.run(["cp", "-a", str(harness.lower), str(root)], check=True)
    try:
        _build_repository(root)
        only = "-o Dir::Etc::sourcelist=/dev/null"  # the probe's repository only, as offline
        setup = _chroot(root, f"apt-get update -q {only} && DEBIAN_FRONTEND=noninteractive "
                              f"apt-get install -y -q {PACKAGE}")  # fmt: skip
        assert setup.returncode == 0, setup.stdout + setup.stderr
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _set_status(root: Path, status: str) -> None:
    path = root / "var/lib/dpkg/status"
    stanzas = path.read_text().split("\n\n")
    for i, stanza in enumerate(stanzas):
        if stanza.startswith(f"Package: {PACKAGE}\n"):
            lines = [f"Status: {status}" if line.startswith("Status: ") else line
                     for line in stanza.split("\n")]  # fmt: skip
            stanzas[i] = "\n".join(lines)
    path.write_text("\n\n".join(stanzas))


def _state(root: Path) -> str:
    return _chroot(root, f"dpkg-query -W -f='${{db:Status-Abbrev}}' {PACKAGE}").stdout.strip()


@pytest.mark.parametrize(
    ("status", "reinstalled"),
    [
        ("install reinstreq half-installed", True),  # killed mid-unpack
        ("install ok half-installed", True),
        ("install reinstreq unpacked", True),  # the CI run of 4 December: exit 1 here
        ("install reinstreq half-configured", True),
        ("install ok unpacked", False),  # killed between unpack and configure
        ("install ok half-configured", False),  # killed in its postinst
    ],
)
def test_the_repair_leaves_every_killed_state_installed(
    probe_root: Path, status: str, reinstalled: bool
) -> None:
    _set_status(probe_root, status)
    marker = probe_root / CONFIGURED.lstrip("/")
    marker.unlink(missing_ok=True)
    assert _state(probe_root) != "ii"
    repair = _chroot(probe_root, REPAIR_DPKG)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert _state(probe_root) == "ii"
    assert _chroot(probe_root, "dpkg --audit").stdout == ""
    assert ("reinstalling: " + PACKAGE in repair.stdout) is reinstalled
    assert marker.exists()  # configured for real (its postinst ran), not just marked


def test_a_clean_node_is_left_alone(probe_root: Path) -> None:
    _set_status(probe_root, "install ok installed")
    repair = _chroot(probe_root, REPAIR_DPKG)
    assert repair.returncode == 0 and repair.stdout.strip() == "clean"


def test_a_package_that_cannot_be_reinstalled_fails_the_repair(probe_root: Path) -> None:
    """No archive to reinstall from: the repair fails (the installer then stops with the
    nodes' output in its repair log) instead of calling the node clean."""
    deb = probe_root / "repo" / DEB
    saved = deb.with_suffix(".saved")
    deb.rename(saved)
    try:
        _set_status(probe_root, "install reinstreq unpacked")
        repair = _chroot(probe_root, REPAIR_DPKG)
        assert repair.returncode != 0
        assert "reinstalling: " + PACKAGE in repair.stdout
        assert _chroot(probe_root, "dpkg --audit").stdout != ""
    finally:
        saved.rename(deb)
        _set_status(probe_root, "install ok installed")
