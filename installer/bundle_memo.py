"""The verdict on a bundle archive, kept by its sha256: the same bytes are checked once.

Verifying a bundle reads every member through xz and hashes it (1.5 s for the 128 MB
Debian test bundle, minutes for a large one). The verdict is a function of the archive's
bytes and of the verifier's code, nothing else, so a re-run of the same archive needs only
the sha256 of its compressed bytes (no decompression), taken while those bytes are copied
to the run's private copy as before. Equal digest and equal verifier: the kept verdict
stands; anything else: the full verification runs.

Where the verdicts are kept (``<state>/verified-bundles``) must be the controller user's
own: a verdict written by anyone else would let a bad bundle through, so a folder or file
that is not the user's own, or that others can write, is ignored (and the bundle is
verified in full). Each verdict names the sha256 of the verifier's source files: a
multiarc with other checks re-verifies. ``--reverify`` ignores every kept verdict.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import stat
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from multiarc.installer.bundle_manifest import Manifest, TargetOS
from multiarc.installer.bundle_scan import CHUNK, MemberDigest, open_private_copy
from multiarc.installer.bundle_stream import open_regular
from multiarc.installer.bundle_verify import ComponentSummary, VerifiedBundle, verify_bundle

from multiarc.errors import MultiarcError

KEEP = 4  # verdicts kept (the most recent); each is a few KB
# the modules whose code decides a verdict: another version of any of them re-verifies
VERIFIER_MODULES = (
    "bundle_verify.py",
    "bundle_scan.py",
    "bundle_stream.py",
    "bundle_manifest.py",
    "tree_guard.py",
    "bundle_memo.py",
)


@functools.cache
def verifier_id() -> str:
    """The verifier's identity: its modules' code and the Python (tarfile, lzma) running it."""
    digest = hashlib.sha256(sys.version.encode())
    for name in VERIFIER_MODULES:
        digest.update(name.encode() + b"\0" + (Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def _only_ours(info: os.stat_result) -> bool:
    """The user's own, and nobody else can write it."""
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _owned_folder(folder: Path) -> bool:
    """The folder exists, is a real folder (not a link), and is only ours."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and _only_ours(info)


def _entry_name(size: int, sha256: str) -> str:
    return f"{size}-{sha256}.json"


def _read_owned(path: Path) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not (stat.S_ISREG(info.st_mode) and _only_ours(info)):
            return None
        try:
            data = json.loads(handle.read())
        except (ValueError, UnicodeDecodeError):
            return None
    return data if isinstance(data, dict) else None


def _hash_and_copy(path: Path, keep_copy: Path | None) -> tuple[str, int]:
    """sha256 and size of the file's bytes, written to ``keep_copy`` as they are read."""
    raw = open_regular(path)
    copy: IO[bytes] | None = None
    try:
        copy = open_private_copy(keep_copy) if keep_copy is not None else None
        digest = hashlib.sha256()
        size = 0
        while block := raw.read(CHUNK):
            digest.update(block)
            size += len(block)
            if copy is not None:
                copy.write(block)
        if copy is not None:
            copy.flush()
            os.fsync(copy.fileno())
        return digest.hexdigest(), size
    except BaseException:
        if copy is not None and keep_copy is not None:
            copy.close()
            keep_copy.unlink(missing_ok=True)
        raise
    finally:
        raw.close()
        if copy is not None:
            copy.close()


def recall(path: Path, folder: Path, keep_copy: Path | None) -> VerifiedBundle | None:
    """The kept verdict on this archive's bytes, or None (then verify in full).

    Only when a verdict for an archive of this size exists is the file read: once, hashed
    and copied to ``keep_copy``. On a miss that copy is removed again."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return None
    if not _owned_folder(folder) or not any(folder.glob(f"{size}-*.json")):
        return None
    try:
        sha256, read = _hash_and_copy(path, keep_copy)
    except OSError:  # unreadable, or no room for the copy: the full verification says why
        return None
    data = _read_owned(folder / _entry_name(read, sha256))
    checked = None
    if data and data.get("verifier") == verifier_id() and data.get("archive_sha256") == sha256:
        with contextlib.suppress(KeyError, TypeError, ValueError, MultiarcError):
            checked = _from_dict(data, path, keep_copy)
    if checked is None:  # no verdict on these bytes: the full verification makes its copy
        if keep_copy is not None:
            keep_copy.unlink(missing_ok=True)
        return None
    with contextlib.suppress(OSError):
        os.utime(folder / _entry_name(read, sha256))  # the most recently used is kept longest
    return checked


def remember(checked: VerifiedBundle, folder: Path) -> None:
    """Keep the verdict (best effort: a failure to keep it costs the next run a full check)."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _owned_folder(folder):
            return
        data = json.dumps(_to_dict(checked)).encode()
        fd, tmp = tempfile.mkstemp(prefix=".verdict-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, folder / _entry_name(checked.archive_size, checked.archive_sha256))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(folder)
    except OSError:
        return


def _prune(folder: Path) -> None:
    kept = sorted(folder.glob("*-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[KEEP:]:
        old.unlink(missing_ok=True)


def verify_or_recall(
    path: Path, folder: Path | None, keep_copy: Path | None
) -> tuple[VerifiedBundle, bool]:
    """The verdict on ``path`` and whether it was a kept one (``folder`` None: verify in
    full, as ``--reverify`` asks)."""
    if folder is not None:
        kept = recall(path, folder, keep_copy)
        if kept is not None:
            return kept, True
    return verify_bundle(path, keep_copy=keep_copy), False


# -- the verdict as JSON ------------------------------------------------------------------


def _to_dict(checked: VerifiedBundle) -> dict[str, Any]:
    return {
        "verifier": verifier_id(),
        "verified_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "archive_sha256": checked.archive_sha256,
        "archive_size": checked.archive_size,
        "version": checked.version,
        "has_manifest": checked.has_manifest,
        "top": checked.top,
        "files": checked.files,
        "total_size": checked.total_size,
        "kernel_version": checked.kernel_version,
        "target_os": asdict(checked.target_os) if checked.target_os else None,
        "content_id": checked.content_id,
        "notes": list(checked.notes),
        "manifest": checked.manifest.to_json() if checked.manifest else None,
        "components": [asdict(c) for c in checked.components],
        "digests": {rel: [d.size, d.sha256] for rel, d in checked.digests.items()},
        "symlinks": dict(checked.symlinks),
    }


def _from_dict(data: dict[str, Any], path: Path, source: Path | None) -> VerifiedBundle:
    target = data["target_os"]
    manifest = data["manifest"]
    return VerifiedBundle(
        path=path,
        version=str(data["version"]),
        has_manifest=bool(data["has_manifest"]),
        top=str(data["top"]),
        files=int(data["files"]),
        total_size=int(data["total_size"]),
        kernel_version=data["kernel_version"],
        target_os=TargetOS(**target) if target else None,
        content_id=str(data["content_id"]),
        notes=[str(n) for n in data["notes"]],
        manifest=Manifest.from_json(manifest) if manifest else None,
        components=[
            ComponentSummary(
                c["component"], c["files"], c["size"], tuple(tuple(p) for p in c["packages"])
            )
            for c in data["components"]
        ],
        digests={rel: MemberDigest(int(s), str(h)) for rel, (s, h) in data["digests"].items()},
        symlinks={str(k): str(v) for k, v in data["symlinks"].items()},
        archive_sha256=str(data["archive_sha256"]),
        archive_size=int(data["archive_size"]),
        source=source,
    )
