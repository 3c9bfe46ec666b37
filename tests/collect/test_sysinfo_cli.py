"""multiarc-collect-sysinfo end to end: real collectors on this machine plus fake GPU tools."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.collect.cli import main

from tests.collect.conftest import by_name, extract_all, write_tool

FINAL_LINE = re.compile(r"^(?P<path>/\S+\.tar\.(?:xz|zst))  sha256:(?P<sha>[0-9a-f]{64})$")


def run_cli(*args: str) -> tuple[Path, dict, dict[str, bytes], str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    m = FINAL_LINE.match(last)
    assert m, last
    archive = Path(m.group("path"))
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == m.group("sha")
    members = extract_all(archive)
    (manifest_name,) = [n for n in members if n.endswith("/manifest.json")]
    return archive, json.loads(members[manifest_name]), members, result.output


def test_real_machine_with_fake_gpu_tools(tmp_path: Path, fake_gpu_tools: Path) -> None:
    out = tmp_path / "out"
    archive, manifest, members, _ = run_cli("--output", str(out), "--timeout", "3")
    assert archive.parent == out and archive.name.startswith("multiarc-sysinfo-")
    top = archive.name.removesuffix(".tar.xz")
    # summary.txt first, where a reader looks, then the manifest.
    assert list(members)[:2] == [f"{top}/summary.txt", f"{top}/manifest.json"]
    files = by_name(manifest)
    # Every other member is described by the manifest, with its size and sha256.
    for member, data in list(members.items())[2:]:
        name = member.removeprefix(f"{top}/")
        if name.endswith(".stderr") and name.removesuffix(".stderr") in files:
            entry = files[name.removesuffix(".stderr")]
            assert entry["stderr_bytes"] == len(data)
            assert entry["stderr_sha256"] == hashlib.sha256(data).hexdigest()
        else:
            assert files[name]["bytes"] == len(data), name
            assert files[name]["sha256"] == hashlib.sha256(data).hexdigest(), name

    # Real collectors on this real Linux machine. A tool this machine lacks (pciutils and
    # procps are not everywhere) must be recorded as skipped, with the reason.
    tools = {
        "cpu/lscpu.txt": "lscpu",
        "pci/lspci-tv.txt": "lspci",
        "pci/lspci-nn-D.txt": "lspci",
        "memory/free.txt": "free",
        "kernel/uname.txt": "uname",
    }
    for name in (*tools, "memory/meminfo.txt", "kernel/cmdline.txt", "cpu/scaling_governor.txt",
                 "pci/devices.json"):  # fmt: skip
        entry = files[name]
        if name in tools and shutil.which(tools[name]) is None:
            assert entry["status"] == "skipped", entry
            assert (
                entry["reason"] == f"{tools[name]} not found on PATH or in the known tool folders"
            )
            assert f"{top}/{name}" not in members
            continue
        assert entry["status"] == "ok", entry
        data = members[f"{top}/{name}"]
        assert entry["bytes"] == len(data) > 0
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        if name in tools:
            assert entry["exit_code"] == 0 and entry["duration_s"] >= 0
    if shutil.which("lspci"):
        assert files["pci/lspci-tv.txt"]["tool_version"].startswith("lspci version")
    if shutil.which("lscpu"):
        assert b"Architecture" in members[f"{top}/cpu/lscpu.txt"]

    # Fake GPU tools: one prints N/A fields, one fails, one hangs.
    disc = files["gpu/xpu-smi-discovery.txt"]
    assert disc["status"] == "ok" and disc["tool_version"] == "Version: 1.2.39.20240906"
    assert b"Device Name: N/A" in members[f"{top}/gpu/xpu-smi-discovery.txt"]
    health = files["gpu/xpu-smi-health.txt"]
    assert health["status"] == "failed" and health["exit_code"] == 1
    assert "Level Zero Initialization Error" in health["reason"]
    assert b"Level Zero" in members[f"{top}/gpu/xpu-smi-health.txt.stderr"]
    diag = files["gpu/xpu-smi-diag-l1.txt"]
    assert diag["status"] == "timeout" and "3 s timeout" in diag["reason"]
    assert b"Running diagnostics" in members[f"{top}/gpu/xpu-smi-diag-l1.txt"]  # partial output
    pid = int((tmp_path / "diag.pid").read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert files["gpu/sycl-ls.txt"]["status"] == "ok"
    assert b"level_zero:gpu" in members[f"{top}/gpu/sycl-ls.txt"]

    # Skipped items say why; the summary lists the problems and the BKC table.
    for entry in manifest["files"]:
        if entry["status"] == "skipped":
            assert entry["reason"], entry
    assert set(manifest["skipped"]) == {
        e["name"] for e in manifest["files"] if e["status"] == "skipped"
    }
    summary = members[f"{top}/summary.txt"].decode()
    assert "BKC versions" in summary and "Linux Kernel" in summary
    assert "timeout  gpu/xpu-smi-diag-l1.txt" in summary
    assert "GPUs: 0 supported Intel GPU(s)" in summary
    # The fake tools' recorded b60x4 outputs: 4 Level Zero GPUs, 4 xpu-smi devices.
    assert "GPUs seen by the tools: sycl-ls level_zero 4, xpu-smi discovery 4" in summary
    bkc_csv = members[f"{top}/firmware/bkc_version.csv"].decode()
    assert bkc_csv.startswith("Category,Version\n")
    assert f"Linux Kernel,{os.uname().release}\n" in bkc_csv
    assert files["firmware/bkc_version.csv"]["status"] == "ok"
    assert files["cpu/numa-nodes.txt"]["status"] in ("ok", "skipped")
    assert os.uname().release in summary


def test_missing_tool_is_skipped_with_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("multiarc.paths.TOOL_SEARCH_DIRS", ())
    _, manifest, _, _ = run_cli("--output", str(tmp_path), "--timeout", "5")
    entry = by_name(manifest)["gpu/sycl-ls.txt"]
    if shutil.which("sycl-ls"):
        pytest.skip("sycl-ls is installed here")
    assert entry["status"] == "skipped"
    assert entry["reason"] == "sycl-ls not found on PATH or in the known tool folders"
    assert entry["sha256"] is None and entry["bytes"] == 0


def test_dmidecode_failing_still_gives_archive(tmp_path: Path) -> None:
    """The original's `set -e` dies at dmidecode without /dev/mem; we record and go on."""
    if shutil.which("dmidecode") is None:
        pytest.skip("dmidecode is not installed (apt-get install dmidecode)")
    if Path("/dev/mem").exists():
        pytest.skip("this machine has /dev/mem, so dmidecode does not fail here")
    _, manifest, members, _ = run_cli("--output", str(tmp_path), "--timeout", "5")
    entry = by_name(manifest)["firmware/dmidecode.txt"]
    assert entry["status"] == "failed" and entry["exit_code"] == 1
    assert "/dev/mem" in entry["reason"]
    assert entry["tool_version"] and entry["tool_version"][0].isdigit()
    # Everything after dmidecode in the original's order is still there.
    for later in ("firmware/dpkg-libze.txt", "memory/free.txt", "kernel/dmesg.txt"):
        assert later in by_name(manifest)
    summary = next(v for k, v in members.items() if k.endswith("summary.txt")).decode()
    assert "failed   firmware/dmidecode.txt" in summary


