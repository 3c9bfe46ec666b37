"""What must change nothing on the node: ``--check``, a tampered bundle, a traversal entry.

The three share one pristine node; each compares a snapshot of its whole root (every
path's mode, size, mtime and link target) before and after its own run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rootfs import snapshot
from tests.integration.sites import (
    Harness,
    Site,
    UserBundle,
    explain,
    flat,
    site_context,
    snapshot_diff,
    summary_rows,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pristine(harness: Harness) -> Iterator[Site]:
    with site_context(harness, "pristine") as site:
        yield site


def _controller_extracted(site: Site) -> list[Path]:
    bundles = site.state_dir / "bundles"
    return sorted(bundles.iterdir()) if bundles.is_dir() else []


def test_check_mode_on_a_fresh_root_changes_nothing(
    pristine: Site, user_bundle: UserBundle
) -> None:
    before = snapshot(pristine.node.root)
    done = pristine.install(user_bundle.archive, "--check")
    after = snapshot(pristine.node.root)
    assert done.returncode == 0, explain(done)
    diff = snapshot_diff(before, after)
    assert diff == [], "\n".join(diff)
    out = flat(done.stdout)
    title = re.search(r"--check bundle \S+: checked, (\d+) would change, 0 failed", out)
    assert title and int(title.group(1)) > 0, explain(done)
    assert "check mode: nothing was changed." in out
    rows = summary_rows(done.stdout, "pristine")
    for role in ("local_repo", "kernel", "grub", "firmware", "gpu_driver", "tools", "docker"):
        assert rows[role] == "would change", rows
    # the diff of the GRUB defaults is shown: the user's parameters plus intel_iommu=off
    assert re.search(
        r'\+GRUB_CMDLINE_LINUX_DEFAULT="quiet splash mitigations=off intel_iommu=off"',
        done.stdout,
    ), explain(done)
    # and the controller kept nothing: no state, no extracted bundle
    assert not (pristine.state_dir / "state.json").exists()
    assert _controller_extracted(pristine) == []


def test_tampered_bundle_exits_2_and_the_root_is_untouched(
    pristine: Site, tampered_bundle: tuple[Path, str]
) -> None:
    archive, changed = tampered_bundle
    before = snapshot(pristine.node.root)
    done = pristine.install(archive)
    assert done.returncode == 2, explain(done)
    said = flat(done.stderr)
    assert f"{changed}: sha256 differs" in said, explain(done)
    assert snapshot_diff(before, snapshot(pristine.node.root)) == []
    assert _controller_extracted(pristine) == []
    assert not (pristine.state_dir / "state.json").exists()


def test_traversal_entry_is_refused(pristine: Site, traversal_bundle: tuple[Path, str]) -> None:
    archive, escape = traversal_bundle
    before = snapshot(pristine.node.root)
    done = pristine.install(archive)
    assert done.returncode == 2, explain(done)
    said = flat(done.stderr)
    assert "unsafe member in traversal.tar.xz" in said and escape in said, explain(done)
    assert snapshot_diff(before, snapshot(pristine.node.root)) == []
    assert _controller_extracted(pristine) == []
    # nothing was written anywhere the entry points at: it resolves above the extraction
    # folder (inside the controller's state folder), so look at every folder up to /
    for folder in [*pristine.state_dir.rglob("*"), pristine.state_dir, *pristine.state_dir.parents]:
        assert not (folder / escape).exists(), folder
    assert not pristine.file(f"/{escape}").exists()
