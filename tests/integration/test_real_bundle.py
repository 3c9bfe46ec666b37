"""The installer on REAL Debian trixie packages (tests/fixtures/real_bundle.py): a real
6.12 kernel whose maintainer scripts run depmod, update-initramfs and update-grub, the
real Battlemage firmware blobs, real libraries with their real dependencies.

One node (``real``) takes the bundle in order: ``--check`` on the fresh root (nothing
changes), the first install, its results, ``--verify``, the idempotent re-run. A second
node is killed in the middle of the kernel's ``postinst``; the next run finishes it. The
node plays "running the testnode kernel" through the test seam ``boot_as`` (sites.py), so
that the trial boot keeps that kernel's entry as GRUB's default.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.real_bundle import (
    FIRMWARE_BLOBS,
    RealBundleUnavailable,
    image_status,
    kernel_release,
    real_bundle_archive,
)
from tests.integration.rootfs import EXISTING_KERNEL, image_path, processes_in, snapshot
from tests.integration.sites import (
    Harness,
    Site,
    assert_next_run_completes,
    assert_verified_on_a_chroot_node,
    boot_as,
    bundle_packages,
    close_ssh_masters,
    explain,
    flat,
    grubenv,
    installed_packages,
    node_record,
    site_context,
    snapshot_diff,
    summary_rows,
    wait_for,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class RealBundle:
    tree: Path
    archive: Path
    release: str


@pytest.fixture(scope="module")
def real_bundle(harness: Harness) -> RealBundle:
    try:
        tree, archive = real_bundle_archive(image_status(image_path()))
    except RealBundleUnavailable as err:
        pytest.skip(f"real Debian packages unavailable: {err}")
    return RealBundle(tree, archive, kernel_release(tree))


@pytest.fixture(scope="module")
def real_site(harness: Harness) -> Iterator[Site]:
    with site_context(harness, "real") as site:
        boot_as(site.node, EXISTING_KERNEL)
        yield site


@dataclass(frozen=True)
class FirstRun:
    site: Site
    done: subprocess.CompletedProcess[str]
    seconds: float


@pytest.fixture(scope="module")
def real_first(real_site: Site, real_bundle: RealBundle) -> FirstRun:
    started = time.monotonic()
    done = real_site.install(real_bundle.archive)
    return FirstRun(real_site, done, time.monotonic() - started)


def _events(site: Site) -> list[dict]:
    path = Path(site.state()["last_run"]["events"])
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _entry_of(cfg: str, release: str) -> str:
    submenu = re.search(r"(?m)^submenu .*\$menuentry_id_option '([^']+)'", cfg)
    entry = re.search(
        rf"(?m)^\s+menuentry '[^']*{re.escape(release)}' .*\$menuentry_id_option '([^']+)'", cfg
    )
    assert submenu and entry, f"grub.cfg has no normal entry for {release}"
    return f"{submenu.group(1)}>{entry.group(1)}"


def test_check_on_the_fresh_root_changes_nothing(real_site: Site, real_bundle: RealBundle) -> None:
    before = snapshot(real_site.node.root)
    done = real_site.install(real_bundle.archive, "--check")
    diff = snapshot_diff(before, snapshot(real_site.node.root))
    assert done.returncode == 0, explain(done)
    assert diff == [], "\n".join(diff)
    assert re.search(r"checked, \d+ would change, 0 failed", flat(done.stdout)), explain(done)


def test_first_install_of_the_real_packages(real_first: FirstRun, real_bundle: RealBundle) -> None:
    done = real_first.done
    assert done.returncode == 0, explain(done)
    assert re.search(r"bundle 2025.2.0-trixie: ok, \d+ changed, 0 failed", flat(done.stdout))
    rows = summary_rows(done.stdout, "real")
    for role in ("local_repo", "kernel", "grub", "firmware", "gpu_driver", "node_record"):
        assert rows[role] == "changed", rows
    have = installed_packages(real_first.site.node)
    expected = bundle_packages(real_bundle.tree)
    assert len(expected) >= 35  # 39 with the trixie of December 2026
    wrong = {n: (have.get(n), v) for n, (v, _) in expected.items() if have.get(n) != v}
    assert not wrong, f"installed vs bundle: {wrong}"
    print(f"first install of the real bundle: {real_first.seconds:.1f} s")


def test_kernel_maintainer_scripts_ran(real_first: FirstRun, real_bundle: RealBundle) -> None:
    site, release = real_first.site, real_bundle.release
    assert real_first.done.returncode == 0, explain(real_first.done)
    # depmod (modules.dep is made on the node, never shipped) and the initramfs hook
    assert site.file(f"/lib/modules/{release}/modules.dep").stat().st_size > 0
    assert site.file(f"/boot/initrd.img-{release}").stat().st_size > 1_000_000
    # apt's output of the kernel task: the kernel's own hooks ran update-initramfs and
    # update-grub, so the role's own "regenerate grub.cfg" step was not needed
    kernel_task = [
        e for e in _events(site)
        if e.get("event") == "runner_on_ok"
        and e["event_data"].get("task") == "Install the bundle's kernel packages"
    ]  # fmt: skip
    assert kernel_task, "no result of the kernel package task in the events"
    apt_out = kernel_task[0]["event_data"]["res"].get("stdout", "")
    assert f"update-initramfs: Generating /boot/initrd.img-{release}" in apt_out, apt_out[-2000:]
    assert "Generating grub configuration file" in apt_out, apt_out[-2000:]
    trial = [
        e["event_data"]["res"] for e in _events(site)
        if e.get("event") == "runner_on_ok"
        and e["event_data"].get("task", "").startswith("Boot the new kernel once at the next boot")
    ]  # fmt: skip
    assert trial and trial[0]["found"] and trial[0]["regenerated"] is False, trial


def test_grub_boots_the_6_12_kernel_next_as_a_trial(
    real_first: FirstRun, real_bundle: RealBundle
) -> None:
    site, release = real_first.site, real_bundle.release
    assert release.startswith("6.12.")
    cfg = site.file("/boot/grub/grub.cfg").read_text()
    # the entries read back from the grub.cfg the kernel's hook and the handler generated
    trial, old = _entry_of(cfg, release), _entry_of(cfg, EXISTING_KERNEL)
    assert grubenv(site.node) == {"saved_entry": old, "next_entry": trial}
    assert re.search(r'(?m)^\s*set default="\$\{saved_entry\}"', cfg)
    assert re.search(rf"(?m)^\s+linux\s+/boot/vmlinuz-{re.escape(release)} .*intel_iommu=off", cfg)
    assert node_record(site.node)["trial_boot"]["kernel"] == release


def test_firmware_blobs_where_xe_loads_them(real_first: FirstRun, real_bundle: RealBundle) -> None:
    site = real_first.site
    for blob in FIRMWARE_BLOBS:
        shipped = (real_bundle.tree / "firmware" / blob).read_bytes()
        installed = site.file(f"/lib/firmware/{blob}").read_bytes()
        assert hashlib.sha256(installed).hexdigest() == hashlib.sha256(shipped).hexdigest(), blob


def test_verify_passes(real_first: FirstRun) -> None:
    assert real_first.done.returncode == 0, explain(real_first.done)
    # the real bundle has no tools/ (no xpu-smi, 1ccl, level-zero-tests in Debian)
    checks = ("grub-cmdline", "firmware", "packages")
    assert_verified_on_a_chroot_node(real_first.site.verify(), "real", checks=checks)


def test_rerun_changes_nothing(real_first: FirstRun, real_bundle: RealBundle) -> None:
    site = real_first.site
    watched = ["/boot", "/boot/grub/grub.cfg", "/boot/grub/grubenv", "/var/lib/dpkg/status"]
    before = {p: site.file(p).stat().st_mtime_ns for p in watched}
    started = time.monotonic()
    done = site.install(real_bundle.archive)
    seconds = time.monotonic() - started
    assert done.returncode == 0, explain(done)
    assert re.search(r"ok, 0 changed, 0 failed", flat(done.stdout)), explain(done)
    assert "passed verification before" in flat(done.stdout), explain(done)
    assert {p: site.file(p).stat().st_mtime_ns for p in watched} == before
    # every package already at the bundle's version (preflight read dpkg's status): no apt
    apt = re.compile(r"Install the .* packages")
    results = ("runner_on_ok", "runner_on_skipped", "runner_on_failed")
    apt_tasks = [e for e in _events(site) if e.get("event") in results
                 and apt.fullmatch(e["event_data"].get("task", ""))]  # fmt: skip
    assert apt_tasks and all(e["event"] == "runner_on_skipped" for e in apt_tasks), [
        (e["event_data"]["task"], e["event"]) for e in apt_tasks
    ]
    print(f"idempotent re-run of the real bundle: {seconds:.1f} s")


def test_a_package_removed_since_is_installed_again(
    real_first: FirstRun, real_bundle: RealBundle
) -> None:
    """The re-run skips apt only for roles whose packages are all in place: a package
    removed by hand (clinfo, of the driver role's base/ folder) comes back."""
    site = real_first.site
    assert real_first.done.returncode == 0, explain(real_first.done)
    site.node.ssh("dpkg -r clinfo")
    assert "clinfo" not in installed_packages(site.node)
    done = site.install(real_bundle.archive)
    assert done.returncode == 0, explain(done)
    assert summary_rows(done.stdout, "real")["gpu_driver"] == "changed", explain(done)
    version, _folder = bundle_packages(real_bundle.tree)["clinfo"]
    assert installed_packages(site.node)["clinfo"] == version


# -- killed in the kernel's postinst ---------------------------------------------------------------


def _postinst_running(root: Path, release: str) -> bool:
    needle = f"linux-image-{release}.postinst".encode()
    for pid in processes_in(root):
        with contextlib.suppress(OSError):
            if needle in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
    return False


def test_run_killed_in_the_kernel_postinst_is_finished_by_the_next(
    harness: Harness, real_bundle: RealBundle
) -> None:
    release = real_bundle.release
    with site_context(harness, "real-killed") as site:
        boot_as(site.node, EXISTING_KERNEL)
        site.log_dir.mkdir(parents=True)
        with (site.folder / "killed.out").open("w") as out:
            proc = subprocess.Popen(
                site.args("--offline", str(real_bundle.archive), "--inventory",
                          str(site.inventory), "--allow-os-override", "--yes"),
                env=site.env(), stdout=out, stderr=subprocess.STDOUT, cwd=site.folder,
                start_new_session=True,
            )  # fmt: skip
            try:
                in_postinst = wait_for(
                    lambda: _postinst_running(site.node.root, release) or proc.poll() is not None,
                    400,
                )
                # a power cut of controller and node: the run, then everything in the root
                os.killpg(proc.pid, signal.SIGKILL)
                for pid in processes_in(site.node.root):
                    if pid != site.node.sshd_pid:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
            finally:
                proc.wait(timeout=30)
        assert in_postinst and proc.returncode == -signal.SIGKILL, (
            site.folder / "killed.out"
        ).read_text()[-3000:]
        close_ssh_masters(site.harness.tmp)
        audit = site.node.ssh("dpkg --audit", check=False).stdout
        assert f"linux-image-{release}" in audit, audit

        assert_next_run_completes(site, real_bundle.archive, real_bundle.tree)
        assert site.file(f"/lib/modules/{release}/modules.dep").is_file()
        assert site.file(f"/boot/initrd.img-{release}").stat().st_size > 1_000_000
        cfg = site.file("/boot/grub/grub.cfg").read_text()
        assert grubenv(site.node)["next_entry"] == _entry_of(cfg, release)
