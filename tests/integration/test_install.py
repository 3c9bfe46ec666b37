"""Install the user's bundle onto a node over SSH, verify it with testinfra, run it again."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.fixtures.synthetic_bundle import KERNEL_RELEASE, ONEAPI_RELEASE
from tests.integration.rootfs import EXISTING_KERNEL, USER_GRUB_CMDLINE
from tests.integration.sites import (
    Installed,
    UserBundle,
    assert_verified_on_a_chroot_node,
    bundle_packages,
    explain,
    flat,
    grubenv,
    installed_packages,
    node_record,
    ssh_processes_under,
    summary_rows,
)

pytestmark = pytest.mark.integration

ROLES = (
    "preflight",
    "local_repo",
    "kernel",
    "grub",
    "firmware",
    "system_config",
    "gpu_driver",
    "oneapi",
    "tools",
    "docker",
    "node_record",
)


def _grub_value(text: str, key: str) -> str:
    values = re.findall(rf"(?m)^\s*{key}=(.*)$", text)
    assert values, f"{key} not set"
    return values[-1].strip().strip("\"'")


def _normal_linux_lines(grub_cfg: str, release: str) -> list[str]:
    return [
        line
        for line in grub_cfg.splitlines()
        if re.match(r"\s*linux\s", line)
        and f"vmlinuz-{release}" in line
        and not re.search(r"\s(single|recovery)(\s|$)", line)
    ]


def test_install_succeeds_and_says_what_it_did(installed: Installed, bundle_tree: Path) -> None:
    done = installed.first
    assert done.returncode == 0, explain(done)
    title = re.search(r"bundle (\S+): ok, (\d+) changed, 0 failed", flat(done.stdout))
    assert title, explain(done)
    assert title.group(1) == (bundle_tree / "VERSION").read_text().strip()
    assert int(title.group(2)) > 0
    rows = summary_rows(done.stdout, "installed")
    assert set(rows) == set(ROLES), rows
    assert rows["preflight"] == "unchanged"
    assert all(rows[r] == "changed" for r in ROLES if r != "preflight"), rows
    assert "reboot required on installed" in flat(done.stdout)
    # the controller remembers the run
    state = installed.site.state()
    assert state["last_run"]["result"] == "ok"
    assert state["bundle_version"] == title.group(1)
    host = state["hosts"]["installed"]
    assert host["reboot_required"] is True and host["container"] is False
    assert {r for r, s in host["roles"].items() if s["status"] == "done"} == set(ROLES)
    log = Path(state["last_run"]["log"])
    assert log.is_file() and "=== result: ok" in log.read_text()
    assert Path(state["last_run"]["events"]).stat().st_size > 0


def test_every_bundle_package_is_installed_at_its_version(
    installed: Installed, bundle_tree: Path
) -> None:
    assert installed.first.returncode == 0, explain(installed.first)
    have = installed_packages(installed.site.node)
    expected = bundle_packages(bundle_tree)
    assert len(expected) >= 40
    wrong = {n: (have.get(n), v) for n, (v, _) in expected.items() if have.get(n) != v}
    assert not wrong, f"installed vs bundle: {wrong}"
    # apt resolved them from the bundle's file: repository (no dpkg -i)
    source = installed.site.file("/etc/apt/sources.list.d/multiarc-bundle.sources").read_text()
    assert "URIs: file:/var/lib/multiarc/bundles/" in source
    policy = installed.site.node.ssh("apt-cache policy libze-intel-gpu1").stdout
    assert "file:/var/lib/multiarc/bundles/" in policy, policy


def test_files_tools_and_system_settings_are_in_place(
    installed: Installed, bundle_tree: Path
) -> None:
    site = installed.site
    for blob in sorted((bundle_tree / "firmware").iterdir()):
        assert site.file(f"/lib/firmware/xe/{blob.name}").read_bytes() == blob.read_bytes()
    l0 = site.file("/opt/intel/multi-arc/tools/level-zero-tests")
    assert {p.name for p in l0.iterdir()} == {
        p.name for p in (bundle_tree / "tools" / "level-zero-tests").iterdir()
    }
    assert (site.file("/opt/intel/multi-arc/results/reference_perf.csv").read_bytes()) == (
        bundle_tree / "results" / "reference_perf.csv"
    ).read_bytes()
    assert site.file(f"/opt/intel/oneapi/{ONEAPI_RELEASE}").is_dir()
    assert site.file("/opt/intel/oneapi/setvars.sh").is_file()
    assert site.node.ssh("xpu-smi discovery").stdout.startswith("multiarc test fixture")
    # no automatic updates behind the user's back, AppArmor quiet
    assert site.file("/etc/systemd/system/apt-daily.timer").readlink() == Path("/dev/null")
    assert site.file("/etc/systemd/system/unattended-upgrades.service").readlink() == Path(
        "/dev/null"
    )
    periodic = site.file("/etc/apt/apt.conf.d/20auto-upgrades").read_text()
    assert 'APT::Periodic::Unattended-Upgrade "0";' in periodic
    assert 'APT::Periodic::Update-Package-Lists "0";' in periodic
    parser = site.file("/etc/apparmor/parser.conf").read_text().splitlines()
    assert "no-audit" in parser


def test_user_grub_parameters_survive_and_intel_iommu_off_is_added(installed: Installed) -> None:
    site = installed.site
    defaults = site.file("/etc/default/grub").read_text()
    assert _grub_value(defaults, "GRUB_CMDLINE_LINUX_DEFAULT") == (
        f"{USER_GRUB_CMDLINE} intel_iommu=off"
    )
    # the user's file was backed up before the first change
    backup = site.file("/etc/default/grub.multiarc-orig").read_text()
    assert _grub_value(backup, "GRUB_CMDLINE_LINUX_DEFAULT") == USER_GRUB_CMDLINE
    # update-grub ran (handler): both kernels boot with the user's and the added parameters
    grub_cfg = site.file("/boot/grub/grub.cfg").read_text()
    assert grub_cfg != installed.grub_cfg_before
    for release in (KERNEL_RELEASE, EXISTING_KERNEL):
        lines = _normal_linux_lines(grub_cfg, release)
        assert lines, f"no normal entry for {release} in grub.cfg"
        for line in lines:
            assert {"quiet", "splash", "mitigations=off", "intel_iommu=off"} <= set(line.split())


def test_bundle_kernel_boots_once_as_a_trial_from_the_submenu(installed: Installed) -> None:
    site = installed.site
    grub_cfg = site.file("/boot/grub/grub.cfg").read_text()
    defaults = site.file("/etc/default/grub").read_text()
    # GRUB boots its saved entry by default; the bundle's kernel is the next boot's only
    assert _grub_value(defaults, "GRUB_DEFAULT") == "saved"
    assert re.search(r'(?m)^\s*set default="\$\{saved_entry\}"', grub_cfg)
    env = grubenv(site.node)
    trial = env["next_entry"]
    # the node's own kernel is newer, so the bundle's sits in "Advanced options"
    submenu, sep, entry = trial.partition(">")
    assert sep, f"next_entry={trial!r} does not name a submenu entry"
    assert re.search(rf"(?m)^submenu .*\$menuentry_id_option '{re.escape(submenu)}'", grub_cfg)
    assert re.search(
        rf"(?m)^\s+menuentry '[^']*{re.escape(KERNEL_RELEASE)}[^']*' .*'{re.escape(entry)}'",
        grub_cfg,
    ), trial
    assert "recovery" not in entry
    # the running kernel (the host's: a chroot) has no entry, so GRUB's default stays as
    # the system had it (GRUB_DEFAULT=0); the node records the pending trial
    assert env["saved_entry"] == "0"
    record = node_record(site.node)["trial_boot"]
    assert record == {
        "kernel": KERNEL_RELEASE,
        "entry": trial,
        "fallback_entry": "0",
        "fallback_kernel": os.uname().release,
        "status": "pending",
    }
    assert f"trial boot of {KERNEL_RELEASE} on installed: the next boot only tries it" in flat(
        installed.first.stdout
    )


def test_verify_passes_with_testinfra(installed: Installed) -> None:
    assert installed.first.returncode == 0, explain(installed.first)
    assert_verified_on_a_chroot_node(installed.site.verify(), "installed")


def test_second_run_changes_nothing(installed: Installed, user_bundle: UserBundle) -> None:
    site = installed.site
    assert installed.first.returncode == 0, explain(installed.first)
    watched = [
        "/etc/default/grub",
        "/boot/grub/grub.cfg",
        "/var/lib/dpkg/status",
        "/lib/firmware/xe",
        "/etc/apt/sources.list.d/multiarc-bundle.sources",
    ]
    before = {p: site.file(p).stat().st_mtime_ns for p in watched}
    done = site.install(user_bundle.archive)
    assert done.returncode == 0, explain(done)
    assert re.search(r"bundle \S+: ok, 0 changed, 0 failed", flat(done.stdout)), explain(done)
    # the same bytes: the first run's verdict stands (sha256 of the archive, no re-read)
    assert "passed verification before" in flat(done.stdout), explain(done)
    rows = summary_rows(done.stdout, "installed")
    assert rows == dict.fromkeys(ROLES, "unchanged"), rows
    assert {p: site.file(p).stat().st_mtime_ns for p in watched} == before
    state = site.state()
    assert state["last_run"]["result"] == "ok" and state["last_run"]["changed"] == 0
    # the pending reboot is still pending: nothing has rebooted the node
    assert "reboot required on installed" in flat(done.stdout)
    # the run closed the SSH ControlPersist masters it opened
    assert ssh_processes_under(site.harness.tmp) == []
    # --reverify reads every file again (here with --check: nothing changes)
    again = site.install(user_bundle.archive, "--check", "--reverify")
    assert again.returncode == 0, explain(again)
    assert "passed verification before" not in flat(again.stdout), explain(again)


def test_same_version_other_content_replaces_the_node_copy(
    installed: Installed, bundle_tree: Path, tmp_path: Path
) -> None:
    """A re-issued bundle under the same version: the node's copy is replaced, the new
    files are installed (runs last: it changes the shared node)."""
    site = installed.site
    tree = Path(shutil.copytree(bundle_tree, tmp_path / bundle_tree.name))
    reference = tree / "results" / "reference_perf.csv"
    reference.write_text(reference.read_text() + "gemm,fp16,,123.0\n")
    archive = tmp_path / "reissued.tar.xz"
    made = site.run("bundle", "create", str(tree), "-o", str(archive))
    assert made.returncode == 0, explain(made)
    done = site.install(archive)
    assert done.returncode == 0, explain(done)
    assert "passed verification before" not in flat(done.stdout)  # other bytes: verified
    rows = summary_rows(done.stdout, "installed")
    assert rows["local_repo"] == "changed" and rows["tools"] == "changed", rows
    version = (tree / "VERSION").read_text().strip()
    node_copy = site.file(f"/var/lib/multiarc/bundles/{version}/results/reference_perf.csv")
    assert node_copy.read_text() == reference.read_text()
    installed_csv = site.file("/opt/intel/multi-arc/results/reference_perf.csv")
    assert installed_csv.read_text() == reference.read_text()
    assert not site.file(f"/var/lib/multiarc/bundles/{version}.tar.xz").exists()
