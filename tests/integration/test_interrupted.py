"""A run killed with SIGKILL in the middle of apt: the next run finishes the job."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.rootfs import processes_in
from tests.integration.sites import (
    Site,
    UserBundle,
    assert_next_run_completes,
    close_ssh_masters,
    explain,
    ssh_processes_under,
    wait_for,
)

pytestmark = pytest.mark.integration


def _dpkg_journal(site: Site) -> list[Path]:
    """dpkg's journal of status changes not yet merged: present only mid-transaction."""
    updates = site.file("/var/lib/dpkg/updates")
    return [p for p in updates.iterdir() if p.name.isdigit()] if updates.is_dir() else []


def _pids_in_root(root: Path, but: int | None) -> list[int]:
    return [pid for pid in processes_in(root) if pid != but]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def test_run_killed_mid_apt_is_completed_by_the_next_run(
    fresh_site: Site, user_bundle: UserBundle, bundle_tree: Path
) -> None:
    site = fresh_site
    site.log_dir.mkdir(parents=True)
    with (site.folder / "killed.out").open("w") as killed_log:
        proc = subprocess.Popen(
            site.args(
                "--offline", str(user_bundle.archive), "--inventory", str(site.inventory),
                "--allow-os-override", "--yes",
            ),
            env=site.env(),
            stdout=killed_log,
            stderr=subprocess.STDOUT,
            cwd=site.folder,
            start_new_session=True,
        )  # fmt: skip
        try:
            # dpkg is half way through a transaction while its journal has entries
            in_apt = wait_for(lambda: bool(_dpkg_journal(site)) or proc.poll() is not None, 300)
            # the whole run dies at once, as in a power cut of the controller and the node:
            # multiarc-install with ansible-runner and ssh, then apt-get and dpkg on the node
            os.killpg(proc.pid, signal.SIGKILL)
            sshd = site.node._sshd.pid if site.node._sshd else None
            victims = {pid: _comm(pid) for pid in _pids_in_root(site.node.root, but=sshd)}
            for pid in victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
    killed_output = (site.folder / "killed.out").read_text()
    assert in_apt and proc.returncode == -signal.SIGKILL, killed_output[-3000:]
    assert {"dpkg", "apt-get"} & set(victims.values()), victims
    close_ssh_masters(site.harness.tmp)  # the killed run could not close its own
    assert ssh_processes_under(site.harness.tmp) == []
    # the node is left mid-transaction; the controller's record says the run never ended
    audit = site.node.ssh("dpkg --audit", check=False).stdout
    assert audit.strip() or _dpkg_journal(site), "the kill came too late: dpkg had finished"
    assert site.state()["last_run"]["result"] == "running"

    assert_next_run_completes(site, user_bundle.archive, bundle_tree)
    assert site.state()["last_run"]["result"] == "ok"
    verified = site.verify()
    assert verified.returncode == 0, explain(verified)


def test_a_package_left_half_installed_is_reinstalled_by_the_next_run(
    fresh_site: Site, user_bundle: UserBundle, bundle_tree: Path
) -> None:
    """A run killed while dpkg unpacked a package leaves it half installed, and the package
    that depends on it unpacked: `dpkg --configure -a` alone cannot finish that (it failed
    the next run after 3 minutes of retries). The next run reinstalls it with apt from the
    bundle's repository, then configures the rest. The state is set by hand here, exactly
    (the kill above lands wherever dpkg happens to be)."""
    site = fresh_site
    first = site.install(user_bundle.archive)
    assert first.returncode == 0, explain(first)
    (image,) = [p.name.split("_")[0] for p in bundle_tree.glob("kernel/linux-image-*.deb")]
    modules = image.replace("linux-image-", "linux-modules-")  # the image depends on it
    status = site.file("/var/lib/dpkg/status")
    stanzas = status.read_text().split("\n\n")
    for i, stanza in enumerate(stanzas):
        for name, state in ((modules, "half-installed"), (image, "unpacked")):
            if stanza.startswith(f"Package: {name}\n"):
                stanzas[i] = stanza.replace(
                    "Status: install ok installed", f"Status: install ok {state}"
                )
    status.write_text("\n\n".join(stanzas))
    assert modules in site.node.ssh("dpkg --audit", check=False).stdout
    state_file = site.state_dir / "state.json"
    state = json.loads(state_file.read_text())
    state["last_run"]["result"] = "running"  # what a killed run leaves
    state_file.write_text(json.dumps(state))
    assert_next_run_completes(site, user_bundle.archive, bundle_tree)
