"""Fixtures for the support-archive tests: fake GPU tools on PATH, a plantable root, helpers."""

from __future__ import annotations

import io
import lzma
import os
import tarfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def write_tool(folder: Path, name: str, script: str) -> Path:
    """An executable shell script standing in for a tool."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    path.chmod(0o755)
    return path


def extract_all(archive: Path) -> dict[str, bytes]:
    """Every regular member of a .tar.xz / .tar.zst archive: name -> bytes."""
    if archive.name.endswith(".zst"):
        import subprocess

        data = subprocess.run(["zstd", "-dc", str(archive)], capture_output=True, check=True).stdout
    else:
        data = lzma.decompress(archive.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


@contextmanager
def shared_folder(prefix: str, mode: int) -> Iterator[Path]:
    """A folder other users can write to (pytest's tmp_path is private to root)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(mode)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def by_name(manifest: dict) -> dict[str, dict]:
    return {f["name"]: f for f in manifest["files"]}


@pytest.fixture
def fake_gpu_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """sycl-ls (recorded b60x4 output), xpu-smi: discovery prints N/A fields, health fails,
    diag hangs (writes its PID so the test can check it was killed). First on PATH."""
    bin_dir = tmp_path / "fakebin"
    sycl = RECORDINGS / "b60x4" / "outputs" / "sycl-ls.txt"
    discovery = (RECORDINGS / "b60x4" / "outputs" / "xpu-smi-discovery.txt").read_text()
    na = discovery.replace("Device Name: Intel(R) Arc(TM) Pro B60 Graphics", "Device Name: N/A")
    (tmp_path / "discovery-na.txt").write_text(na)
    write_tool(bin_dir, "sycl-ls", f"cat '{sycl}'\n")
    write_tool(
        bin_dir,
        "xpu-smi",
        f"""\
        case "$1" in
          -v) echo "CLI:"; echo "    Version: 1.2.39.20240906" ;;
          discovery) cat '{tmp_path / "discovery-na.txt"}' ;;
          health) echo "Error: Level Zero Initialization Error" >&2; exit 1 ;;
          diag) echo $$ > '{tmp_path / "diag.pid"}'; echo "Running diagnostics..."
                exec sleep 600 ;;
          *) echo "unknown"; exit 2 ;;
        esac
        """,
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    yield bin_dir
