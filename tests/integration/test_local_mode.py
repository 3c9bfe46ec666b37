"""Local mode: ``multiarc-install --offline BUNDLE`` without ``--inventory`` run on the node itself.

The other integration tests drive nodes over SSH with ``--inventory``. Here the installer
runs *inside* the node, as a user runs it on the machine to install: the localhost
inventory (``ansible_connection=local``), the bundle extracted once to the node's
``/var/lib/multiarc/bundles/<version>`` and used in place by the roles (no transfer),
state and logs in the node's ``/var/lib/multiarc`` and ``/var/log/multiarc``. Then a second
run (nothing changes; with ``--reboot`` the local reboot command runs, a harmless stand-in
injected through MULTIARC_REBOOT_COMMAND) and ``--verify`` against ``local://`` (the checks
of the running kernel are SKIP, as on the SSH nodes: a chroot runs the host's kernel).

How: the checkout, the virtualenv and the Python installation the venv was made from are
bind-mounted read-only into the node's root at their own paths, the bundle archive is put
in the node's ``/root``, and the console script runs under ``chroot ROOT`` with a plain
environment (system PATH without the venv, HOME=/root, no TMPDIR or venv variables of the
host). Ansible's modules run under the venv's Python; the apt module respawns under the
node's ``/usr/bin/python3``, which has python3-apt. The node's sshd only serves the
test's own reads (dpkg-query). A Python installed in a system prefix (``/usr``) cannot be
mounted over the node's own: the test skips then, saying why.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from multiarc.installer.driver import playbook_roles
from multiarc.installer.install import REBOOT_COMMAND_ENV

from tests.integration.rootfs import Node
from tests.integration.sites import (
    INSTALL_TIMEOUT,
    REPO_ROOT,
    Harness,
    Site,
    UserBundle,
    assert_verified_on_a_chroot_node,
    bundle_packages,
    explain,
    flat,
    installed_packages,
    site_context,
    summary_rows,
)

pytestmark = pytest.mark.integration

HOST = "localhost"  # the host name of the generated inventory, in the summary and state
SYSTEM_PREFIXES = (Path("/"), Path("/usr"), Path("/usr/local"))
NODE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "COLUMNS": "200",  # the summary table on one line per role
    "NO_COLOR": "1",
}


def host_folders(script: Path) -> list[Path]:
    """What the installer needs from the host, outermost first: the checkout (the editable
    install points there), the venv when it is elsewhere, the base Python's prefix."""
    base = Path(sys.base_prefix).resolve()
    if base in SYSTEM_PREFIXES:
        pytest.skip(f"the venv's Python lives in {base}: it cannot be mounted over the node's")
    folders: list[Path] = []
    for folder in (REPO_ROOT.resolve(), Path(sys.prefix).resolve(), base):
        if not any(folder.is_relative_to(f) for f in folders):
            folders.append(folder)
    python = Path(sys.executable).resolve()
    for needed in (script, python):
        if not any(needed.is_relative_to(f) for f in folders):
            pytest.skip(f"{needed} is outside the folders mounted into the node: {folders}")
    return folders


