"""--since-install: dmesg, the journal and the install logs limited to the time since the last
install recorded in state.json; the BKC table still finds the firmware of the whole dmesg."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.collect.cli import main

from tests.collect.conftest import by_name, extract_all, write_tool

STARTED = "2025-06-01T10:00:00+00:00"
GUC = "xe 0000:18:00.0: [drm] GT0: Using GuC firmware from xe/bmg_guc_70.bin version 70.44.1"


def _local(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    for name in ("proc", "sys", "etc"):
        os.symlink(f"/{name}", root / name)
    logs = root / "var/log/multiarc"
    logs.mkdir(parents=True)
    old, new = logs / "install-20250501_090000.log", logs / "install-20250601_100000.log"
    old.write_text("an older install\n")
    new.write_text("the last install\n")
    os.utime(old, (datetime.fromisoformat("2025-05-01T09:00:00+00:00").timestamp(),) * 2)
    os.utime(new, (datetime.fromisoformat("2025-06-01T10:05:00+00:00").timestamp(),) * 2)
    bin_dir = tmp_path / "bin"
    # dmesg: the boot (with the firmware line) came before the install; --since drops it.
    write_tool(
        bin_dir,
        "dmesg",
        f"""\
        [ "$1" = --version ] && {{ echo "dmesg from util-linux 2.40"; exit 0; }}
        echo "args: $*"
        if [ "$1" != --since ]; then echo "[    4.9] {GUC}"; fi
        echo "[ 9999.0] xe 0000:18:00.0: [drm] GT0: engine reset"
        """,
    )
    write_tool(bin_dir, "journalctl", 'echo "journal args: $*"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return root


def _write_state(root: Path) -> None:
    state = root / "var/lib/multiarc/state.json"
    state.parent.mkdir(parents=True)
    state.write_text(
        json.dumps(
            {
                "bundle_version": "2025.2.0",
                "created_at": "2025-05-01T09:00:00+00:00",
                "last_run": {"started_at": STARTED, "result": "ok", "check_mode": False},
            }
        )
    )


def _collect(root: Path, out: Path, *extra: str) -> tuple[dict, dict[str, bytes], str]:
    result = CliRunner().invoke(
        main,
        ["--root", str(root), "--output", str(out), "--timeout", "5", *extra],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    archive = Path(result.stdout.strip().splitlines()[-1].split()[0])
    members = extract_all(archive)
    top = archive.name.removesuffix(".tar.xz")
    members = {k.removeprefix(top + "/"): v for k, v in members.items()}
    return json.loads(members["manifest.json"]), members, members["summary.txt"].decode()


def test_logs_limited_to_the_last_install(root: Path, tmp_path: Path) -> None:
    _write_state(root)
    manifest, members, summary = _collect(root, tmp_path / "out", "--since-install")
    since = _local(STARTED)
    assert members["kernel/dmesg.txt"].decode().startswith(f"args: --since {since}\n")
    assert GUC not in members["kernel/dmesg.txt"].decode()
    assert (
        members["kernel/journal-since-install.txt"]
        == f"journal args: --no-pager --since {since}\n".encode()
    )
    assert "multiarc/install-logs/install-20250601_100000.log" in members
    assert "multiarc/install-logs/install-20250501_090000.log" not in members
    entry = by_name(manifest)["multiarc/install-logs/install-20250601_100000.log"]
    assert "1 file(s) older than the last install" in entry["reason"]
    assert manifest["since_install"] == {
        "since": STARTED,
        "source": "start of the last multiarc-install run (ok)",
    }
    assert f"Logs since {STARTED} (start of the last multiarc-install run (ok))" in summary
    # The firmware line before the install still reaches the BKC table.
    assert GUC in members["kernel/dmesg-firmware-lines.txt"].decode()
    assert "GPU Firmware (guc),70.44.1" in members["firmware/bkc_version.csv"].decode()
    assert "GPU Firmware (guc)  70.44.1" in summary


def test_without_the_option_logs_are_complete(root: Path, tmp_path: Path) -> None:
    _write_state(root)
    manifest, members, summary = _collect(root, tmp_path / "out")
    assert members["kernel/dmesg.txt"].decode().startswith("args: \n")
    assert "kernel/journal-since-install.txt" not in members
    assert "multiarc/install-logs/install-20250501_090000.log" in members
    assert manifest["since_install"] is None and "Logs since" not in summary
    assert "GPU Firmware (guc),70.44.1" in members["firmware/bkc_version.csv"].decode()


def test_no_install_recorded_says_so(root: Path, tmp_path: Path) -> None:
    manifest, members, summary = _collect(root, tmp_path / "out", "--since-install")
    assert members["kernel/dmesg.txt"].decode().startswith("args: \n")
    assert "multiarc/install-logs/install-20250501_090000.log" in members
    assert manifest["since_install"]["since"] is None
    assert "no install recorded in state.json, so the logs are complete" in summary