def test_recorded_dmidecode_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same case with dmidecode's recorded VM output, for machines without dmidecode."""
    bin_dir = tmp_path / "bin"
    write_tool(
        bin_dir,
        "dmidecode",
        """\
        if [ "$1" = "--version" ]; then echo 3.4; exit 0; fi
        echo "# dmidecode 3.4"; echo "Scanning /dev/mem for entry point."
        echo "/dev/mem: No such file or directory" >&2; exit 1
        """,
    )
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    _, manifest, members, _ = run_cli("--output", str(tmp_path / "o"), "--timeout", "5")
    entry = by_name(manifest)["firmware/dmidecode.txt"]
    assert (entry["status"], entry["exit_code"], entry["tool_version"]) == ("failed", 1, "3.4")
    assert any(k.endswith("firmware/dmidecode.txt.stderr") for k in members)


def test_zstd_and_inspect(tmp_path: Path) -> None:
    if shutil.which("zstd") is None:
        pytest.skip("zstd not installed")
    archive, manifest, _, _ = run_cli(
        "--output", str(tmp_path), "--compression", "zstd", "--timeout", "5"
    )
    assert archive.name.endswith(".tar.zst") and manifest["compression"] == "zstd"
    result = CliRunner().invoke(main, ["--inspect", str(archive)])
    assert result.exit_code == 0, result.output
    assert "BKC versions" in result.output and "pci/lspci-tv.txt" in result.output
    assert result.output.startswith("multiarc support archive of ")
    as_json = CliRunner().invoke(main, ["--inspect", str(archive), "--json"])
    assert json.loads(as_json.stdout)["files"] == manifest["files"]


