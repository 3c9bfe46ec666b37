"""Hostile bundles and faults against a real node over SSH (issue: no hostile bundle or fault
may write outside, run unverified code, or lose the good copy).

- hostile bundles: refused before anything, exit 2, node and controller untouched;
- a bundle file swapped after verification (at the confirmation prompt): the node gets
  the verified bytes, never the swapped ones;
- a full node disk: refused up front with the real sizes; a disk that fills during the
  unpack keeps the old copy, leaves no partial tree and names what to free;
- an unreachable node: reported as such, what was done stays recorded;
- two controllers with separate state folders on one node: the second is refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

from tests.fixtures.hostile_bundles import ESCAPE, build_all
from tests.fixtures.synthetic_bundle import build_bundle_archive
from tests.integration.rootfs import free_port, snapshot, write_inventory
from tests.integration.sites import (
    Harness,
    Site,
    UserBundle,
    explain,
    flat,
    site_context,
    snapshot_diff,
    summary_rows,
    wait_for,
)

pytestmark = pytest.mark.integration

NODE_LOCK = "/var/lib/multiarc/node.lock"
BUNDLES = "/var/lib/multiarc/bundles"


def _version(tree: Path) -> str:
    return (tree / "VERSION").read_text().strip()


def _reissued(tree: Path, out: Path, note: str) -> Path:
    """The same bundle version with other content (a re-issued bundle)."""
    copy = Path(shutil.copytree(tree, out.parent / f"tree-{out.stem}" / tree.name))
    (copy / "README.md").write_text(f"re-issued: {note}\n")
    return build_bundle_archive(copy, out, manifest=True)


def test_hostile_bundles_onto_a_node_change_nothing(
    harness: Harness, bundle_tree: Path, fresh_site: Site
) -> None:
    site = fresh_site
    cases = build_all(bundle_tree, site.folder / "hostile", site.folder / "escape")
    (site.folder / "escape").mkdir()
    chosen = {
        "dot-link-chain", "link-through-link", "setuid-world-writable", "zstd-named-xz",
        "gzip-named-xz", "declared-8gib-member", "zero-bomb", "manifest-lies-6gib",
        "manifest-deep-nesting", "no-top-folder", "hardlink-to-link", "version-traversal",
    }  # fmt: skip
    before = snapshot(site.node.root)
    for case in (c for c in cases if c.name in chosen):
        started = time.monotonic()
        done = site.install(case.archive)
        took = time.monotonic() - started
        said = flat(done.stderr)
        assert done.returncode == 2, (case.name, explain(done))
        assert "error: " in said and "hint: " in said and "Traceback" not in said, case.name
        assert took < 60, f"{case.name}: {took:.0f} s"
        for escape in case.escapes:
            assert not escape.exists(), case.name
    assert snapshot_diff(before, snapshot(site.node.root)) == []
    assert not list(site.node.root.rglob(ESCAPE))
    assert not (site.state_dir / "state.json").exists()
    assert not (site.state_dir / "bundles").exists() or not list(
        (site.state_dir / "bundles").iterdir()
    )


def test_a_bundle_swapped_at_the_prompt_never_reaches_the_node(
    fresh_site: Site, user_bundle: UserBundle, bundle_tree: Path
) -> None:
    """The operator is asked after verification; meanwhile the file is replaced by a valid
    bundle carrying a script of its own. What lands is what was verified."""
    site = fresh_site
    bundle = site.folder / "b60.tar.xz"
    shutil.copy(user_bundle.archive, bundle)
    evil_tree = Path(shutil.copytree(bundle_tree, site.folder / "evil" / bundle_tree.name))
    (evil_tree / "scripts" / "evil.sh").write_text("#!/bin/sh\ntouch /pwned\n")
    evil = build_bundle_archive(evil_tree, site.folder / "evil.tar.xz", manifest=False)
    child = pexpect.spawn(
        site.args("--offline", str(bundle), "--inventory", str(site.inventory),
                  "--allow-os-override")[0],
        site.args("--offline", str(bundle), "--inventory", str(site.inventory),
                  "--allow-os-override")[1:],
        env=site.env(), cwd=str(site.folder), timeout=600, encoding="utf-8",
    )  # fmt: skip
    child.expect(r"Install b60\.tar\.xz onto .*\?")
    os.replace(evil, bundle)  # the swap, after verification, before anything is copied
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    output = child.before or ""
    assert child.exitstatus == 0, output[-4000:]
    node_copy = site.file(f"{BUNDLES}/{_version(bundle_tree)}")
    assert (node_copy / "manifest.json").is_file()  # the verified bundle has one
    assert not (node_copy / "scripts" / "evil.sh").exists()
    assert not site.file("/pwned").exists()
    marker = (node_copy / ".multiarc-unpacked").read_text()
    assert marker.endswith(
        json.loads(site.file("/var/lib/multiarc/node-state.json").read_text())["bundle_sha256"]
    )


def _mount_small(site: Site, options: str) -> Path:
    point = site.file(BUNDLES)
    point.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=True)
    return point


def test_a_node_without_room_is_refused_with_the_real_sizes(
    fresh_site: Site, user_bundle: UserBundle
) -> None:
    site = fresh_site
    point = _mount_small(site, "size=40m")
    try:
        (point / ".2020.1.partial-dead").mkdir()  # a killed run's leftover: cleaned, not blamed
        (point / ".2020.1.partial-dead" / "junk").write_bytes(b"j" * 4_000_000)
        done = site.install(user_bundle.archive)
        said = flat(done.stdout + done.stderr)
        assert done.returncode == 1, explain(done)
        assert re.search(
            r"not enough disk space for bundle \S+ under /var/lib/multiarc/bundles", said
        )
        assert "MB needed (archive" in said and "leftovers were already removed" in said
        assert sorted(p.name for p in point.iterdir()) == []
        rows = summary_rows(done.stdout, site.node.name)
        assert rows["local_repo"] == "failed" and rows["kernel"] == "not run", rows
    finally:
        subprocess.run(["umount", str(point)], check=False)


def test_a_disk_full_during_the_unpack_keeps_the_good_copy(
    fresh_site: Site, user_bundle: UserBundle, bundle_tree: Path
) -> None:
    site = fresh_site
    # room for one copy and the archive, not two copies: inodes run out mid-unpack
    point = _mount_small(site, "size=200m,nr_inodes=150")
    try:
        first = site.install(user_bundle.archive)
        assert first.returncode == 0, explain(first)
        version = _version(bundle_tree)
        good = point / version
        before = sorted(p.relative_to(good).as_posix() for p in good.rglob("*"))
        marker = (good / ".multiarc-unpacked").read_text()
        reissued = _reissued(bundle_tree, site.folder / "reissued.tar.xz", "bigger")
        done = site.install(reissued)
        said = flat(done.stdout + done.stderr)
        assert done.returncode == 1, explain(done)
        assert "disk full while unpacking bundle" in said and "current copy kept" in said, said
        assert "free at least" in said
        assert sorted(p.relative_to(good).as_posix() for p in good.rglob("*")) == before
        assert (good / ".multiarc-unpacked").read_text() == marker
        assert sorted(p.name for p in point.iterdir()) == [version]  # no partial, no archive
    finally:
        subprocess.run(["umount", str(point)], check=False)


def test_an_unreachable_node_is_reported_and_its_state_kept(
    fresh_site: Site, user_bundle: UserBundle
) -> None:
    site = fresh_site
    first = site.install(user_bundle.archive)
    assert first.returncode == 0, explain(first)
    done_before = {r for r, s in site.state()["hosts"][site.node.name]["roles"].items()
                   if s["status"] == "done"}  # fmt: skip
    dead = site.folder / "dead.ini"
    port = free_port()
    dead.write_text(site.inventory.read_text().replace(f"ansible_port={site.node.port}",
                                                         f"ansible_port={port}"))  # fmt: skip
    done = site.run("--offline", str(user_bundle.archive), "--inventory", str(dead),
                    "--allow-os-override", "--yes")  # fmt: skip
    assert done.returncode == 1, explain(done)
    rows = summary_rows(done.stdout, site.node.name)
    assert rows and set(rows.values()) == {"unreachable"}, rows
    assert "conditions not met" not in done.stdout
    roles = site.state()["hosts"][site.node.name]["roles"]
    assert {r for r, s in roles.items() if s["status"] == "done"} == done_before


def test_two_controllers_cannot_install_onto_one_node_at_once(
    harness: Harness, user_bundle: UserBundle
) -> None:
    with site_context(harness, "shared") as first:
        second_folder = first.folder.parent / "controller-b"
        second_folder.mkdir()
        second = Site(
            harness, first.node, second_folder,
            write_inventory([first.node], second_folder / "inventory.ini"),
        )  # fmt: skip
        first.log_dir.mkdir(parents=True)
        with (first.folder / "a.out").open("w") as out:
            running = subprocess.Popen(
                first.args("--offline", str(user_bundle.archive), "--inventory",
                           str(first.inventory), "--allow-os-override", "--yes"),
                env=first.env(), stdout=out, stderr=subprocess.STDOUT, cwd=first.folder,
            )  # fmt: skip
            try:
                assert wait_for(lambda: first.file(NODE_LOCK).exists(), 120)
                refused = second.install(user_bundle.archive)
                assert running.wait(timeout=600) == 0, (first.folder / "a.out").read_text()
            finally:
                if running.poll() is None:
                    running.kill()
        said = flat(refused.stdout + refused.stderr)
        assert refused.returncode == 1, explain(refused)
        assert "another multiarc-install holds this node" in said, said
        assert str(first.state_dir) in said  # names the other controller's state folder
        assert summary_rows(refused.stdout, first.node.name)["kernel"] == "not run"
        assert not first.file(NODE_LOCK).exists()  # released at the end of the first run
        again = second.install(user_bundle.archive)  # now free: the second controller may
        assert again.returncode == 0, explain(again)
        assert not first.file(NODE_LOCK).exists()
