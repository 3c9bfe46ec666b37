"""Helpers of the integration suite: the harness, sites, and reading what a run did.

A *site* is one test node (a copy of the cached Debian trixie image, served by chrooted
sshd on loopback, see rootfs.py) plus the controller-side folders of the installs made onto
it (``MULTIARC_STATE_DIR``, ``MULTIARC_LOG_DIR``): the controller keeps state.json, as it
does for a real rack. The command runs as a user runs it: the console script with
``--inventory`` and ``--allow-os-override`` (trixie stands in for Ubuntu 25.04).

Everything the suite starts lives under one short session folder (``/tmp/ma-it-*``, short
because SSH control sockets have a path limit) given to the commands as ``TMPDIR``: at the
end every node is stopped (sshd and anything still running in its root, by PID), every
SSH ControlPersist master with a socket there is told to exit and any left is killed by
PID, and the folder is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.rootfs import HarnessUnavailable, Node, write_inventory

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 600  # one install of the 1 MB fixture bundle takes ~40 s here


def installer_command() -> list[str]:
    """The console script next to this Python (the venv), else the one on PATH."""
    script = Path(sys.executable).parent / "multiarc-install"
    if script.is_file():
        return [str(script)]
    found = shutil.which("multiarc-install")
    if found:
        return [found]
    raise HarnessUnavailable("multiarc-install is not installed (bash scripts/setup.sh --test)")


# -- processes and sockets left behind --------------------------------------------------------


def ssh_processes_under(folder: Path) -> list[int]:
    """PIDs of ssh clients whose command line names a path inside folder (ControlPath).

    A ControlPersist master renames itself ("ssh: PATH [mux]"), so ssh is recognised by
    its command name, the folder anywhere in its command line."""
    needle = str(folder)
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if comm == "ssh" and needle in cmdline:
            found.append(int(pid))
    return found


def close_ssh_masters(folder: Path) -> list[int]:
    """Ask every ControlMaster with a socket below folder to exit, kill stragglers by PID.

    Returns the PIDs that had to be killed (a run that ended normally leaves none)."""
    for sock in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if sock.is_socket():
                subprocess.run(
                    ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "multiarc-tests"],
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
    killed = ssh_processes_under(folder)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return killed


# -- the harness ------------------------------------------------------------------------------


@dataclass
class Harness:
    """Session resources: the image unpacked once, a key, a short work folder."""

    workdir: Path
    lower: Path
    key: Path
    command: list[str]
    nodes: list[Node] = field(default_factory=list)
    counter: int = 0

    @property
    def tmp(self) -> Path:
        return self.workdir / "tmp"

    def new_node(self, name: str) -> Node:
        self.counter += 1
        folder = self.workdir / f"{self.counter:02d}-{name}"
        folder.mkdir()
        node = Node(name, self.lower, folder, self.key)
        self.nodes.append(node)
        return node.start()

    def remove_node(self, node: Node) -> None:
        node.stop()
        close_ssh_masters(self.tmp)
        if node in self.nodes:
            self.nodes.remove(node)
        shutil.rmtree(node.workdir, ignore_errors=True)

    def close(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        self.nodes.clear()
        close_ssh_masters(self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Site:
    harness: Harness
    node: Node
    folder: Path
    inventory: Path

    @property
    def state_dir(self) -> Path:
        return self.folder / "state"

    @property
    def log_dir(self) -> Path:
        return self.folder / "log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            MULTIARC_STATE_DIR=str(self.state_dir),
            MULTIARC_LOG_DIR=str(self.log_dir),
            TMPDIR=str(self.harness.tmp),
            COLUMNS="200",  # the summary table on one line per role
            NO_COLOR="1",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        )
        return env

    def args(self, *extra: str) -> list[str]:
        return [*self.harness.command, *extra]

    def run(
        self, *extra: str, timeout: float = INSTALL_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.args(*extra),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
        )

    def install(self, bundle: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "--offline",
            str(bundle),
            "--inventory",
            str(self.inventory),
            "--allow-os-override",
            "--yes",
            *extra,
        )

    def verify(self) -> subprocess.CompletedProcess[str]:
        return self.run("--verify", "--inventory", str(self.inventory))

    def state(self) -> dict[str, Any]:
        return json.loads((self.state_dir / "state.json").read_text())

    def file(self, inside: str) -> Path:
        return self.node.path(inside)


def new_site(harness: Harness, name: str) -> Site:
    node = harness.new_node(name)
    folder = node.workdir / "controller"
    folder.mkdir()
    return Site(harness, node, folder, write_inventory([node], folder / "inventory.ini"))


@contextlib.contextmanager
def site_context(harness: Harness, name: str) -> Iterator[Site]:
    site = new_site(harness, name)
    try:
        yield site
    finally:
        harness.remove_node(site.node)


def explain(done: subprocess.CompletedProcess[str]) -> str:
    """What to show when a command did not do what a test expected."""
    return (
        f"exit {done.returncode}\n--- stdout\n{done.stdout[-6000:]}"
        f"\n--- stderr\n{done.stderr[-3000:]}"
    )


def wait_for(predicate: Any, timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


# -- the bundle a user makes, and the node it is installed onto ---------------------------------


@dataclass
class UserBundle:
    archive: Path
    create: subprocess.CompletedProcess[str]


@dataclass
class Installed:
    site: Site
    first: subprocess.CompletedProcess[str]
    grub_cfg_before: str


def snapshot_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Readable differences between two rootfs.snapshot() results (empty: identical)."""
    lines = [f"added {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    lines += [
        f"changed {p}: {before[p]} -> {after[p]}"
        for p in sorted(before.keys() & after.keys())
        if before[p] != after[p]
    ]
    return lines


