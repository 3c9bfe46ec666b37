"""--inspect on an archive with a huge member (a sparse 2 GiB file in a tiny tar) reads it
in pieces: it does not need the member's size in memory."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_huge_member_is_hashed_in_pieces(tmp_path: Path) -> None:
    if shutil.which("tar") is None or shutil.which("truncate") is None:
        pytest.skip("needs tar and truncate")
    top = tmp_path / "top"
    top.mkdir()
    subprocess.run(["truncate", "-s", "2G", str(top / "huge.bin")], check=True)
    (top / "summary.txt").write_text("hi\n")
    (top / "manifest.json").write_text('{"files": []}')
    archive = tmp_path / "huge.tar"
    subprocess.run(["tar", "-S", "-cf", str(archive), "-C", str(tmp_path), "top/huge.bin",
                    "top/summary.txt", "top/manifest.json"], check=True)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    result = subprocess.run([sys.executable, "-m", "multiarc.collect", "--inspect", str(archive)],
                            capture_output=True, text=True, preexec_fn=limit, timeout=120)
    assert "MemoryError" not in result.stderr, result.stderr[-2000:]
    assert "huge.bin: not listed in manifest.json" in result.stdout + result.stderr
