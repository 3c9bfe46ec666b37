"""Integration fixtures: the harness, the user's bundle, shared and fresh sites, bad bundles.

See sites.py for what a site is and how everything started is cleaned up. Shared (session)
fixtures: the unpacked image, the fixture tree, the bundle made with ``bundle create``,
one node with that bundle installed, the tampered and the traversal archives.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.synthetic_bundle import build_bundle_tree, fixture_cache_dir
from tests.integration.rootfs import (
    HarnessUnavailable,
    build_image,
    make_key,
    require_harness,
    unmount_below,
    unpack_image,
)
from tests.integration.sites import (
    Harness,
    Installed,
    Site,
    UserBundle,
    explain,
    installer_command,
    site_context,
)

OWNER_FILE = "owner.pid"


def _owner_alive(folder: Path) -> bool:
    try:
        pid = int((folder / OWNER_FILE).read_text())
    except (OSError, ValueError):  # an older session's folder, or cut off while made
        return time.time() - folder.stat().st_mtime < 3600
    return Path(f"/proc/{pid}").exists()


def _kill_chrooted_below(folder: Path) -> None:
    """SIGKILL every process whose root is at or below ``folder`` (a node's sshd, dpkg)."""
    real = os.path.realpath(folder)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            root = os.readlink(f"/proc/{pid}/root")
            if root == real or root.startswith(real + "/"):
                os.kill(int(pid), signal.SIGKILL)


def sweep_stale_sessions() -> None:
    """Session folders of killed test runs (their owner is gone): their nodes' processes
    killed, their mounts undone, the folders removed, so they do not pile up."""
    for folder in Path("/tmp").glob("ma-it-*"):
        if folder.is_dir() and not folder.is_symlink() and not _owner_alive(folder):
            _kill_chrooted_below(folder)
            unmount_below(folder)
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def harness() -> Iterator[Harness]:
    try:
        require_harness()
        command = installer_command()
    except HarnessUnavailable as err:
        pytest.skip(f"integration harness unavailable: {err}")
    image = build_image()
    sweep_stale_sessions()
    workdir = Path(tempfile.mkdtemp(prefix="ma-it-", dir="/tmp"))
    (workdir / OWNER_FILE).write_text(f"{os.getpid()}\n")
    made = Harness(workdir, workdir / "lower", make_key(workdir), command)
    try:
        made.tmp.mkdir()
        unpack_image(image, made.lower)
        yield made
    finally:
        made.close()


@pytest.fixture(scope="session")
def bundle_tree(harness: Harness) -> Path:
    """The pristine fixture tree (~1 MB of payload, ~40 real .debs). Read only."""
    return build_bundle_tree(harness.workdir / "tree", cache=fixture_cache_dir())


# -- sites: a node plus the controller's folders for it ------------------------------------------


@pytest.fixture
def fresh_site(harness: Harness, request: pytest.FixtureRequest) -> Iterator[Site]:
    """A node of its own for one test (removed afterwards)."""
    with site_context(harness, request.node.name[:20].replace("[", "-")) as site:
        yield site


@pytest.fixture(scope="session")
def user_bundle(harness: Harness, bundle_tree: Path) -> UserBundle:
    """``multiarc-install bundle create TREE -o b.tar.xz``, run as a user runs it."""
    out = harness.workdir / "user" / "b60-fixture.tar.xz"
    out.parent.mkdir()
    done = subprocess.run(
        [*harness.command, "bundle", "create", str(bundle_tree), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(harness.tmp)},
    )
    assert done.returncode == 0, explain(done)
    return UserBundle(out, done)


@pytest.fixture(scope="session")
def installed(harness: Harness, user_bundle: UserBundle) -> Iterator[Installed]:
    """One node with the user's bundle installed once (shared: tests only read it, or run
    the idempotent install again)."""
    with site_context(harness, "installed") as site:
        grub_cfg = site.file("/boot/grub/grub.cfg").read_text()
        yield Installed(site, site.install(user_bundle.archive), grub_cfg)


@pytest.fixture(scope="session")
def tampered_bundle(harness: Harness, bundle_tree: Path) -> tuple[Path, str]:
    """Our format with one byte of a .deb changed after the manifest was made: (archive,
    the changed file's path in the bundle)."""
    from multiarc.installer.bundle import write_archive
    from multiarc.installer.bundle_manifest import build_manifest

    tree = Path(shutil.copytree(bundle_tree, harness.workdir / "tampered" / bundle_tree.name))
    manifest = build_manifest(tree)
    target = next((tree / "gfxdrv" / "gpgpu").glob("libze-intel-gpu1_*.deb"))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    out = harness.workdir / "tampered" / "tampered.tar.xz"
    write_archive(tree, out, manifest, preset=0)
    return out, str(target.relative_to(tree))


@pytest.fixture(scope="session")
def traversal_bundle(harness: Harness, bundle_tree: Path) -> tuple[Path, str]:
    """Intel's format (no manifest) plus a member ``TOP/../../../<name>``: (archive, the
    name the member would write one level above the extraction root's parent)."""
    folder = harness.workdir / "traversal"
    folder.mkdir()
    escape = "multiarc-escaped-by-traversal"
    out = folder / "traversal.tar.xz"
    with tarfile.open(out, "w:xz", preset=0) as archive:
        archive.add(bundle_tree, arcname=bundle_tree.name)
        info = tarfile.TarInfo(f"{bundle_tree.name}/../../../{escape}")
        payload = b"written outside the extraction folder\n"
        info.size = len(payload)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(payload))
    return out, escape
