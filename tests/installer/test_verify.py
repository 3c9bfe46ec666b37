"""--verify: expectations from a bundle, and the testinfra checks run for real on local://."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from multiarc.installer.node_record import NodeRecord
from multiarc.installer.verify import (
    counts,
    expectations,
    kernel_release,
    parse_skip_checks,
    run_checks,
)

from multiarc.errors import ExitCode, InputError


def _deb(folder: Path, name: str, version: str, files: dict[str, str] | None = None) -> Path:
    """A real .deb (dpkg-deb --build) with the given executables."""
    root = folder.parent / f"build-{name}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: fixture <fixture@example.invalid>\nDescription: test fixture\n"
    )
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}_{version}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle") / "multi-arc-test"
    _deb(root / "kernel", "linux-image-6.14.0-1006-intel", "6.14.0-1006.6")
    _deb(root / "gfxdrv" / "gpgpu", "libze-intel-gpu1", "25.31.0")
    _deb(root / "base" / "docker", "docker-ce", "5:28.0.0")
    _deb(
        root / "tools" / "xpu-smi",
        "xpu-smi",
        "1.3.1",
        {"usr/bin/xpu-smi": "#!/bin/sh\n", "usr/share/doc/xpu-smi/README": "doc"},
    )
    (root / "firmware").mkdir()
    (root / "firmware" / "bmg_guc_70.bin.zst").write_bytes(b"guc blob")
    (root / "firmware" / "i915").mkdir()
    (root / "firmware" / "i915" / "bmg_dmc.bin").write_bytes(b"dmc blob")
    (root / "tools" / "level-zero-tests").mkdir()
    (root / "tools" / "level-zero-tests" / "ze_peer").write_text("#!/bin/sh\n")
    return root


def test_expectations_come_from_the_bundle(bundle_dir: Path) -> None:
    record = NodeRecord(
        "node1", "t1", cmdline_params=["intel_iommu=off", "pci=realloc"], container=True
    )
    expect = expectations(bundle_dir, [record], ["xe-module"])
    assert expect["target_kernel"] == "6.14.0-1006-intel"
    packages = {p["name"]: p for p in expect["packages"]}
    assert packages["libze-intel-gpu1"] == {
        "name": "libze-intel-gpu1",
        "version": "25.31.0",
        "component": "gfxdrv/gpgpu",
        "host_only": False,
    }
    assert packages["docker-ce"]["host_only"] and packages["docker-ce"]["version"] == "5:28.0.0"
    assert packages["linux-image-6.14.0-1006-intel"]["host_only"]
    # Intel's flat firmware/ is xe's; folders below firmware/ mirror /lib/firmware
    assert expect["firmware_root"] == "/lib/firmware"
    assert expect["firmware"] == [
        {"name": "xe/bmg_guc_70.bin.zst", "sha256": hashlib.sha256(b"guc blob").hexdigest()},
        {"name": "i915/bmg_dmc.bin", "sha256": hashlib.sha256(b"dmc blob").hexdigest()},
    ]
    assert {"name": "xpu-smi"} in expect["tools"]  # executables of the tool packages only
    assert all(t["name"] != "README" for t in expect["tools"])
    assert any(t["name"] == "ze_peer" and t["path"].endswith("/ze_peer") for t in expect["tools"])
    # each node's own record: the kernel parameters its grub role applied (overrides too)
    assert expect["hosts"] == {
        "node1": {"container": True, "cmdline_params": ["intel_iommu=off", "pci=realloc"]}
    }
    assert expect["bundle_version"] == "t1"
    assert expect["skip_checks"] == ["xe-module"]


def test_state_kernel_wins_and_package_names_parse() -> None:
    assert kernel_release("linux-image-unsigned-6.14.0-1006-intel") == "6.14.0-1006-intel"
    assert kernel_release("linux-modules-6.14.0-1006-intel") is None


def test_unknown_skip_check_is_a_usage_error() -> None:
    assert parse_skip_checks("running-kernel, xe-module") == ["running-kernel", "xe-module"]
    with pytest.raises(InputError) as err:
        parse_skip_checks("running-kernel,gpu-fan")
    assert err.value.exit_code == ExitCode.USAGE and "gpu-fan" in err.value.message


def _installed_version(name: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, check=True
    ).stdout


def test_checks_run_on_localhost_and_report_pass_fail_skip(tmp_path: Path) -> None:
    firmware = tmp_path / "xe"
    firmware.mkdir()
    (firmware / "good.bin.zst").write_bytes(b"good")
    (firmware / "bad.bin.zst").write_bytes(b"tampered")
    expect = {
        "target_kernel": "0.0-not-this-kernel",
        "cmdline_params": [],
        "firmware_root": str(tmp_path),
        "firmware": [
            {"name": "xe/good.bin.zst", "sha256": hashlib.sha256(b"good").hexdigest()},
            {"name": "xe/bad.bin.zst", "sha256": hashlib.sha256(b"good").hexdigest()},
        ],
        "packages": [
            {
                "name": "dpkg",
                "version": _installed_version("dpkg"),
                "component": "base",
                "host_only": False,
            },
            {"name": "dpkg", "version": "0.0.1", "component": "base", "host_only": False},
            {
                "name": "no-such-package-multiarc",
                "version": "1",
                "component": "base",
                "host_only": False,
            },
        ],
        "tools": [{"name": "sh"}, {"name": "no-such-tool-multiarc"}],
        "skip_checks": ["running-kernel", "xe-module"],
        "hosts": {"localhost": {"container": False}},
    }
    results = run_checks(expect, ["local://"], None, workdir=tmp_path)
    table = {(r.check, r.item): (r.outcome, r.detail) for r in results}
    assert table[("running-kernel", "0.0-not-this-kernel")] == (
        "SKIP",
        "skipped on request (--skip-check)",
    )
    assert table[("firmware", f"{firmware}/good.bin.zst")][0] == "PASS"
    assert table[("firmware", f"{firmware}/bad.bin.zst")] == (
        "FAIL",
        f"{firmware}/bad.bin.zst differs from the bundle's copy",
    )
    assert table[("packages", f"dpkg {_installed_version('dpkg')}")][0] == "PASS"
    outcome, detail = table[("packages", "dpkg 0.0.1")]
    assert outcome == "FAIL" and "the bundle has 0.0.1" in detail
    assert table[("packages", "no-such-package-multiarc 1")] == (
        "FAIL",
        "no-such-package-multiarc is not installed",
    )
    assert table[("tools", "sh (PATH)")][0] == "PASS"
    assert table[("tools", "no-such-tool-multiarc (PATH)")][0] == "FAIL"
    assert all(r.host == "localhost" for r in results)
    # kernel-cmdline and grub-cmdline: the node's record names no parameters here
    assert table[("grub-cmdline", "")] == ("SKIP", "the node's record names no kernel parameters")
    assert counts(results) == {"PASS": 3, "FAIL": 4, "SKIP": 4}


def test_container_hosts_skip_host_only_checks(tmp_path: Path) -> None:
    expect = {
        "target_kernel": "0.0-x",
        "cmdline_params": ["intel_iommu=off"],
        "firmware_root": str(tmp_path),
        "firmware": [{"name": "missing.bin", "sha256": "0" * 64}],
        "packages": [
            {"name": "docker-ce", "version": "1", "component": "base/docker", "host_only": True}
        ],
        "tools": [],
        "skip_checks": ["xe-module"],
        "hosts": {"localhost": {"container": True, "cmdline_params": ["intel_iommu=off"]}},
    }
    results = run_checks(expect, ["local://"], None, workdir=tmp_path)
    assert {r.check: r.outcome for r in results} == {
        "running-kernel": "SKIP",
        "kernel-cmdline": "SKIP",
        "grub-cmdline": "SKIP",
        "firmware": "SKIP",
        "packages": "SKIP",
        "xe-module": "SKIP",
    }
    assert all(r.detail.startswith(("container:", "skipped on request")) for r in results)
