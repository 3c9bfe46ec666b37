"""The verdict on a bundle kept by the archive's sha256 (installer/bundle_memo.py): the same
bytes are not checked twice, anything else is, and a verdict nobody but the user could
have written is the only one believed."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
from multiarc.installer import bundle_memo
from multiarc.installer.bundle import verify_bundle
from multiarc.installer.bundle_memo import recall, remember, verify_or_recall

from multiarc.errors import InputError


@pytest.fixture
def verdicts(tmp_path: Path) -> Path:
    folder = tmp_path / "verified-bundles"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture
def archive(bundle_archive: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle.tar.xz"
    shutil.copyfile(bundle_archive, copy)
    return copy


def _comparable(checked: object) -> dict[str, object]:
    data = dataclasses.asdict(checked)  # type: ignore[call-overload]
    data.pop("source")
    return data


def test_same_bytes_recall_the_whole_verdict_and_copy_them(
    archive: Path, verdicts: Path, tmp_path: Path
) -> None:
    first, kept = verify_or_recall(archive, verdicts, None)
    assert not kept
    remember(first, verdicts)
    copy = tmp_path / "private.tar.xz"
    again, kept = verify_or_recall(archive, verdicts, copy)
    assert kept and again.source == copy
    assert _comparable(again) == _comparable(first)  # digests, manifest, components, notes
    assert copy.read_bytes() == archive.read_bytes()  # the bytes hashed are the ones kept
    assert copy.stat().st_mode & 0o777 == 0o600


def test_other_bytes_of_the_same_size_are_verified_in_full(
    archive: Path, verdicts: Path, tmp_path: Path
) -> None:
    remember(verify_bundle(archive), verdicts)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one bit flipped inside the xz stream
    archive.write_bytes(bytes(data))
    copy = tmp_path / "private.tar.xz"
    with pytest.raises(InputError):
        verify_or_recall(archive, verdicts, copy)
    assert not copy.exists()  # the copy of bytes that failed is not left behind


def test_no_verdict_of_that_size_reads_nothing_twice(
    archive: Path, verdicts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_hash(*_args: object) -> None:
        raise AssertionError("hashed although no verdict has this size")

    monkeypatch.setattr(bundle_memo, "_hash_and_copy", must_not_hash)
    assert recall(archive, verdicts, None) is None


def test_another_verifier_verifies_again(
    archive: Path, verdicts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remember(verify_bundle(archive), verdicts)
    monkeypatch.setattr(bundle_memo, "verifier_id", lambda: "another multiarc")
    assert recall(archive, verdicts, None) is None


@pytest.mark.parametrize("who", ["folder writable by others", "verdict writable by others",
                                 "folder of another user", "verdict of another user",
                                 "verdict is a link"])  # fmt: skip
def test_a_verdict_someone_else_could_have_written_is_ignored(
    archive: Path, verdicts: Path, tmp_path: Path, who: str
) -> None:
    remember(verify_bundle(archive), verdicts)
    (entry,) = verdicts.glob("*.json")
    if who == "folder writable by others":
        verdicts.chmod(0o777)
    elif who == "verdict writable by others":
        entry.chmod(0o666)
    elif who == "folder of another user":
        os.chown(verdicts, os.geteuid() + 1, -1)
    elif who == "verdict of another user":
        os.chown(entry, os.geteuid() + 1, -1)
    else:
        elsewhere = tmp_path / "elsewhere.json"
        entry.rename(elsewhere)
        entry.symlink_to(elsewhere)
    assert recall(archive, verdicts, None) is None


def test_a_forged_verdict_for_bad_bytes_is_not_believed(
    archive: Path, verdicts: Path, tmp_path: Path
) -> None:
    """A verdict names its archive's sha256 inside too: renaming a good verdict to the size
    and digest of a bad archive (as someone with write access to a copy might) fails."""
    remember(verify_bundle(archive), verdicts)
    (entry,) = verdicts.glob("*.json")
    bad = tmp_path / "bad.tar.xz"
    bad.write_bytes(b"\xfd7zXZ\x00" + b"\x00" * (archive.stat().st_size - 6))
    digest = bundle_memo._hash_and_copy(bad, None)[0]
    entry.rename(verdicts / f"{bad.stat().st_size}-{digest}.json")
    assert recall(bad, verdicts, None) is None


def test_a_damaged_verdict_is_a_full_verification(archive: Path, verdicts: Path) -> None:
    checked = verify_bundle(archive)
    remember(checked, verdicts)
    (entry,) = verdicts.glob("*.json")
    data = json.loads(entry.read_text())
    del data["digests"]
    entry.write_text(json.dumps(data))
    assert recall(archive, verdicts, None) is None
    entry.write_text("{not json")
    assert verify_or_recall(archive, verdicts, None)[1] is False


def test_only_the_most_recent_verdicts_are_kept(
    bundle_tree_copy: Path, verdicts: Path, tmp_path: Path
) -> None:
    from multiarc.installer.bundle import create_bundle

    for number in range(bundle_memo.KEEP + 2):
        made = tmp_path / f"b{number}.tar.xz"
        (bundle_tree_copy / "VERSION").write_text(f"2025.{number}\n")
        create_bundle(bundle_tree_copy, made)
        remember(verify_bundle(made), verdicts)
    assert len(list(verdicts.glob("*.json"))) == bundle_memo.KEEP


def test_a_read_error_while_hashing_falls_back_to_the_full_verification(
    archive: Path, verdicts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remember(verify_bundle(archive), verdicts)

    def fails(*_args: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(bundle_memo, "_hash_and_copy", fails)
    assert recall(archive, verdicts, None) is None
    assert verify_or_recall(archive, verdicts, None)[1] is False  # verified in full
