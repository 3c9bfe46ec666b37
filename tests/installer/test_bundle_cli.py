"""``multiarc-install bundle create|verify`` through click's CliRunner."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from click.testing import CliRunner
from multiarc.installer.bundle import write_archive
from multiarc.installer.bundle_manifest import build_manifest
from multiarc.installer.cli import main

VERSION = "2025.2.0-fixture"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, list(args))
    return result.exit_code, result.output


def test_bundle_help_teaches() -> None:
    code, out = _run("bundle", "--help")
    assert code == 0 and "manifest.json" in out and "create" in out and "verify" in out
    code, out = _run("bundle", "create", "-h")
    assert code == 0
    for text in ("SRC_DIR", "--target-os", "--compression-level", "kernel/*.deb", "Examples:"):
        assert text in out
    code, out = _run("bundle", "verify", "-h")
    assert code == 0 and "Exit codes: 0 verified, 2" in out and "no `..`" in out


def test_create_then_verify(bundle_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "made.tar.xz"
    code, text = _run(
        "bundle", "create", str(bundle_tree), "-o", str(out), "--compression-level", "0"
    )
    assert code == 0, text
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"sha256: {digest}" in text
    assert "61 files, 40 packages" in text and "target OS: ubuntu 25.04 amd64" in text
    assert (tmp_path / "made.tar.xz.sha256").read_text() == f"{digest}  made.tar.xz\n"
    code, text = _run("bundle", "verify", str(out))
    assert code == 0, text
    assert "verified: size and sha256 of every file match the manifest" in text
    assert f"bundle {VERSION}: 61 files" in text and "kernel 6.14.0-1006-intel" in text
    assert "gfxdrv/gpgpu" in text and "tools/xpu-smi" in text


def test_verify_intel_archive_prints_the_note(intel_archive: Path) -> None:
    code, text = _run("bundle", "verify", str(intel_archive))
    assert code == 0, text
    assert "note: Intel archive without manifest: structure verified, checksums unavailable" in text
    assert "target OS not recorded" in text


def test_verify_tampered_exits_2_naming_the_file(bundle_tree_copy: Path, tmp_path: Path) -> None:
    manifest = build_manifest(bundle_tree_copy)
    (bundle_tree_copy / "tools" / "level-zero-tests" / "ze_peak").write_text("#!/bin/sh\nevil\n")
    archive = tmp_path / "t.tar.xz"
    write_archive(bundle_tree_copy, archive, manifest, preset=0)
    code, text = _run("bundle", "verify", str(archive))
    assert code == 2
    assert "error: bundle t.tar.xz failed verification: tools/level-zero-tests/ze_peak:" in text
    assert "hint:" in text and "Traceback" not in text


def test_verify_missing_or_truncated_exits_2(bundle_archive: Path, tmp_path: Path) -> None:
    code, text = _run("bundle", "verify", str(tmp_path / "nope.tar.xz"))
    assert code == 2 and "bundle not found" in text
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(bundle_archive.read_bytes()[:4000])
    code, text = _run("bundle", "verify", str(cut))
    assert code == 2 and "cut.tar.xz is not a readable .tar.xz archive" in text


def test_create_errors_exit_2(bundle_tree_copy: Path, tmp_path: Path) -> None:
    code, text = _run("bundle", "create", str(bundle_tree_copy), "-o", str(tmp_path / "x.zip"))
    assert code == 2 and "does not end in .tar.xz" in text
    code, text = _run(
        "bundle", "create", str(bundle_tree_copy), "-o", str(tmp_path / "x.tar.xz"),
        "--target-os", "ubuntu",
    )  # fmt: skip
    assert code == 2 and "bad target OS 'ubuntu'" in text
    shutil.rmtree(bundle_tree_copy / "gfxdrv" / "gpgpu")
    code, text = _run("bundle", "create", str(bundle_tree_copy), "-o", str(tmp_path / "x.tar.xz"))
    assert code == 2 and "missing gfxdrv/gpgpu/*.deb (the compute runtime packages)" in text
    assert not (tmp_path / "x.tar.xz").exists()
    code, text = _run("bundle", "create", str(tmp_path / "absent"), "-o", "x.tar.xz")
    assert code == 2 and "does not exist" in text