def test_inspect_rejects_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "x.tar.xz"
    bad.write_bytes(b"not an archive")
    result = CliRunner().invoke(main, ["--inspect", str(bad)])
    assert result.exit_code == 2
    assert "is not a readable support archive" in result.output
    missing = CliRunner().invoke(main, ["--inspect", str(tmp_path / "nope.tar.xz")])
    assert missing.exit_code == 2


def test_help_teaches() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for word in (
        "--redact",
        "--compression",
        "--inspect",
        "--since-install",
        "sha256",
        "needs root",
        "Examples",
        "What needs root: dmesg",
        "multiarc-sysinfo-<host>-<UTC YYYYmmdd_HHMMSS>.tar.xz",
        "summary.txt and manifest.json first",
        "Exit codes: 0",
        "300 s for xpu-smi diag",
    ):
        assert word in result.output
    assert "--root" not in result.output


def test_bad_output_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["--output", str(blocker / "sub")])
    assert result.exit_code == 2
    assert "its parent" in result.output and "does not exist" in result.output


def test_ctrl_c_stops_at_once_and_leaves_nothing(tmp_path: Path) -> None:
    """Commands run in their own sessions (so a timeout kills their children), which keeps
    the terminal's SIGINT from them: an interrupt must kill them, not wait 300 s."""
    bin_dir = tmp_path / "bin"
    pid_file = tmp_path / "diag.pid"
    write_tool(
        bin_dir,
        "xpu-smi",
        f"""\
        [ "$1" = diag ] && {{ echo $$ > '{pid_file}'; exec sleep 600; }}
        echo ok
        """,
    )
    out = tmp_path / "out"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    code = "from multiarc.collect.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--output", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    diag = int(pid_file.read_text())
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 10
    assert proc.returncode == 130 and b"interrupted" in err
    stat = Path(f"/proc/{diag}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z"  # killed
    assert list(out.iterdir()) == []  # no archive, no partial or side files


def test_multiarc_state_logs_and_last_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The multiarc group: state.json, the install logs and the newest results folder, whose
    verdict summary.txt shows."""
    root = tmp_path / "root"
    root.mkdir()
    for name in ("proc", "sys", "etc", "lib"):
        os.symlink(f"/{name}", root / name)
    state_dir = root / "var/lib/multiarc"
    state_dir.mkdir(parents=True)
    (state_dir / "state.json").write_text('{"bundle_version": "2025.2.0", "schema": 1}\n')
    logs = root / "var/log/multiarc"
    logs.mkdir(parents=True)
    (logs / "install-20250101_120000.log").write_text("PLAY RECAP ok=41 changed=3\n")
    results = tmp_path / "cwd/results"
    old = results / "20250101_090000"
    new = results / "20250102_120000"
    for folder in (old, new):
        (folder / "steps").mkdir(parents=True)
    (old / "report.json").write_text('{"verdict": "PASS"}')
    (new / "report.json").write_text('{"verdict": "FAIL", "counts": {"PASS": 13, "FAIL": 3}}')
    (new / "steps/01-ze_peak.log").write_text("ze_peak output\n")
    monkeypatch.chdir(tmp_path / "cwd")
    _, manifest, members, _ = run_cli("--root", str(root), "--output", str(tmp_path / "o"))
    top = next(iter(members)).split("/")[0]
    files = by_name(manifest)
    assert members[f"{top}/multiarc/state.json"].startswith(b'{"bundle_version": "2025.2.0"')
    assert files["multiarc/install-logs/install-20250101_120000.log"]["status"] == "ok"
    copied = f"{top}/multiarc/last-results/20250102_120000"
    assert members[f"{copied}/steps/01-ze_peak.log"] == b"ze_peak output\n"
    assert f"{copied}/report.json" in members
    assert not any("20250101_090000" in name for name in members)  # only the newest run
    summary = members[f"{top}/summary.txt"].decode()
    assert f"Last evaluation: FAIL (3 FAIL, 13 PASS) in {new}" in summary
