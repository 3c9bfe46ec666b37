"""Extract a verified bundle into ``DEST_ROOT/<version>/``: safely, atomically, or not at all.

The bytes read are the verified ones (the private copy verification kept, else the
user's file, whose sha256 must then equal the verified one at the end). Extraction is our
own loop, not ``tarfile.extractall``: every member passes the tree guard again, the data
filter where Python has one, must be a file, link or folder that verification saw, and
each file's sha256 is checked as it is written. Files are created with
``O_EXCL|O_NOFOLLOW`` and normalised modes (0644, or 0755 when executable; folders 0755),
owned by the extracting user. Free space is checked first with the real unpacked size;
a full disk (ENOSPC) during extraction removes the partial tree and says what to free.
The tree is built in a hidden ``.<version>.partial-*`` sibling and renamed into place
only when complete; the previous copy is kept until then.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from multiarc.installer.bundle_manifest import EXTRACTED_MARKER, Manifest
from multiarc.installer.bundle_stream import CHUNK, XzStream, open_regular
from multiarc.installer.bundle_verify import (
    HEADER_SLACK,
    PER_MEMBER_SLACK,
    READ_ERRORS,
    VerifiedBundle,
    verify_bundle,
)
from multiarc.installer.preflight import existing_parent, free_bytes
from multiarc.installer.tree_guard import UNSAFE_HINT, TreeGuard, normalized_name

from multiarc.errors import EnvironmentNotReady, InputError

CHANGED = "the archive changed after it was verified"
CHANGED_HINT = "keep the bundle where no one else can write to it, and run again"
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@dataclass
class ExtractedBundle:
    root: Path
    version: str
    kernel_version: str | None
    manifest: Manifest | None
    reused: bool = False


def human_size(n: int) -> str:
    if n < 1_000_000:
        return f"{n / 1e3:.1f} kB"
    if n < 100_000_000:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e9:.2f} GB"


def mount_point(path: Path) -> Path:
    probe = existing_parent(path.resolve())
    while not os.path.ismount(probe) and probe != probe.parent:
        probe = probe.parent
    return probe


def space_needed(total_size: int) -> int:
    """Uncompressed size plus a margin (5 %, at least 64 MiB) for file-system overhead."""
    return total_size + max(total_size // 20, 64 << 20)


def tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def other_copies(dest_root: Path, keep: str) -> list[tuple[str, int]]:
    """Other bundle versions extracted under dest_root, with their sizes (what to free)."""
    if not dest_root.is_dir():
        return []
    return [
        (entry.name, tree_size(entry))
        for entry in sorted(dest_root.iterdir())
        if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".")
        and entry.name != keep
    ]


def what_to_free(dest_root: Path, version: str, short_by: int) -> str:
    copies = other_copies(dest_root, version)
    where = f"free at least {human_size(short_by)} on {mount_point(dest_root)}"
    if copies:
        listed = ", ".join(f"{dest_root / n} ({human_size(s)})" for n, s in copies)
        return f"{where}: older bundle copies there are {listed}; remove those not installed"
    return where + " (the installer's own leftovers there were already removed)"


def _matches(tree: Path, checked: VerifiedBundle) -> bool:
    """Whether ``tree`` is a finished extraction of this very content (cheap check)."""
    try:
        marker = json.loads((tree / EXTRACTED_MARKER).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("content_id") != checked.content_id:
        return False
    for rel, digest in checked.digests.items():
        target = tree / rel
        if target.is_symlink() or not target.is_file() or target.stat().st_size != digest.size:
            return False
    return True


def remove_leftovers(dest_root: Path) -> None:
    """Partial and replaced trees of earlier runs (only ever run under the install lock)."""
    for pattern in (".*.partial-*", ".*.old-*"):
        for stale in dest_root.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


class _Writer:
    """Writes the members of one archive into ``tmp``, checking each against verification."""

    def __init__(self, tmp: Path, checked: VerifiedBundle) -> None:
        self.tmp = tmp
        self.checked = checked
        self.written: set[str] = set()
        self.has_filter = hasattr(tarfile, "data_filter")

    def _relative(self, name: str) -> str | None:
        if name == self.checked.top:
            return None
        prefix = self.checked.top + "/"
        if not name.startswith(prefix):
            raise InputError(f"{self.checked.path.name}: {name} is new ({CHANGED})", CHANGED_HINT)
        return name[len(prefix) :]

    def write(self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
        rel = self._relative(name)
        if rel is None:
            return
        link_rel = self._relative(normalized_name(member.linkname)) if member.islnk() else None
        if self.has_filter:  # defence in depth: Python's own rules, on the stripped names
            stripped = member.replace(name=rel, deep=False)
            if link_rel is not None:
                stripped = stripped.replace(linkname=link_rel, deep=False)
            tarfile.data_filter(stripped, str(self.tmp))
        target = self.tmp / rel
        if member.isdir():
            target.mkdir(mode=0o755, parents=True, exist_ok=True)
            return
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if member.issym():
            if self.checked.symlinks.get(rel) != member.linkname:
                raise InputError(f"{self.checked.path.name}: link {rel}: {CHANGED}", CHANGED_HINT)
            os.symlink(member.linkname, target)
            return
        if link_rel is not None:  # a hard link to an earlier, already checked file
            os.link(self.tmp / link_rel, target, follow_symlinks=False)
            self.written.add(rel)
            return
        expected = self.checked.digests.get(rel)
        if expected is None:
            raise InputError(f"{self.checked.path.name}: {rel} is new ({CHANGED})", CHANGED_HINT)
        mode = 0o755 if member.mode & 0o111 else 0o644
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            source = tar.extractfile(member)
            assert source is not None
            while block := source.read(CHUNK):
                digest.update(block)
                size += len(block)
                out.write(block)
        os.chmod(target, mode)  # the umask may have taken bits away
        if size != expected.size or digest.hexdigest() != expected.sha256:
            raise InputError(
                f"{self.checked.path.name}: {rel} differs from what was verified ({CHANGED})",
                CHANGED_HINT,
            )
        self.written.add(rel)


def _extract_into(checked: VerifiedBundle, tmp: Path) -> None:
    source = checked.readable_source
    raw = open_regular(source)
    entries = len(checked.digests) + len(checked.symlinks) + 1
    stream = XzStream(
        raw, checked.total_size + HEADER_SLACK + PER_MEMBER_SLACK * entries, source.name
    )
    guard = TreeGuard(source.name, checked.total_size)
    writer = _Writer(tmp, checked)
    try:
        with tarfile.open(fileobj=io.BufferedReader(stream, CHUNK), mode="r|") as tar:
            for member in tar:
                writer.write(tar, member, guard.admit(member))
        guard.finish()
        stream.drain()
    except tarfile.FilterError as err:
        raise InputError(f"unsafe member in {source.name}: {err}", UNSAFE_HINT) from None
    except READ_ERRORS as err:
        raise InputError(
            f"{source.name} could not be extracted (corrupt or truncated: {err})", CHANGED_HINT
        ) from None
    finally:
        raw.close()
    missing = sorted(set(checked.digests) - writer.written)
    if missing or stream.hexdigest() != checked.archive_sha256:
        what = f"{missing[0]} is missing" if missing else "its sha256 differs"
        raise InputError(f"{source.name}: {what} ({CHANGED})", CHANGED_HINT)


def _swap_into_place(tmp: Path, dest: Path, version: str) -> None:
    if dest.exists() or dest.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{version}.old-", dir=dest.parent))
        os.rename(dest, old / "tree")
        os.rename(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, dest)


def extract_bundle(
    bundle: VerifiedBundle | Path,
    dest_root: Path,
    *,
    free_space: Callable[[Path], int] = free_bytes,
) -> ExtractedBundle:
    """Extract into ``dest_root/<version>`` safely and atomically (see the module doc)."""
    checked = bundle if isinstance(bundle, VerifiedBundle) else verify_bundle(Path(bundle))
    dest_root = Path(dest_root)
    dest = dest_root / checked.version
    result = ExtractedBundle(dest, checked.version, checked.kernel_version, checked.manifest)
    if dest.is_dir() and not dest.is_symlink() and _matches(dest, checked):
        result.reused = True
        return result
    try:
        dest_root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise EnvironmentNotReady(
            f"cannot create {dest_root}: {err.strerror}", "run as root (sudo)"
        ) from None
    remove_leftovers(dest_root)
    needed = space_needed(checked.total_size)
    free = free_space(dest_root)
    if free < needed:
        raise EnvironmentNotReady(
            f"not enough disk space to extract bundle {checked.version}: needed "
            f"{human_size(needed)}, free {human_size(free)} on {mount_point(dest_root)}",
            what_to_free(dest_root, checked.version, needed - free),
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{checked.version}.partial-", dir=dest_root))
    try:
        tmp.chmod(0o755)
        _extract_into(checked, tmp)
        marker = {
            "content_id": checked.content_id,
            "version": checked.version,
            "archive": str(checked.path.resolve()),
            "archive_sha256": checked.archive_sha256,
            "has_manifest": checked.has_manifest,
            "extracted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        (tmp / EXTRACTED_MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        _swap_into_place(tmp, dest, checked.version)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if err.errno in NO_SPACE:
            raise EnvironmentNotReady(
                f"disk full while extracting bundle {checked.version} into {dest_root} "
                f"(needs {human_size(needed)}); the partial tree was removed",
                what_to_free(dest_root, checked.version, needed),
            ) from None
        raise EnvironmentNotReady(
            f"cannot extract bundle {checked.version} into {dest_root}: {err.strerror or err}",
            "check that the folder is writable (run as root) and run again",
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result
