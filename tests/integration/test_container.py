"""Container mode: with the container marker in the root, the host-only roles are skipped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.sites import (
    Site,
    UserBundle,
    bundle_packages,
    explain,
    flat,
    installed_packages,
    summary_rows,
)

pytestmark = pytest.mark.integration

HOST_ONLY_ROLES = ("kernel", "grub", "firmware", "docker")
HOST_ONLY_COMPONENTS = ("kernel", "base/docker", "gfxdrv/video", "gfxdrv/graphics")


def test_container_mode_skips_kernel_grub_firmware_docker(
    fresh_site: Site, user_bundle: UserBundle, bundle_tree: Path
) -> None:
    site = fresh_site
    site.file("/.dockerenv").write_text("")
    host_files = ["/etc/default/grub", "/boot/grub/grub.cfg"]
    before = {p: site.file(p).read_bytes() for p in host_files}

    done = site.install(user_bundle.archive)
    assert done.returncode == 0, explain(done)
    rows = summary_rows(done.stdout, site.node.name)
    for role in HOST_ONLY_ROLES:
        assert rows[role] == "skipped", rows
    out = flat(done.stdout)
    assert len(re.findall(r"host-only role: skipped in a container", out)) == 4, out
    for role in ("local_repo", "system_config", "gpu_driver", "oneapi", "tools"):
        assert rows[role] == "changed", rows
    assert "no reboot needed." in out

    # boot loader, firmware, kernel and host-only packages untouched; the rest installed
    assert {p: site.file(p).read_bytes() for p in host_files} == before
    assert not site.file("/etc/default/grub.multiarc-orig").exists()
    assert list(site.file("/lib/firmware/xe").iterdir()) == []
    have = installed_packages(site.node)
    for name, (version, component) in bundle_packages(bundle_tree).items():
        if component in HOST_ONLY_COMPONENTS:
            assert name not in have, f"{name} ({component}) installed in a container"
        else:
            assert have.get(name) == version, name
    state = site.state()["hosts"][site.node.name]
    assert state["container"] is True and state["reboot_required"] is False
    for role in HOST_ONLY_ROLES:
        assert state["roles"][role]["status"] == "skipped"
        assert state["roles"][role]["reason"] == "host-only role: skipped in a container"

    verified = site.verify()
    assert verified.returncode == 0, explain(verified)
    assert "container: the host owns kernel, boot loader and firmware" in verified.stdout
