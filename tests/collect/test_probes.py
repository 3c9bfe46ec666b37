"""System probes on recorded root slices, a fake sysfs tree, and this machine's real /sys."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from multiarc.collect import host_probes, probes

B60X4 = Path(__file__).resolve().parents[1] / "recordings" / "b60x4"
ROOT4 = B60X4 / "root"
TWO_VISIBLE = B60X4.parent / "b60x4-two-visible" / "root"


def make_pci_device(
    root: Path,
    bdf: str,
    *,
    vendor: str,
    device: str,
    klass: str,
    driver: str | None = None,
    resource: str = "",
    speed: str | None = None,
    width: str | None = None,
    numa: str = "-1",
) -> Path:
    folder = root / "sys/bus/pci/devices" / bdf
    folder.mkdir(parents=True)
    (folder / "vendor").write_text(f"0x{vendor}\n")
    (folder / "device").write_text(f"0x{device}\n")
    (folder / "class").write_text(f"0x{klass}\n")
    (folder / "numa_node").write_text(numa + "\n")
    (folder / "resource").write_text(resource)
    if speed is not None:
        (folder / "current_link_speed").write_text(speed + "\n")
        (folder / "max_link_speed").write_text(speed + "\n")
    if width is not None:
        (folder / "current_link_width").write_text(width + "\n")
        (folder / "max_link_width").write_text(width + "\n")
    if driver:
        target = root / "sys/bus/pci/drivers" / driver
        target.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(target, folder), folder / "driver")
    return folder


def test_os_release_and_kernel_from_recording() -> None:
    rel = probes.os_release(ROOT4)
    assert (rel.id, rel.version_id, rel.version_codename) == ("ubuntu", "25.04", "plucky")
    assert rel.pretty_name.startswith("Ubuntu 25.04")
    assert probes.kernel_release(ROOT4) == "6.14.0-1006-intel"
    assert "intel_iommu=off" in probes.kernel_cmdline(ROOT4)


def test_missing_files_give_empty_values(tmp_path: Path) -> None:
    assert probes.os_release(tmp_path) == probes.OsRelease()
    assert probes.kernel_release(tmp_path) == ""
    assert probes.kernel_cmdline(tmp_path) == []
    assert probes.pci_devices(tmp_path) == []
    assert probes.drm_cards(tmp_path) == []
    assert host_probes.cpu_governors(tmp_path) == {}
    assert probes.oneapi_version(tmp_path) is None
    assert probes.in_container(tmp_path, environ={}) is False


def test_os_release_quoting(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(
        '# comment\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
        "VERSION_ID='12'\nVERSION_CODENAME=bookworm\nbroken line\n"
    )
    rel = probes.os_release(tmp_path)
    assert rel == probes.OsRelease("debian", "12", "Debian GNU/Linux 12 (bookworm)", "bookworm")


def test_intel_gpus_from_recording() -> None:
    gpus = probes.intel_gpus(ROOT4)
    assert [g.bdf for g in gpus] == ["0000:18:00.0", "0000:1b:00.0", "0000:98:00.0", "0000:9b:00.0"]
    first = gpus[0]
    assert (first.vendor_id, first.device_id, first.class_id, first.driver) == (
        "8086",
        "e211",
        "030000",
        "xe",
    )
    assert first.current_link_speed == "32.0 GT/s PCIe" and first.current_link_width == 8
    assert first.max_link_width == 8 and first.numa_node == 0
    assert first.bar_sizes[2] == 32 * 2**30  # the 32 GiB resizable BAR2
    assert gpus[1].current_link_speed == "2.5 GT/s PCIe"  # the cosmetic idle report
    assert [g.numa_node for g in gpus] == [0, 0, 1, 1]


def test_gpus_without_driver_are_listed_with_none() -> None:
    drivers = {g.bdf: g.driver for g in probes.intel_gpus(TWO_VISIBLE)}
    assert drivers["0000:18:00.0"] == "xe"
    assert drivers["0000:98:00.0"] is None


def test_drm_cards_from_recording() -> None:
    cards = probes.drm_cards(ROOT4)
    assert [c.name for c in cards] == ["card0", "card1", "card2", "card3", "card4"]
    assert (cards[0].bdf, cards[0].driver) == ("0000:03:00.0", "ast")
    assert all(c.driver == "xe" for c in cards[1:])
    assert cards[1].bdf == "0000:18:00.0"


def test_fake_tree_fallback(tmp_path: Path) -> None:
    make_pci_device(
        tmp_path,
        "0000:03:00.0",
        vendor="8086",
        device="e20b",
        klass="030000",
        driver="xe",
        speed="16.0 GT/s PCIe",
        width="8",
        numa="0",
        resource="0x0000000080000000 0x0000000080ffffff 0x0000000000040200\n"
        "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
        "0x0000004000000000 0x00000043ffffffff 0x000000000014220c\n",
    )
    make_pci_device(tmp_path, "0000:00:1f.0", vendor="8086", device="7a06", klass="060100")
    make_pci_device(tmp_path, "0000:04:00.0", vendor="1002", device="e211", klass="030000")
    devices = probes.pci_devices(tmp_path)
    assert [d.bdf for d in devices] == ["0000:00:1f.0", "0000:03:00.0", "0000:04:00.0"]
    bridge = devices[0]
    assert bridge.driver is None and bridge.current_link_speed is None
    assert bridge.current_link_width is None and bridge.bar_sizes == ()
    gpu = devices[1]
    assert gpu.bar_sizes == (16 * 2**20, 0, 16 * 2**30)
    assert gpu.current_link_speed == "16.0 GT/s PCIe" and gpu.max_link_width == 8
    # AMD vendor with an Intel-looking device id is not a GPU under test.
    assert [g.bdf for g in probes.intel_gpus(tmp_path)] == ["0000:03:00.0"]


def test_unreadable_attribute_is_none(tmp_path: Path) -> None:
    folder = make_pci_device(
        tmp_path, "0000:05:00.0", vendor="8086", device="e211", klass="030000", width="8"
    )
    (folder / "current_link_width").write_text("garbage\n")
    (folder / "numa_node").unlink()
    (dev,) = probes.pci_devices_from_sysfs(tmp_path)
    assert dev.current_link_width is None and dev.numa_node is None


def test_real_sys_udev_and_fallback_agree() -> None:
    if not Path("/sys/bus/pci/devices").is_dir() or not os.listdir("/sys/bus/pci/devices"):
        pytest.skip("this machine has no PCI devices in /sys")
    via_udev = probes.pci_devices_from_udev()
    via_sysfs = probes.pci_devices_from_sysfs(Path("/"))
    assert via_udev, "pyudev found no PCI devices on a machine that has them"
    assert via_udev == via_sysfs
    assert probes.pci_devices() == via_udev
    assert all(len(d.vendor_id) == 4 and not d.vendor_id.startswith("0x") for d in via_udev)


def test_udev_failure_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> list[probes.PciDevice]:
        raise OSError("libudev not available")

    monkeypatch.setattr(probes, "pci_devices_from_udev", broken)
    assert probes.pci_devices() == probes.pci_devices_from_sysfs(Path("/"))


def test_firmware_versions_from_dmesg() -> None:
    text = (B60X4 / "outputs/dmesg.txt").read_text()
    assert probes.firmware_versions_from_dmesg(text) == {
        "guc": "70.44.1",
        "huc": "8.2.10",
        "dmc": "2.6",
    }
    old_style = (
        "[    3.1] xe 0000:03:00.0: [drm] Using GuC firmware from xe/bmg_guc_70.bin "
        "version 70.36.0\n"
    )
    assert probes.firmware_versions_from_dmesg(old_style) == {"guc": "70.36.0"}
    assert probes.firmware_versions_from_dmesg("nothing here\n") == {}


def test_package_versions_real_and_recorded() -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query not installed")
    real = probes.package_versions(["dpkg", "no-such-package-xyz"])
    assert set(real) == {"dpkg"} and real["dpkg"][0].isdigit()
    recorded = probes.package_versions(["libze*"], admindir=ROOT4 / "var/lib/dpkg")
    assert recorded and all(name.startswith("libze") for name in recorded)
    assert probes.package_versions([]) == {}


def test_package_versions_without_dpkg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert probes.package_versions(["libze*"]) == {}


def test_find_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "tools"
    extra.mkdir()
    tool = extra / "ze_peer"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    (extra / "not_exec").write_text("")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert probes.find_tool("ze_peer", [tmp_path / "missing", extra]) == tool
    assert probes.find_tool("not_exec", [extra]) is None
    onpath = tmp_path / "bin"
    onpath.mkdir()
    shutil.copy(tool, onpath / "ze_peer")
    monkeypatch.setenv("PATH", str(onpath))
    assert probes.find_tool("ze_peer", [extra]) == onpath / "ze_peer"


def test_cpu_and_memory_info() -> None:
    cpu = host_probes.cpu_info()
    assert cpu.logical_cores >= 1 and cpu.logical_cores == os.cpu_count()
    recorded = host_probes.cpu_governors(ROOT4)
    assert recorded and set(recorded.values()) == {"powersave"} and 0 in recorded
    mem = host_probes.memory_info()
    assert mem.total_bytes > 0 and 0 < mem.available_bytes <= mem.total_bytes


def test_cpu_and_memory_without_psutil_agree_with_psutil(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fleet node's copy has no psutil: /proc must give the same figures."""
    with_psutil = host_probes.cpu_info(), host_probes.memory_info()
    monkeypatch.setattr(host_probes, "psutil", None)
    cpu, mem = host_probes.cpu_info(), host_probes.memory_info()
    assert cpu.logical_cores == with_psutil[0].logical_cores
    assert cpu.physical_cores == with_psutil[0].physical_cores
    assert mem.total_bytes == with_psutil[1].total_bytes
    assert mem.swap_total_bytes == with_psutil[1].swap_total_bytes
    assert 0 < mem.available_bytes <= mem.total_bytes


def test_physical_cores_count_each_package_apart() -> None:
    text = "".join(
        f"processor : {n}\nphysical id : {n // 4}\ncore id : {n % 2}\n\n" for n in range(8)
    )
    assert host_probes.physical_cores_from_cpuinfo(text) == 4
    assert host_probes.physical_cores_from_cpuinfo("processor : 0\n") is None


def test_in_container(tmp_path: Path) -> None:
    assert probes.in_container(tmp_path, environ={"container": "podman"})
    (tmp_path / "proc/1").mkdir(parents=True)
    (tmp_path / "proc/1/cgroup").write_text("0::/init.scope\n")
    assert not probes.in_container(tmp_path, environ={})
    (tmp_path / "proc/1/cgroup").write_text("0::/system.slice/docker-abc.scope\n")
    assert probes.in_container(tmp_path, environ={})
    (tmp_path / "proc/1/cgroup").write_text("")
    (tmp_path / ".dockerenv").write_text("")
    assert probes.in_container(tmp_path, environ={})


def test_oneapi_version_from_recording() -> None:
    assert probes.oneapi_version(ROOT4) == "2025.1.3+6"
