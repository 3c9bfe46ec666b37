"""multiarc-collect-sysinfo as an unprivileged user: an archive all the same, saying what
needs root. Run as nobody through setpriv/runuser when the tests run as root; run directly
when they already run unprivileged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collect.conftest import by_name, extract_all, shared_folder

NOBODY = 65534
CLI = [sys.executable, "-c", "from multiarc.collect.cli import main; main()"]


def _as_nobody(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv  # already unprivileged
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--", *argv]
    pytest.skip("neither setpriv nor runuser is installed to drop root")


@pytest.fixture
def shared_out() -> Iterator[Path]:
    """An output folder nobody can write to (pytest's tmp_path is private to root)."""
    with shared_folder("multiarc-unpriv-", 0o777) as folder:
        yield folder


def test_unprivileged_run_collects_what_it_can(shared_out: Path) -> None:
    argv = _as_nobody([*CLI, "--output", str(shared_out), "--timeout", "10"])
    env = dict(os.environ, HOME=str(shared_out))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    path, sha = proc.stdout.strip().splitlines()[-1].split()
    archive = Path(path)
    assert archive.parent == shared_out and sha.startswith("sha256:")
    assert archive.stat().st_uid == (NOBODY if os.geteuid() == 0 else os.geteuid())
    members = extract_all(archive)
    top = archive.name.removesuffix(".tar.xz")
    manifest = json.loads(members[f"{top}/manifest.json"])
    files = by_name(manifest)
    assert manifest["ran_as_root"] is False
    # What needs no root is there.
    for name in ("cpu/lscpu.txt", "memory/meminfo.txt", "kernel/cmdline.txt", "pci/devices.json"):
        assert files[name]["status"] == "ok", files[name]
    # What needs root is listed, and every such item that did not work says so.
    assert {"kernel/dmesg.txt", "firmware/dmidecode.txt", "pci/lspci-vvv.txt"} <= set(
        manifest["needs_root"]
    )
    for name in manifest["needs_root"]:
        entry = files[name]
        if entry["status"] == "failed":
            assert "needs root" in entry["reason"], entry
        elif entry["status"] == "skipped":
            assert entry["reason"], entry
    if Path("/proc/sys/kernel/dmesg_restrict").read_text().strip() == "1":
        assert files["kernel/dmesg.txt"]["status"] == "failed"
        assert "Operation not permitted" in files["kernel/dmesg.txt"]["reason"]
    summary = members[f"{top}/summary.txt"].decode()
    assert "Ran as root: no" in summary
    assert "Not run as root; these need root to be complete:" in summary
    assert "kernel/dmesg.txt" in summary.split("Not run as root")[1]
