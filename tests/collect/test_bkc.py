"""The BKC table file and the last evaluation's verdict, read defensively from report.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from multiarc.collect import bkc
from multiarc.collect.context import Context


def _ctx(tmp_path: Path) -> Context:
    return Context(root=tmp_path, environ={}, is_root=True, results_dirs=(tmp_path / "results",))


def _run(tmp_path: Path, name: str, report: object | None) -> Path:
    folder = tmp_path / "results" / name
    folder.mkdir(parents=True)
    if report is not None:
        text = report if isinstance(report, str) else json.dumps(report)
        (folder / "report.json").write_text(text)
    return folder


def test_bkc_csv_is_intels_format() -> None:
    rows = [("Ubuntu", "25.04 (Plucky Puffin)"), ("GPU Firmware (guc)", "70.44.1"), ("", "x=1")]
    assert bkc.bkc_csv(rows) == (
        "Category,Version\nUbuntu,25.04 (Plucky Puffin)\nGPU Firmware (guc),70.44.1\n,x=1\n"
    )


def test_no_results_folder(tmp_path: Path) -> None:
    assert bkc.last_evaluation(_ctx(tmp_path)) is None


@pytest.mark.parametrize(
    ("report", "verdict", "detail"),
    [
        ({"overall_verdict": "fail", "counts": {"PASS": 10, "FAIL": 2}}, "FAIL", "2 FAIL, 10 PASS"),
        ({"verdict": {"verdict": "WARN"}}, "WARN", "report.json verdict"),
        ({"counts": {"PASS": 3, "WARN": 1, "FAIL": 0}}, "WARN", "1 WARN, 3 PASS"),
        ({"summary": {"counts": {"pass": 4}}}, "PASS", "4 PASS"),
        (
            {"metrics": [{"verdict": "PASS"}, {"verdict": "FAIL"}, {"x": 1}]},
            "FAIL",
            "1 FAIL, 1 PASS",
        ),
        (  # multiarc-eval's own report.json: why it failed beyond the metric counts
            {
                "verdict": "FAIL",
                "counts": {"PASS": 13, "WARN": 0, "FAIL": 0, "INFO": 103},
                "check_counts": {"PASS": 6, "WARN": 1, "FAIL": 0},
                "missing": [{"category": "1ccl", "verdict": "FAIL"}] * 3,
                "steps": [{"name": "sycl-ls", "ok": True}, {"name": "1ccl", "ok": False}],
            },
            "FAIL",
            "13 PASS, 103 INFO, 1 check(s) WARN, 3 reference figure(s) not measured, "
            "1 step(s) failed",
        ),
        ({"counts": {"PASS": "many"}}, "unknown", "report.json holds no verdicts"),
        ([1, 2], "unknown", "report.json is not an object"),
        ("{not json", "unknown", "no readable report.json"),
        (None, "unknown", "no readable report.json"),
    ],
)
def test_last_evaluation_reads_what_it_can(
    tmp_path: Path, report: object, verdict: str, detail: str
) -> None:
    _run(tmp_path, "20250101_120000", {"verdict": "PASS"})  # older run: not the one read
    folder = _run(tmp_path, "20250102_120000", report)
    (tmp_path / "results" / "not-a-run").mkdir()
    last = bkc.last_evaluation(_ctx(tmp_path))
    assert last is not None and last.folder == folder
    assert (last.verdict, last.detail) == (verdict, detail)


def _dpkg_entry(name: str, version: str, status: str = "install ok installed") -> str:
    return (
        f"Package: {name}\nStatus: {status}\nPriority: optional\nSection: libs\n"
        f"Architecture: amd64\nVersion: {version}\nDescription: fixture\n\n"
    )


def test_bkc_rows_from_the_installed_bundle_lists_and_libze(tmp_path: Path) -> None:
    """Rows as get_bkc_version.sh prints them: OS, kernel, GuC/HuC/DMC from dmesg, oneAPI,
    then every package the installed bundle names (by folder) and every libze* package."""
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query is not installed")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(
        'ID=ubuntu\nVERSION_ID="25.04"\nVERSION="25.04 (Plucky Puffin)"\n'
    )
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/osrelease").write_text("6.14.0-1006-intel\n")
    logs = tmp_path / "opt/intel/oneapi/logs"
    logs.mkdir(parents=True)
    (logs / "installer.install.intel.oneapi.lin.basekit.product,v=2025.2.0+367.log").touch()
    bundle = tmp_path / "var/lib/multiarc/bundles/2025.2.0"
    for deb in (
        "kernel/linux-image-6.14.0-1006-intel_6.14.0-1006.6_amd64.deb",
        "gfxdrv/gpgpu/libze-intel-gpu1_25.18.33578.6_amd64.deb",
        "gfxdrv/gpgpu/libze1_1.21.9.0-1136~25.04_amd64.deb",
        "tools/xpu-smi/xpu-smi_1.2.39_amd64.deb",
    ):
        (bundle / deb).parent.mkdir(parents=True, exist_ok=True)
        (bundle / deb).touch()
    state = tmp_path / "var/lib/multiarc/state.json"
    state.write_text(json.dumps({"bundle_dir": "/var/lib/multiarc/bundles/2025.2.0"}))
    dpkg = tmp_path / "var/lib/dpkg"
    (dpkg / "updates").mkdir(parents=True)
    (dpkg / "status").write_text(
        _dpkg_entry("linux-image-6.14.0-1006-intel", "6.14.0-1006.6")
        + _dpkg_entry("libze1", "1.21.9.0-1136~25.04")
        + _dpkg_entry("libze-dev", "1.21.9.0-1136~25.04")  # not in the bundle: a libze* row
        + _dpkg_entry("xpu-smi", "1.2.38", "deinstall ok config-files")  # removed
    )
    dmesg = (
        "[    5.1] xe 0000:18:00.0: [drm] Finished loading DMC firmware i915/bmg_dmc.bin (v2.6)\n"
        "[    5.2] xe 0000:18:00.0: [drm] GT0: Using GuC firmware from xe/bmg_guc_70.bin "
        "version 70.44.1\n"
        "[    5.3] xe 0000:18:00.0: [drm] GT1: Using HuC firmware from xe/bmg_huc.bin "
        "version 8.2.10\n"
    )
    rows = bkc.bkc_rows(_ctx(tmp_path), dmesg)
    assert rows == [
        ("Ubuntu", "25.04 (Plucky Puffin)"),
        ("Linux Kernel", "6.14.0-1006-intel"),
        ("GPU Firmware (guc)", "70.44.1"),
        ("GPU Firmware (huc)", "8.2.10"),
        ("GPU Firmware (dmc)", "2.6"),
        ("oneapi", "oneapi-base-toolkit=2025.2.0+367"),
        ("gfxdrv/gpgpu", "libze-intel-gpu1=Not Installed"),
        ("", "libze1=1.21.9.0-1136~25.04"),
        ("kernel", "linux-image-6.14.0-1006-intel=6.14.0-1006.6"),
        ("tools/xpu-smi", "xpu-smi=Not Installed"),
        ("libze", "libze-dev=1.21.9.0-1136~25.04"),
        ("", "libze1=1.21.9.0-1136~25.04"),
    ]
    # Without a readable dmesg the firmware rows say why.
    assert ("GPU Firmware (guc)", "Not Found (dmesg not readable)") in bkc.bkc_rows(
        _ctx(tmp_path), None
    )