def assert_next_run_completes(site: Site, archive: Path, tree: Path) -> None:
    """After a killed run: the next run says it completes it, finishes dpkg's work,
    and leaves dpkg clean with every package of the bundle at its version."""
    done = site.install(archive)
    repairs = "".join(log.read_text() for log in sorted(site.log_dir.glob("*.repair.log")))
    assert done.returncode == 0, f"{explain(done)}\n--- the repair's output\n{repairs[-6000:]}"
    out = flat(done.stdout)
    assert "did not finish; this run completes it" in out
    assert "finished the package operations the interrupted run left" in out
    assert site.node.ssh("dpkg --audit").stdout.strip() == ""
    have = installed_packages(site.node)
    wrong = {n: v for n, (v, _) in bundle_packages(tree).items() if have.get(n) != v}
    assert not wrong


def installed_packages(node: Node) -> dict[str, str]:
    """name -> version of the packages dpkg has fully installed on the node."""
    out = node.ssh(r"dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n'").stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "ii":
            found[parts[0]] = parts[1]
    return found


def bundle_packages(tree: Path) -> dict[str, tuple[str, str]]:
    """name -> (version, component folder) of every .deb in a bundle tree."""
    found = {}
    for deb in sorted(tree.rglob("*.deb")):
        fields = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Package", "Version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        values = dict(line.split(": ", 1) for line in fields.splitlines())
        found[values["Package"]] = (values["Version"], str(deb.parent.relative_to(tree)))
    return found


def summary_rows(stdout: str, host: str) -> dict[str, str]:
    """role -> result column of the install summary table for one host."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃|").split("│")]
        if len(cells) >= 3 and cells[0] == host and cells[1]:
            rows[cells[1]] = cells[2]
    return rows


def flat(text: str) -> str:
    """Text with every run of whitespace made one space (rich wraps titles to the table)."""
    return " ".join(text.split())


def assert_verified_on_a_chroot_node(
    done: subprocess.CompletedProcess[str],
    host: str,
    min_passed: int = 40,
    checks: tuple[str, ...] = ("grub-cmdline", "firmware", "packages", "tools"),
) -> None:
    """``multiarc-install --verify`` passed on a test node that has not "rebooted": no
    failure, the checks of the installed state PASS, exactly the three checks that read the
    running system (a chroot runs the host's kernel) are SKIP, with that reason, and so is
    the kernel's trial boot (pending: the next boot tries it)."""
    assert done.returncode == 0, explain(done)
    tally = re.search(r"--verify: (\d+) pass, (\d+) fail, (\d+) skip", flat(done.stdout))
    assert tally, explain(done)
    passed, failed, skipped = map(int, tally.groups())
    assert failed == 0 and passed >= min_passed
    assert skipped == 4 and done.stdout.count("node is a chroot") == 3, explain(done)
    assert re.search(
        rf"{host}: trial boot of \S+ pending: the next boot tries it", flat(done.stdout)
    )
    for check in checks:
        assert re.search(rf"│ {host} │ {check}\s+│[^│]*│ PASS", done.stdout), check


# -- the running kernel of a test node -----------------------------------------------------------


def boot_as(node: Node, release: str) -> None:
    """Test seam: make the node say it runs ``release``.

    A test root runs the host's kernel. The installer reads the running kernel from
    ``/proc/sys/kernel/osrelease`` (what ``uname -r`` says), so a file bind-mounted over it
    inside the root plays "the node booted into RELEASE" without any test code path in the
    product. Mounted again for each call; Node.stop unmounts it with everything below the
    root."""
    fake = node.workdir / "osrelease"
    fake.write_text(release + "\n")
    target = node.path("/proc/sys/kernel/osrelease")
    subprocess.run(["umount", str(target)], capture_output=True, check=False)
    subprocess.run(["mount", "--bind", str(fake), str(target)], check=True)


def grubenv(node: Node) -> dict[str, str]:
    """GRUB's environment block of the node (saved_entry, next_entry)."""
    out = node.ssh("grub-editenv /boot/grub/grubenv list", check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def grub_consumes_next_entry(node: Node) -> None:
    """What GRUB does as it boots a one-time entry: next_entry is cleared."""
    node.ssh("grub-editenv /boot/grub/grubenv set next_entry=")


def node_record(node: Node) -> dict[str, Any]:
    return dict(json.loads(node.path("/var/lib/multiarc/node-state.json").read_text()))


# -- bad bundles ----------------------------------------------------------------------------------
