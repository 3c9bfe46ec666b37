"""Bundle verification, safe extraction and creation, on the synthetic bundle of real .debs."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from multiarc.installer import bundle_extract
from multiarc.installer.bundle import (
    MANIFEST_NOTE,
    create_bundle,
    extract_bundle,
    space_needed,
    verify_bundle,
    write_archive,
)
from multiarc.installer.bundle_extract import _extract_into
from multiarc.installer.bundle_manifest import (
    EXTRACTED_MARKER,
    MANIFEST_NAME,
    Manifest,
    TargetOS,
    build_manifest,
    sha256_file,
)

from multiarc.errors import EnvironmentNotReady, ExitCode, InputError
from tests.fixtures.synthetic_bundle import KERNEL_RELEASE, build_bundle_archive

VERSION = "2025.2.0-fixture"


def _repack(tree: Path, out: Path, manifest: Manifest | None) -> Path:
    write_archive(tree, out, manifest, preset=0)
    return out


def _members_plus(source: Path, out: Path, info: tarfile.TarInfo, data: bytes = b"") -> Path:
    """A copy of the archive ``source`` with one more member appended."""
    with tarfile.open(source, "r:xz") as src, tarfile.open(out, "w:xz", preset=0) as dst:
        for member in src:
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
        info.size = len(data) if info.isreg() else 0
        dst.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out


def _error(excinfo: pytest.ExceptionInfo[InputError]) -> str:
    return excinfo.value.message


# ---------------------------------------------------------------- verification


def test_manifest_bundle_verifies(bundle_archive: Path) -> None:
    checked = verify_bundle(bundle_archive)
    assert checked.version == VERSION and checked.has_manifest
    assert checked.top == f"multi-arc-bmg-offline-installer-{VERSION}"
    assert checked.kernel_version == KERNEL_RELEASE
    assert checked.target_os == TargetOS("ubuntu", "25.04", "amd64")
    assert checked.notes == []
    assert checked.manifest is not None and checked.files == len(checked.manifest.files)
    by_component = {c.component: c for c in checked.components}
    assert len(by_component["gfxdrv/gpgpu"].packages) == 9
    assert ("xpu-smi", "1.3.1-20250724+fixture1") in by_component["tools/xpu-smi"].packages
    assert checked.total_size == sum(d.size for d in checked.digests.values())


def test_intel_archive_without_manifest_gets_a_note(intel_archive: Path) -> None:
    checked = verify_bundle(intel_archive)
    assert not checked.has_manifest and checked.manifest is None
    assert checked.notes == [MANIFEST_NOTE]
    assert checked.version == VERSION and checked.kernel_version == KERNEL_RELEASE
    assert checked.target_os is None


def test_tree_at_the_archive_root_is_refused(bundle_tree: Path, tmp_path: Path) -> None:
    """Without its top folder a bundle would be flattened on the node: refused up front."""
    out = tmp_path / "root.tar.xz"
    with tarfile.open(out, "w:xz", preset=0) as tar:
        for path in sorted(bundle_tree.iterdir()):
            tar.add(path, arcname=path.name)
    with pytest.raises(InputError, match=r"root.tar.xz has no single top folder") as excinfo:
        verify_bundle(out)
    assert "bundle create" in str(excinfo.value.hint)


def test_content_id_names_the_content_not_the_packing(
    bundle_tree: Path, intel_archive: Path, bundle_archive: Path, tmp_path: Path
) -> None:
    again = build_bundle_archive(bundle_tree, tmp_path / "again.tar.xz", manifest=False, preset=1)
    assert again.read_bytes() != intel_archive.read_bytes()
    assert verify_bundle(again).content_id == verify_bundle(intel_archive).content_id
    assert verify_bundle(bundle_archive).content_id != verify_bundle(intel_archive).content_id


def test_flipped_byte_is_named(bundle_tree_copy: Path, tmp_path: Path) -> None:
    manifest = build_manifest(bundle_tree_copy)
    target = next((bundle_tree_copy / "gfxdrv" / "gpgpu").glob("libze1_*.deb"))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    archive = _repack(bundle_tree_copy, tmp_path / "tampered.tar.xz", manifest)
    with pytest.raises(InputError) as excinfo:
        verify_bundle(archive)
    message = _error(excinfo)
    assert f"gfxdrv/gpgpu/{target.name}: sha256 differs" in message
    assert excinfo.value.exit_code == ExitCode.USAGE


def test_changed_size_is_named(bundle_tree_copy: Path, tmp_path: Path) -> None:
    manifest = build_manifest(bundle_tree_copy)
    with (bundle_tree_copy / "firmware" / "bmg_huc.bin.zst").open("ab") as blob:
        blob.write(b"x")
    archive = _repack(bundle_tree_copy, tmp_path / "t.tar.xz", manifest)
    with pytest.raises(InputError, match=r"firmware/bmg_huc.bin.zst: size differs"):
        verify_bundle(archive)


def test_missing_file_is_named(bundle_tree_copy: Path, tmp_path: Path) -> None:
    manifest = build_manifest(bundle_tree_copy)
    (bundle_tree_copy / "results" / "reference_perf.csv").unlink()
    archive = _repack(bundle_tree_copy, tmp_path / "t.tar.xz", manifest)
    with pytest.raises(InputError) as excinfo:
        verify_bundle(archive)
    assert "results/reference_perf.csv: listed in the manifest but missing" in _error(excinfo)


def test_unlisted_extra_file_fails(bundle_tree_copy: Path, tmp_path: Path) -> None:
    manifest = build_manifest(bundle_tree_copy)
    (bundle_tree_copy / "base" / "extra.deb").write_bytes(b"!<arch>\nslipped in")
    archive = _repack(bundle_tree_copy, tmp_path / "t.tar.xz", manifest)
    with pytest.raises(InputError) as excinfo:
        verify_bundle(archive)
    assert "base/extra.deb: in the archive but not listed in the manifest" in _error(excinfo)


def test_many_problems_are_counted(bundle_tree_copy: Path, tmp_path: Path) -> None:
    manifest = build_manifest(bundle_tree_copy)
    for deb in list((bundle_tree_copy / "gfxdrv" / "video").glob("*.deb")):
        deb.unlink()
    archive = _repack(bundle_tree_copy, tmp_path / "t.tar.xz", manifest)
    with pytest.raises(InputError, match=r"\(and 3 more\)"):
        verify_bundle(archive)


def test_truncated_archive_names_the_file(bundle_archive: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(bundle_archive.read_bytes()[: bundle_archive.stat().st_size // 2])
    with pytest.raises(InputError) as excinfo:
        verify_bundle(cut)
    assert "cut.tar.xz is not a readable .tar.xz archive" in _error(excinfo)


def test_not_an_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.xz"
    junk.write_bytes(b"this is not xz")
    with pytest.raises(InputError, match=r"junk.tar.xz is not a known archive format, not an xz"):
        verify_bundle(junk)
    gz = tmp_path / "gz.tar.xz"
    gz.write_bytes(b"\x1f\x8b\x08\x00rest")
    with pytest.raises(InputError, match=r"gz.tar.xz is gzip, not an xz-compressed tar archive"):
        verify_bundle(gz)
    with pytest.raises(InputError, match="bundle not found"):
        verify_bundle(tmp_path / "absent.tar.xz")


def test_damaged_manifest_json(bundle_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.tar.xz"
    bad = tarfile.TarInfo(f"{bundle_tree.name}/{MANIFEST_NAME}")
    with tarfile.open(out, "w:xz", preset=0) as tar:
        tar.add(bundle_tree, arcname=bundle_tree.name)
        bad.size = 7
        tar.addfile(bad, io.BytesIO(b"{nope}!"))
    with pytest.raises(InputError, match=r"manifest.json is not valid JSON"):
        verify_bundle(out)


def test_version_file_must_agree_with_the_manifest(bundle_tree_copy: Path, tmp_path: Path) -> None:
    manifest = build_manifest(bundle_tree_copy)
    manifest.bundle_version = "9.9.9"
    archive = _repack(bundle_tree_copy, tmp_path / "t.tar.xz", manifest)
    with pytest.raises(InputError, match=r"VERSION says '2025.2.0-fixture', the manifest '9.9.9'"):
        verify_bundle(archive)


def test_intel_layout_missing_required_part(bundle_tree_copy: Path, tmp_path: Path) -> None:
    shutil.rmtree(bundle_tree_copy / "kernel")
    archive = _repack(bundle_tree_copy, tmp_path / "t.tar.xz", None)
    with pytest.raises(InputError) as excinfo:
        verify_bundle(archive)
    assert "kernel/*.deb missing" in _error(excinfo)


def test_missing_optional_parts_are_notes(bundle_tree_copy: Path, tmp_path: Path) -> None:
    shutil.rmtree(bundle_tree_copy / "gfxdrv" / "video")
    archive = _repack(bundle_tree_copy, tmp_path / "t.tar.xz", None)
    notes = verify_bundle(archive).notes
    assert "no gfxdrv/video/*.deb in the bundle (the media packages)" in notes


def test_a_deb_that_is_not_a_package(bundle_tree_copy: Path, tmp_path: Path) -> None:
    """Listed correctly in the manifest, yet no Debian archive: the .deb check catches it."""
    manifest = build_manifest(bundle_tree_copy)
    fake = next((bundle_tree_copy / "base").glob("clinfo_*.deb"))
    fake.write_bytes(b"<html>404 not found</html>")
    rel = f"base/{fake.name}"
    manifest.files = [
        replace(e, size=fake.stat().st_size, sha256=sha256_file(fake))
        if e.path == rel
        else e
        for e in manifest.files
    ]
    archive = _repack(bundle_tree_copy, tmp_path / "t.tar.xz", manifest)
    with pytest.raises(InputError) as excinfo:
        verify_bundle(archive)
    assert f"failed verification: {rel}: not a Debian package" in _error(excinfo)


UNSAFE = [
    ("traversal", tarfile.REGTYPE, "{top}/../../etc/passwd", "", "`..`"),
    ("absolute", tarfile.REGTYPE, "/etc/cron.d/evil", "", "absolute path"),
    ("symlink out", tarfile.SYMTYPE, "{top}/tools/escape", "../../../etc/shadow", "symbolic link"),
    ("symlink abs", tarfile.SYMTYPE, "{top}/tools/abs", "/etc/shadow", "absolute or empty path"),
    ("symlink to the archive root", tarfile.SYMTYPE, "{top}/tools/up", "../..", "root folder"),
    ("hardlink out", tarfile.LNKTYPE, "{top}/tools/hard", "../etc/passwd", "not an earlier"),
    ("char device", tarfile.CHRTYPE, "{top}/dev/mem", "", "character device"),
    ("block device", tarfile.BLKTYPE, "{top}/dev/sda", "", "block device"),
    ("fifo", tarfile.FIFOTYPE, "{top}/scripts/pipe", "", "FIFO"),
]


@pytest.mark.parametrize(
    ("label", "kind", "name", "link", "says"), UNSAFE, ids=[u[0] for u in UNSAFE]
)
def test_unsafe_members_are_refused_by_name(
    label: str,
    kind: bytes,
    name: str,
    link: str,
    says: str,
    bundle_archive: Path,
    tmp_path: Path,
) -> None:
    top = f"multi-arc-bmg-offline-installer-{VERSION}"
    info = tarfile.TarInfo(name.format(top=top))
    info.type = kind
    info.linkname = link
    archive = _members_plus(
        bundle_archive, tmp_path / "evil.tar.xz", info, b"x" if kind == tarfile.REGTYPE else b""
    )
    with pytest.raises(InputError) as excinfo:
        verify_bundle(archive)
    message = _error(excinfo)
    assert message.startswith("unsafe member in evil.tar.xz:")
    assert repr(info.name) in message and says in message
    # defence in depth: the extractor refuses it too, writing nothing outside its folder
    checked = verify_bundle(bundle_archive)
    checked.source = archive
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InputError, match="unsafe member"):
        _extract_into(checked, dest)
    assert not (tmp_path / "etc").exists()


def test_inner_links_are_fine_in_intel_archives(bundle_archive: Path, tmp_path: Path) -> None:
    top = f"multi-arc-bmg-offline-installer-{VERSION}"
    with (
        tarfile.open(tmp_path / "plain.tar.xz", "w:xz", preset=0) as dst,
        tarfile.open(bundle_archive, "r:xz") as src,
    ):
        for member in src:
            if not member.name.endswith(MANIFEST_NAME):
                dst.addfile(member, src.extractfile(member) if member.isreg() else None)
        link = tarfile.TarInfo(f"{top}/tools/level-zero-tests/latest-peak")
        link.type, link.linkname = tarfile.SYMTYPE, "ze_peak"
        dst.addfile(link)
        hard = tarfile.TarInfo(f"{top}/tools/level-zero-tests/ze_peak.copy")
        hard.type, hard.linkname = tarfile.LNKTYPE, f"{top}/tools/level-zero-tests/ze_peak"
        dst.addfile(hard)
    checked = verify_bundle(tmp_path / "plain.tar.xz")
    assert checked.symlinks == {"tools/level-zero-tests/latest-peak": "ze_peak"}
    peak = checked.digests["tools/level-zero-tests/ze_peak"]
    assert checked.digests["tools/level-zero-tests/ze_peak.copy"] == peak
    root = extract_bundle(tmp_path / "plain.tar.xz", tmp_path / "out").root
    copy = root / "tools/level-zero-tests/ze_peak.copy"
    assert copy.stat().st_ino == (root / "tools/level-zero-tests/ze_peak").stat().st_ino
    assert (root / "tools/level-zero-tests/latest-peak").resolve() == (
        root / "tools/level-zero-tests/ze_peak"
    ).resolve()


def test_duplicate_member_is_refused(bundle_archive: Path, tmp_path: Path) -> None:
    top = f"multi-arc-bmg-offline-installer-{VERSION}"
    info = tarfile.TarInfo(f"{top}/VERSION")
    archive = _members_plus(bundle_archive, tmp_path / "dup.tar.xz", info, b"6.6.6\n")
    with pytest.raises(InputError, match=rf"{top}/VERSION' appears twice"):
        verify_bundle(archive)


# ---------------------------------------------------------------- extraction


def test_extracts_into_the_version_folder(bundle_archive: Path, tmp_path: Path) -> None:
    result = extract_bundle(bundle_archive, tmp_path / "bundles")
    assert result.root == tmp_path / "bundles" / VERSION and not result.reused
    assert result.version == VERSION and result.kernel_version == KERNEL_RELEASE
    assert result.manifest is not None
    assert (result.root / "VERSION").read_text().strip() == VERSION
    for entry in result.manifest.files:
        assert sha256_file(result.root / entry.path) == entry.sha256
    assert os.access(result.root / "tools/level-zero-tests/ze_peer", os.X_OK)
    assert sorted(p.name for p in (tmp_path / "bundles").iterdir()) == [VERSION]  # no leftovers
    deb = next((result.root / "kernel").glob("linux-image-*.deb"))
    subprocess.run(["dpkg-deb", "-I", str(deb)], check=True, capture_output=True)


def test_extraction_is_idempotent_and_repairs_a_damaged_tree(
    bundle_archive: Path, tmp_path: Path
) -> None:
    first = extract_bundle(bundle_archive, tmp_path)
    inode = first.root.stat().st_ino
    again = extract_bundle(bundle_archive, tmp_path)
    assert again.reused and again.root.stat().st_ino == inode
    (first.root / "firmware" / "bmg_guc_70.bin.zst").unlink()
    repaired = extract_bundle(bundle_archive, tmp_path)
    assert not repaired.reused and (repaired.root / "firmware" / "bmg_guc_70.bin.zst").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [VERSION]


def test_a_half_tree_without_marker_is_replaced(bundle_archive: Path, tmp_path: Path) -> None:
    half = tmp_path / VERSION
    (half / "kernel").mkdir(parents=True)
    (half / "VERSION").write_text(VERSION)
    stale = tmp_path / f".{VERSION}.partial-dead"
    stale.mkdir()
    result = extract_bundle(bundle_archive, tmp_path)
    assert not result.reused and (result.root / EXTRACTED_MARKER).is_file()
    assert list((result.root / "kernel").glob("*.deb"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [VERSION]


def test_interrupted_extraction_leaves_nothing_that_looks_complete(
    bundle_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle_extract, "_swap_into_place", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract_bundle(bundle_archive, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_archive_swapped_after_verification_is_caught(
    bundle_tree_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = build_bundle_archive(bundle_tree_copy, tmp_path / "b.tar.xz", manifest=False)
    checked = verify_bundle(archive)
    (bundle_tree_copy / "README.md").write_text("changed after verification\n")
    build_bundle_archive(bundle_tree_copy, archive, manifest=False)  # same path, new bytes
    with pytest.raises(InputError, match=r"README.md differs from what was verified"):
        extract_bundle(checked, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_private_copy_keeps_the_verified_bytes(
    bundle_tree_copy: Path, tmp_path: Path
) -> None:
    """verify(keep_copy=...) keeps exactly the bytes it checked; extraction reads those, so
    a bundle file swapped afterwards is never used."""
    archive = build_bundle_archive(bundle_tree_copy, tmp_path / "b.tar.xz", manifest=True)
    good = archive.read_bytes()
    copy = tmp_path / "private" / "bundle.tar.xz"
    copy.parent.mkdir(mode=0o700)
    checked = verify_bundle(archive, keep_copy=copy)
    assert copy.read_bytes() == good and (copy.stat().st_mode & 0o777) == 0o600
    assert checked.archive_sha256 == hashlib.sha256(good).hexdigest()
    (bundle_tree_copy / "scripts" / "evil.sh").write_text("#!/bin/sh\nrm -rf /\n")
    build_bundle_archive(bundle_tree_copy, archive, manifest=False)  # swapped
    result = extract_bundle(checked, tmp_path / "out")
    assert not (result.root / "scripts" / "evil.sh").exists()
    assert (result.root / "manifest.json").is_file()
    # a planted file (or link) under the copy's name is never written through
    planted = tmp_path / "private" / "again.tar.xz"
    planted.symlink_to(tmp_path / "victim")
    with pytest.raises(EnvironmentNotReady, match="cannot create the private copy"):
        verify_bundle(archive, keep_copy=planted)
    assert not (tmp_path / "victim").exists()


def test_disk_space_shortfall_is_not_ready_with_numbers(
    bundle_archive: Path, tmp_path: Path
) -> None:
    with pytest.raises(EnvironmentNotReady) as excinfo:
        extract_bundle(bundle_archive, tmp_path / "b", free_space=lambda _p: 10_000_000)
    message = excinfo.value.message
    needed = space_needed(verify_bundle(bundle_archive).total_size)
    assert f"needed {needed / 1e6:.1f} MB, free 10.0 MB on " in message
    assert excinfo.value.exit_code == ExitCode.NOT_READY
    assert not (tmp_path / "b" / VERSION).exists()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root to mount")
def test_disk_space_on_a_real_small_tmpfs(bundle_archive: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with pytest.raises(EnvironmentNotReady, match=rf"free 8.4 MB on {small}"):
            extract_bundle(bundle_archive, small / "bundles")
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_unsafe_version_names_no_folder(bundle_tree_copy: Path, tmp_path: Path) -> None:
    (bundle_tree_copy / "VERSION").write_text("../../etc\n")
    archive = _repack(bundle_tree_copy, tmp_path / "t.tar.xz", None)
    with pytest.raises(InputError, match=r"unusable version '../../etc'"):
        verify_bundle(archive)


# ---------------------------------------------------------------- creation


def test_create_then_verify_round_trip(bundle_tree: Path, tmp_path: Path) -> None:
    made = create_bundle(
        bundle_tree, tmp_path / "made.tar.xz", target_os=TargetOS.parse("ubuntu:25.04"), preset=0
    )
    assert made.version == VERSION and made.packages == 40
    assert made.sha256 == sha256_file(made.path)
    checked = verify_bundle(made.path)
    assert checked.has_manifest and checked.files == made.files
    assert checked.manifest is not None
    kernel = [e for e in checked.manifest.files if e.component == "kernel"]
    assert {e.version for e in kernel} == {"6.14.0-1006.6+fixture1"}
    assert not (tmp_path / "made.tar.xz.part").exists()


def test_create_adds_version_when_asked(bundle_tree_copy: Path, tmp_path: Path) -> None:
    (bundle_tree_copy / "VERSION").unlink()
    with pytest.raises(InputError, match="VERSION is missing"):
        create_bundle(bundle_tree_copy, tmp_path / "a.tar.xz", preset=0)
    made = create_bundle(bundle_tree_copy, tmp_path / "a.tar.xz", version="25.31-lab1", preset=0)
    checked = verify_bundle(made.path)
    assert checked.version == "25.31-lab1"
    assert checked.top == "multi-arc-bmg-offline-installer-25.31-lab1"
    assert "VERSION" in checked.digests


def test_create_refuses_bad_trees(bundle_tree_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="differs from"):
        create_bundle(bundle_tree_copy, tmp_path / "a.tar.xz", version="other")
    with pytest.raises(InputError, match="inside"):
        create_bundle(bundle_tree_copy, bundle_tree_copy / "a.tar.xz")
    (bundle_tree_copy / "base" / "link.deb").symlink_to("/etc/passwd")
    with pytest.raises(InputError, match="symbolic link"):
        create_bundle(bundle_tree_copy, tmp_path / "a.tar.xz")
    (bundle_tree_copy / "base" / "link.deb").unlink()
    shutil.rmtree(bundle_tree_copy / "firmware")
    with pytest.raises(InputError, match=r"missing firmware/\*.bin\*"):
        create_bundle(bundle_tree_copy, tmp_path / "a.tar.xz")
    assert not list(tmp_path.glob("a.tar.xz*"))


# ---------------------------------------------------------------- the installer's use


@pytest.mark.skipif(os.geteuid() != 0, reason="the installer's preflight needs root")
@pytest.mark.parametrize("check", [True, False], ids=["check", "install"])
def test_installer_verifies_extracts_and_hands_the_tree_to_the_playbook(
    check: bool, intel_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """install.py's calls, for real up to the playbook (replaced by a recorder here)."""
    from multiarc.installer import install as install_mod
    from multiarc.installer.driver import PlaybookOutcome
    from multiarc.installer.progress import PlainView, RunTally

    seen: dict[str, object] = {}

    def fake_playbook(run: object, *_args: object) -> PlaybookOutcome:
        extravars = run.extravars  # type: ignore[attr-defined]
        seen.update(extravars)
        seen["version_file"] = (Path(extravars["multiarc_bundle_src"]) / "VERSION").read_text()
        return PlaybookOutcome("successful", 0, RunTally())

    monkeypatch.setattr(install_mod, "run_playbook", fake_playbook)
    paths_ = install_mod.InstallPaths(tmp_path / "state", tmp_path / "log")
    report = install_mod.install(
        install_mod.InstallRequest(bundle=intel_archive, check=check, allow_os_override=True),
        paths_,
        PlainView(io.StringIO()),
        confirm=lambda _q: True,
        say=lambda _s: None,
    )
    assert MANIFEST_NOTE in report.notes and report.bundle_version == VERSION
    assert seen["version_file"] == f"{VERSION}\n" and seen["multiarc_bundle_version"] == VERSION
    extracted = paths_.bundles_dir / VERSION
    if check:
        assert not Path(str(seen["multiarc_bundle_src"])).exists()  # temporary, removed
        assert not extracted.exists()
    else:
        assert seen["multiarc_bundle_src"] == str(extracted.resolve())
        assert (extracted / EXTRACTED_MARKER).is_file()
