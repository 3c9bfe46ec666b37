"""A run killed with SIGKILL in the middle of apt: the next run finishes the job."""

from __future__ import annotations

import contextlib
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
