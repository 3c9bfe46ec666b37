"""Checks of an installed multiarc host, run by pytest-testinfra (``multiarc-install --verify``).

Expectations come from the JSON named by MULTIARC_VERIFY_EXPECT. Checks that cannot apply
are SKIPPED with the reason, never passed: on request (``--skip-check``), in a container
(host-only checks), and in a chroot (running kernel, /proc/cmdline and loaded modules are
the host's there).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from multiarc.installer.verify_checks import EXPECT_ENV, HOST_ONLY_CHECKS, RUNTIME_CHECKS

EXPECT: dict[str, Any] = json.loads(Path(os.environ[EXPECT_ENV]).read_text())
SKIP_CHECKS: set[str] = set(EXPECT.get("skip_checks", []))


def _name(host: Any) -> str:
    name = str(host.backend.get_hostname())
    return "localhost" if name in ("local", "") else name


@cache
def _is_chroot(host: Any) -> bool:
    """True when / is not the root of PID 1 (as systemd-detect-virt --chroot decides).

    Where /proc/1/root is unreadable, a root that is no mount point at all (no "/" in
    /proc/self/mountinfo) is a chroot into a folder.
    """
    out = host.run("stat -Lc %d:%i / /proc/1/root/. 2>/dev/null")
    ids = out.stdout.split()
    if out.rc == 0 and len(ids) == 2:
        return ids[0] != ids[1]
    mounts = host.run("cat /proc/self/mountinfo").stdout.splitlines()
    return not any(len(f) > 4 and f[4] == "/" for f in (m.split() for m in mounts))


@cache
def _is_container(host: Any) -> bool:
    known = EXPECT.get("hosts", {}).get(_name(host), {}).get("container")
    if known is not None:
        return bool(known)
    return host.file("/.dockerenv").exists or host.file("/run/.containerenv").exists


def _begin(host: Any, record_property: Any, check: str, item: str = "") -> None:
    """Label the result for the table, then skip when the check cannot apply to this node."""
    record_property("host", _name(host))
    record_property("check", check)
    record_property("item", item)
    if check in SKIP_CHECKS:
        pytest.skip("skipped on request (--skip-check)")
    if check in HOST_ONLY_CHECKS and _is_container(host):
        pytest.skip("container: the host owns kernel, boot loader and firmware")
    if check in RUNTIME_CHECKS and _is_chroot(host):
        pytest.skip(
            "node is a chroot: its running kernel, /proc/cmdline and modules are the host's"
        )


def test_running_kernel(host: Any, record_property: Any) -> None:
    target = EXPECT.get("target_kernel")
    _begin(host, record_property, "running-kernel", target or "")
    if not target:
        pytest.skip("the bundle names no kernel")
    running = host.check_output("uname -r").strip()
    assert running == target, f"running {running}, expected {target} (reboot into it)"


def _params(host: Any) -> list[str]:
    """The kernel parameters the grub role applied on this node (its own record)."""
    return list(EXPECT.get("hosts", {}).get(_name(host), {}).get("cmdline_params") or [])


def test_kernel_cmdline(host: Any, record_property: Any) -> None:
    params = _params(host)
    _begin(host, record_property, "kernel-cmdline", " ".join(params))
    if not params:
        pytest.skip("the node's record names no kernel parameters")
    words = host.file("/proc/cmdline").content_string.split()
    missing = [p for p in params if p not in words]
    assert not missing, f"{' '.join(missing)} not in /proc/cmdline (reboot after the install)"


def test_grub_cmdline(host: Any, record_property: Any) -> None:
    params = _params(host)
    _begin(host, record_property, "grub-cmdline", " ".join(params))
    if not params:
        pytest.skip("the node's record names no kernel parameters")
    grub = host.file("/etc/default/grub")
    assert grub.exists, "/etc/default/grub is missing"
    lines = [
        line.split("=", 1)[1].strip().strip("\"'")
        for line in grub.content_string.splitlines()
        if line.strip().startswith("GRUB_CMDLINE_LINUX_DEFAULT=")
    ]
    assert lines, "GRUB_CMDLINE_LINUX_DEFAULT is not set in /etc/default/grub"
    missing = [p for p in params if p not in lines[-1].split()]
    assert not missing, f"{' '.join(missing)} not in GRUB_CMDLINE_LINUX_DEFAULT"


@pytest.mark.parametrize("blob", EXPECT.get("firmware", []), ids=lambda b: b["name"])
def test_firmware(host: Any, record_property: Any, blob: dict[str, str]) -> None:
    path = f"{EXPECT['firmware_root']}/{blob['name']}"
    _begin(host, record_property, "firmware", path)
    installed = host.file(path)
    assert installed.exists, f"{path} is missing"
    assert installed.sha256sum == blob["sha256"], f"{path} differs from the bundle's copy"


@pytest.mark.parametrize("pkg", EXPECT.get("packages", []), ids=lambda p: p["name"])
def test_package(host: Any, record_property: Any, pkg: dict[str, Any]) -> None:
    _begin(host, record_property, "packages", f"{pkg['name']} {pkg['version']}")
    if pkg.get("host_only") and _is_container(host):
        pytest.skip(f"container: {pkg['component']} packages are installed on hosts only")
    installed = host.package(pkg["name"])
    assert installed.is_installed, f"{pkg['name']} is not installed"
    assert installed.version == pkg["version"], (
        f"{pkg['name']} is at {installed.version}, the bundle has {pkg['version']}"
    )


def test_xe_module(host: Any, record_property: Any) -> None:
    _begin(host, record_property, "xe-module", "xe")
    assert host.file("/sys/module/xe").is_directory, "the xe module is not loaded"


@pytest.mark.parametrize("tool", EXPECT.get("tools", []), ids=lambda t: t["name"])
def test_tool(host: Any, record_property: Any, tool: dict[str, str]) -> None:
    where = tool.get("path") or "PATH"
    _begin(host, record_property, "tools", f"{tool['name']} ({where})")
    if tool.get("path"):
        assert host.file(tool["path"]).exists, f"{tool['path']} is missing"
    else:
        assert host.exists(tool["name"]), f"{tool['name']} is not on PATH"
