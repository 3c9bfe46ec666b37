"""Read a bundle archive once, streamed: every member through the tree guard, hashed, the
manifest taken as soon as it is read (from then on every member is checked against it from
its header), the compressed bytes optionally teed into a private copy. bundle_verify.py
judges what this read found."""

from __future__ import annotations

import errno
import hashlib
import io
import lzma
import os
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from multiarc.installer.bundle_manifest import MANIFEST_NAME, VERSION_FILE, Manifest
from multiarc.installer.bundle_stream import (
    CHUNK,
    XzStream,
    default_budget,
    open_regular,
    require_xz,
)
from multiarc.installer.tree_guard import TreeGuard, normalized_name

from multiarc.errors import EnvironmentNotReady, InputError, MultiarcError

ProgressFn = Callable[[str, int], None]
DEB_MAGIC = b"!<arch>\n"
MAX_SMALL_FILE = 16 << 20  # manifest.json / VERSION are read into memory up to this size
CORRUPT_HINT = "copy or download the bundle again and compare its sha256 with the source"
CHANGED_HINT = "the bundle was changed or damaged after it was made: get it again"
HEADER_SLACK = 64 << 20  # tar headers, PAX records and padding beyond the files' data
PER_MEMBER_SLACK = 4096
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
READ_ERRORS = (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, ValueError, OverflowError)


@dataclass(frozen=True)
class MemberDigest:
    size: int
    sha256: str


@dataclass
class Scan:
    archive: str
    guard: TreeGuard
    stream: XzStream
    digests: dict[str, MemberDigest] = field(default_factory=dict)  # archive-relative
    symlinks: dict[str, str] = field(default_factory=dict)
    small: dict[str, bytes] = field(default_factory=dict)  # manifest.json / VERSION
    not_debs: list[str] = field(default_factory=list)
    manifest: Manifest | None = None
    manifest_top: str = ""

    def early_check(self, name: str, size: int) -> None:
        """With the manifest read: an unlisted or resized file is refused from its header."""
        if self.manifest is None:
            return
        top, _, rel = name.partition("/")
        entry = self.manifest.by_path().get(rel) if top == self.manifest_top else None
        if entry is None:
            raise InputError(
                f"bundle {self.archive} failed verification: {name}: in the archive but not "
                "listed in the manifest",
                CHANGED_HINT,
            )
        if entry.size != size:
            raise InputError(
                f"bundle {self.archive} failed verification: {rel}: size differs (manifest "
                f"{entry.size} bytes, archive {size} bytes)",
                CHANGED_HINT,
            )

    def take_manifest(self, name: str, data: bytes) -> None:
        self.manifest = Manifest.from_json(data, f"{self.archive}: {MANIFEST_NAME}")
        self.manifest_top = name.partition("/")[0]
        declared = sum(entry.size for entry in self.manifest.files) + len(data)
        self.guard.budget = min(self.guard.budget, declared)
        entries = len(self.manifest.files) + 1
        self.stream.budget = min(
            self.stream.budget, declared + HEADER_SLACK + PER_MEMBER_SLACK * entries
        )


def _is_small_candidate(name: str) -> bool:
    return name.rsplit("/", 1)[-1] in (MANIFEST_NAME, VERSION_FILE) and name.count("/") == 1


def _hash_member(handle: IO[bytes], keep: bool) -> tuple[MemberDigest, bytes, bytes]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    kept = bytearray()
    while block := handle.read(CHUNK):
        if not head:
            head = block[:8]
        digest.update(block)
        size += len(block)
        if keep and size <= MAX_SMALL_FILE:
            kept += block
    return MemberDigest(size, digest.hexdigest()), head, bytes(kept)


def _scan_members(tar: tarfile.TarFile, scan: Scan, progress: ProgressFn | None) -> None:
    for member in tar:
        name = scan.guard.admit(member)
        if not name or member.isdir():
            continue
        if member.issym():
            scan.symlinks[name] = member.linkname
            continue
        if member.islnk():
            scan.digests[name] = scan.digests[normalized_name(member.linkname)]
            continue
        scan.early_check(name, member.size)
        handle = tar.extractfile(member)
        assert handle is not None
        keep = _is_small_candidate(name)
        digest, head, data = _hash_member(handle, keep)
        scan.digests[name] = digest
        if keep:
            scan.small[name] = data
            if name.endswith("/" + MANIFEST_NAME) and scan.manifest is None:
                scan.take_manifest(name, data)
        if name.endswith(".deb") and head != DEB_MAGIC:
            scan.not_debs.append(name)
        if progress:
            progress(name, digest.size)
    scan.guard.finish()


def open_private_copy(path: Path) -> IO[bytes]:
    """A new file for the private copy: never an existing file or a planted link."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as err:
        raise EnvironmentNotReady(
            f"cannot create the private copy of the bundle at {path}: {err.strerror}",
            "check the state folder (it must be root's own) and run again",
        ) from None
    return os.fdopen(fd, "wb")


def scan_archive(path: Path, progress: ProgressFn | None, keep_copy: Path | None) -> Scan:
    raw = open_regular(path)
    copy: IO[bytes] | None = None
    try:
        require_xz(path, os.pread(raw.fileno(), 512, 0))
        budget = default_budget(os.fstat(raw.fileno()).st_size)
        copy = open_private_copy(keep_copy) if keep_copy is not None else None
    except BaseException:
        raw.close()
        raise
    try:
        stream = XzStream(raw, budget, path.name, tee=copy)
        scan = Scan(path.name, TreeGuard(path.name, budget), stream)
        reader = io.BufferedReader(stream, CHUNK)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            _scan_members(tar, scan, progress)
        stream.drain()
        if copy is not None:
            copy.flush()
            os.fsync(copy.fileno())
        return scan
    except BaseException as err:
        if copy is not None and keep_copy is not None:  # only the copy this call created
            copy.close()
            keep_copy.unlink(missing_ok=True)
        if isinstance(err, (InputError, EnvironmentNotReady)) or not isinstance(err, Exception):
            raise
        raise _read_error(path, err, keep_copy) from None
    finally:
        raw.close()
        if copy is not None:
            copy.close()


def _read_error(path: Path, err: Exception, keep_copy: Path | None) -> MultiarcError:
    if isinstance(err, RecursionError):
        return InputError(f"{path.name}: nesting too deep to read", CORRUPT_HINT)
    if isinstance(err, READ_ERRORS):
        return InputError(
            f"{path.name} is not a readable .tar.xz archive (corrupt or truncated: "
            f"{str(err)[:200]})",
            CORRUPT_HINT,
        )
    if isinstance(err, OSError) and keep_copy is not None and err.errno in NO_SPACE:
        return EnvironmentNotReady(
            f"disk full while keeping a private copy of {path.name} at {keep_copy}",
            f"free {path.stat().st_size >> 20} MiB there and run again",
        )
    if isinstance(err, OSError):
        return InputError(f"cannot read {path}: {err.strerror or err}", CORRUPT_HINT)
    return InputError(f"{path.name} could not be read ({type(err).__name__})", CORRUPT_HINT)