@contextlib.contextmanager
def mounted_read_only(node: Node, folders: list[Path]) -> Iterator[None]:
    """Bind-mount host folders read-only into the node at the same paths; unmount them in
    reverse order (lazily if busy), before the node's own teardown."""
    root = node.root.resolve()
    done: list[Path] = []
    try:
        for folder in folders:
            target = node.path(str(folder))
            target.mkdir(parents=True, exist_ok=True)
            if target.resolve() != root / folder.relative_to("/"):
                raise RuntimeError(f"{target} leads out of the node's root (a link)")
            subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(target)], check=True)
            done.append(target)
            # the node's folder is removed with the node: never with the host's files in it
            if not os.statvfs(target).f_flag & os.ST_RDONLY:
                raise RuntimeError(f"bind mount {target} is not read-only")
        yield
    finally:
        for target in reversed(done):
            if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def in_node(
    node: Node,
    command: list[str],
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = INSTALL_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chroot", str(node.root), *command, *args],
        env={**NODE_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class LocalInstall:
    site: Site
    command: list[str]
    bundle: str  # the archive's path inside the node
    first: subprocess.CompletedProcess[str]

    def install(
        self, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        args = ("--offline", self.bundle, "--allow-os-override", "--yes", *extra)
        return in_node(self.site.node, self.command, *args, env=env)

    def state(self) -> dict[str, Any]:
        return json.loads(self.site.file("/var/lib/multiarc/state.json").read_text())


@pytest.fixture(scope="module")
def local_install(harness: Harness, user_bundle: UserBundle) -> Iterator[LocalInstall]:
    """A node of its own, the installer run once inside it."""
    command = [*harness.command]
    folders = host_folders(Path(command[0]))
    with site_context(harness, "local") as site, mounted_read_only(site.node, folders):
        bundle = f"/root/{user_bundle.archive.name}"
        shutil.copyfile(user_bundle.archive, site.file(bundle))
        made = LocalInstall(site, command, bundle, subprocess.CompletedProcess([], -1))
        made.first = made.install()
        yield made


def _version(tree: Path) -> str:
    return (tree / "VERSION").read_text().strip()


def test_local_install_uses_the_bundle_in_place(
    local_install: LocalInstall, bundle_tree: Path
) -> None:
    done = local_install.first
    assert done.returncode == 0, explain(done)
    version = _version(bundle_tree)
    title = re.search(r"bundle (\S+): ok, (\d+) changed, 0 failed", flat(done.stdout))
    assert title and title.group(1) == version, explain(done)
    rows = summary_rows(done.stdout, HOST)
    roles = playbook_roles()
    assert set(rows) == set(roles), rows
    assert all(rows[r] == "changed" for r in roles if r != "preflight"), rows
    assert f"reboot required on {HOST}" in flat(done.stdout)

    # extracted once, on the machine itself, and used there: no archive sent, no marker of
    # a transferred copy
    site = local_install.site
    extracted = site.file(f"/var/lib/multiarc/bundles/{version}")
    debs = {p.relative_to(bundle_tree) for p in bundle_tree.rglob("*.deb")}
    assert {p.relative_to(extracted) for p in extracted.rglob("*.deb")} == debs
    assert (extracted / "manifest.json").is_file()
    assert not site.file(f"/var/lib/multiarc/bundles/{version}.tar.xz").exists()
    assert not (extracted / ".multiarc-unpacked").exists()
    source = site.file("/etc/apt/sources.list.d/multiarc-bundle.sources").read_text()
    assert f"URIs: file:/var/lib/multiarc/bundles/{version}\n" in source

    # state.json and the log in the node's own folders
    state = local_install.state()
    assert state["bundle_version"] == version and state["inventory"] is None
    assert state["bundle_dir"] == f"/var/lib/multiarc/bundles/{version}"
    assert state["last_run"]["result"] == "ok"
    host = state["hosts"][HOST]
    assert host["reboot_required"] is True and host["container"] is False
    assert {r for r, s in host["roles"].items() if s["status"] == "done"} == set(roles)
    log = state["last_run"]["log"]
    assert log.startswith("/var/log/multiarc/")
    assert "=== result: ok" in site.file(log).read_text()


def test_local_install_installs_the_bundle_versions(
    local_install: LocalInstall, bundle_tree: Path
) -> None:
    assert local_install.first.returncode == 0, explain(local_install.first)
    have = installed_packages(local_install.site.node)
    expected = bundle_packages(bundle_tree)
    wrong = {n: (have.get(n), v) for n, (v, _) in expected.items() if have.get(n) != v}
    assert not wrong, f"installed vs bundle: {wrong}"


def test_local_second_run_changes_nothing_and_reboots_this_machine(
    local_install: LocalInstall,
) -> None:
    """Run again with ``--reboot``: nothing changes, and as the reboot is still pending the
    local reboot command runs on this machine (a harmless stand-in injected for the test)."""
    assert local_install.first.returncode == 0, explain(local_install.first)
    site = local_install.site
    watched = ["/etc/default/grub", "/boot/grub/grub.cfg", "/var/lib/dpkg/status"]
    before = {p: site.file(p).stat().st_mtime_ns for p in watched}
    marker = "/root/multiarc-reboot-ran"
    reboot = {REBOOT_COMMAND_ENV: f"touch {marker}"}
    done = local_install.install("--reboot", env=reboot)
    assert done.returncode == 0, explain(done)
    assert re.search(r"bundle \S+: ok, 0 changed, 0 failed", flat(done.stdout)), explain(done)
    assert summary_rows(done.stdout, HOST) == dict.fromkeys(playbook_roles(), "unchanged")
    assert {p: site.file(p).stat().st_mtime_ns for p in watched} == before
    assert local_install.state()["last_run"]["changed"] == 0
    assert f"reboot required on {HOST}" in flat(done.stdout)
    assert f"rebooting this machine: touch {marker}" in flat(done.stdout)
    assert site.file(marker).is_file()


def test_local_verify_passes(local_install: LocalInstall) -> None:
    assert local_install.first.returncode == 0, explain(local_install.first)
    done = in_node(local_install.site.node, local_install.command, "--verify")
    assert_verified_on_a_chroot_node(done, HOST)  # as on the SSH nodes
