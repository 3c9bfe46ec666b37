from __future__ import annotations

from multiarc.evaluation.parsers.dmesg import parse_dmesg
from parser_recordings import recorded


def test_firmware_versions_per_gpu() -> None:
    result = parse_dmesg(recorded("b60x4", "dmesg.txt"))
    assert result.ok
    (log,) = result.records
    assert log.versions("GuC") == ("70.44.1",)
    assert log.versions("HuC") == ("8.2.10",)
    assert log.versions("DMC") == ("2.6",)
    guc = [f for f in log.firmware if f.kind == "GuC"]
    assert {f.bdf for f in guc} == {"0000:18:00.0", "0000:1b:00.0", "0000:98:00.0", "0000:9b:00.0"}
    assert {f.gt for f in guc} == {0, 1}
    assert guc[0].path == "xe/bmg_guc_70.bin"
    assert log.errors == ()


def test_probe_failures() -> None:
    (log,) = parse_dmesg(recorded("b60x4-two-visible", "dmesg.txt")).records
    failed = {e.bdf for e in log.errors if e.probe_failed}
    assert failed == {"0000:98:00.0", "0000:9b:00.0"}
    assert any("GuC load failed" in e.message for e in log.errors)
    assert {f.bdf for f in log.firmware} == {"0000:18:00.0", "0000:1b:00.0"}


def test_older_formats_and_nothing_found() -> None:
    text = (
        "[    4.1] i915 0000:00:02.0: [drm] GT0: GuC firmware i915/mtl_guc_70.bin version 70.36.0\n"
        "[    4.2] xe 0000:03:00.0: [drm] Tile0: GT0: Using GuC firmware from "
        "xe/bmg_guc_70.bin version 70.29.2\n"
    )
    (log,) = parse_dmesg(text).records
    assert log.versions("GuC") == ("70.36.0", "70.29.2")
    empty = parse_dmesg("[    0.0] Linux version 6.14.0\n")
    assert empty.records[0].firmware == () and not empty.ok


def test_booted_kernel_and_command_line() -> None:
    (log,) = parse_dmesg(recorded("b60x4", "dmesg.txt")).records
    assert log.kernel_release == "6.14.0-1006-intel"
    assert "intel_iommu=off" in log.command_line.split()
