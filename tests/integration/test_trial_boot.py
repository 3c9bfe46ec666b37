"""The kernel switch as a trial boot: GRUB's environment and the node's record after the
install, after a trial that fell back, and after one that came up.

A test root runs the host's kernel: ``boot_as`` (sites.py) is the documented test seam that
makes the node say which kernel it runs, and ``grub_consumes_next_entry`` does what GRUB
does as it boots a one-time entry. The fixture bundle is enough here (the switch does not
depend on what the kernel package holds); the real bundle's test checks the same state
after its real kernel's maintainer scripts.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tests.fixtures.synthetic_bundle import KERNEL_RELEASE
from tests.integration.rootfs import EXISTING_KERNEL
from tests.integration.sites import (
    Site,
    UserBundle,
    boot_as,
    explain,
    flat,
    grub_consumes_next_entry,
    grubenv,
    node_record,
)

pytestmark = pytest.mark.integration


def _entry_of(site: Site, release: str) -> str:
    """submenu>entry id of the release's normal entry in the node's grub.cfg."""
    cfg = site.file("/boot/grub/grub.cfg").read_text()
    submenu = re.search(r"(?m)^submenu .*\$menuentry_id_option '([^']+)'", cfg)
    entry = re.search(
        rf"(?m)^\s+menuentry '[^']*{re.escape(release)}' .*\$menuentry_id_option '([^']+)'", cfg
    )
    assert submenu and entry, f"no entry for {release}"
    return f"{submenu.group(1)}>{entry.group(1)}"


def _fake_journal(site: Site, text: str) -> None:
    """A journalctl first on the node's PATH that prints a recorded journal of a boot."""
    tool = site.file("/usr/local/bin/journalctl")
    tool.write_text(f"#!/bin/sh\ncat <<'EOF'\n{text}EOF\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


@pytest.mark.timeout(1200)  # five installs and two verifies on one node (~3 min when idle)
def test_trial_falls_back_then_comes_up_and_becomes_the_default(
    fresh_site: Site, user_bundle: UserBundle
) -> None:
    site = fresh_site
    boot_as(site.node, EXISTING_KERNEL)
    done = site.install(user_bundle.archive)
    assert done.returncode == 0, explain(done)
    old, new = _entry_of(site, EXISTING_KERNEL), _entry_of(site, KERNEL_RELEASE)
    # after the install: the running kernel stays the default, the new one boots next only
    assert grubenv(site.node) == {"saved_entry": old, "next_entry": new}
    trial = {
        "kernel": KERNEL_RELEASE,
        "entry": new,
        "fallback_entry": old,
        "fallback_kernel": EXISTING_KERNEL,
        "status": "pending",
    }
    assert node_record(site.node)["trial_boot"] == trial
    again = site.install(user_bundle.archive)
    assert re.search(r"ok, 0 changed, 0 failed", flat(again.stdout)), explain(again)

    # the trial boot did not come up: GRUB used next_entry, the machine fell back to the old
    panic = "Dec 03 05:00:01 node kernel: Kernel panic - not syncing: test\n"
    _fake_journal(site, f"Dec 03 05:00:00 node kernel: Linux version {KERNEL_RELEASE}\n{panic}")
    grub_consumes_next_entry(site.node)
    fell_back = site.verify()
    assert fell_back.returncode == 1, explain(fell_back)
    out = flat(fell_back.stdout)
    assert f"trial boot of {KERNEL_RELEASE} did not come up; still on {EXISTING_KERNEL}" in out, (
        explain(fell_back)
    )
    assert "error: 1 check(s) failed" in flat(fell_back.stdout + fell_back.stderr)
    assert grubenv(site.node)["saved_entry"] == old  # the default is left alone
    assert node_record(site.node)["trial_boot"] == dict(trial, status="failed")
    log = Path(site.state()["last_run"]["log"]).read_text()
    assert "journal of the failed trial boot" in log and "Kernel panic - not syncing" in log

    # a new run sets the trial up again; this time the new kernel comes up and passes
    retry = site.install(user_bundle.archive)
    assert retry.returncode == 0, explain(retry)
    assert grubenv(site.node) == {"saved_entry": old, "next_entry": new}
    assert node_record(site.node)["trial_boot"] == trial
    grub_consumes_next_entry(site.node)
    boot_as(site.node, KERNEL_RELEASE)
    came_up = site.verify()
    assert came_up.returncode == 0, explain(came_up)
    assert (
        f"trial boot of {KERNEL_RELEASE} came up and passes: made it GRUB's permanent default"
        in flat(came_up.stdout)
    ), explain(came_up)
    assert grubenv(site.node)["saved_entry"] == new
    assert node_record(site.node)["trial_boot"] is None
    # nothing left to do: the record verify wrote is the one the playbook writes
    final = site.install(user_bundle.archive)
    assert re.search(r"ok, 0 changed, 0 failed", flat(final.stdout)), explain(final)
    assert "no reboot needed" in final.stdout


def test_no_trial_boot_makes_the_kernel_the_default_at_once(
    fresh_site: Site, user_bundle: UserBundle
) -> None:
    site = fresh_site
    done = site.install(user_bundle.archive, "--no-trial-boot")
    assert done.returncode == 0, explain(done)
    new = _entry_of(site, KERNEL_RELEASE)
    defaults = site.file("/etc/default/grub").read_text()
    assert re.search(rf'(?m)^GRUB_DEFAULT="{re.escape(new)}"$', defaults)
    assert re.search(
        rf'(?m)^\s*set default="{re.escape(new)}"', site.file("/boot/grub/grub.cfg").read_text()
    )
    assert "next_entry" not in grubenv(site.node)
    assert node_record(site.node)["trial_boot"] is None
    assert "trial boot of" not in done.stdout
