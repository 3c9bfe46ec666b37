"""Verify an offline bundle before anything changes: one bounded, streamed read.

Two formats are accepted (bundle_manifest.py describes both): Intel's offline installer
archive as it is, and ours, the same tree plus ``manifest.json``. Either way the archive

- must be xz-compressed tar (decided by its first bytes, bundle_stream.py);
- has exactly one top folder holding everything (``multi-arc-bmg-offline-installer-<v>/``);
- passes the tree guard (tree_guard.py): every member judged against the tree built so
  far, types, modes, links through links, sizes against a budget, before data is read.

With a manifest (our bundles write it second, after VERSION), every later member is
compared with it from its tar header — unlisted or of another size: refused at once —
and the budget becomes the manifest's own total, so a bomb with a lying manifest stops
at its first oversized member. Every listed file must be there with its sha256, nothing
unlisted may be. Without one (Intel's archive) the layout is checked and a note says
checksums were unavailable. The archive's own sha256 is taken over exactly the bytes read;
``keep_copy`` writes those bytes to a private file, which is what an install then uses.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import lzma
import os
import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from multiarc.installer.bundle_manifest import (
    INTEL_TOP_PREFIX,
    MANIFEST_NAME,
    VERSION_FILE,
    Manifest,
    TargetOS,
    component_of,
    kernel_release_of,
    layout_problems,
)
from multiarc.installer.bundle_stream import (
    CHUNK,
    XzStream,
    default_budget,
    open_regular,
    require_xz,
)
from multiarc.installer.tree_guard import UNSAFE_HINT, BudgetExceeded, TreeGuard, normalized_name

from multiarc.errors import EnvironmentNotReady, InputError, MultiarcError

ProgressFn = Callable[[str, int], None]
DEB_MAGIC = b"!<arch>\n"
MAX_SMALL_FILE = 16 << 20  # manifest.json / VERSION are read into memory up to this size
MANIFEST_NOTE = "Intel archive without manifest: structure verified, checksums unavailable"
CORRUPT_HINT = "copy or download the bundle again and compare its sha256 with the source"
CHANGED_HINT = "the bundle was changed or damaged after it was made: get it again"
NO_TOP_HINT = (
    "a bundle holds everything under one top folder (multi-arc-bmg-offline-installer-<version>/):"
    " repack it with `multiarc-install bundle create`"
)
HEADER_SLACK = 64 << 20  # tar headers, PAX records and padding beyond the files' data
PER_MEMBER_SLACK = 4096
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
READ_ERRORS = (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, ValueError, OverflowError)


@dataclass(frozen=True)
class MemberDigest:
    size: int
    sha256: str


@dataclass(frozen=True)
class ComponentSummary:
    """What one component folder of a bundle holds (for tables and notes)."""

    component: str
    files: int
    size: int
    packages: tuple[tuple[str, str], ...] = ()  # (name, version) from the manifest


@dataclass
class VerifiedBundle:
    path: Path
    version: str
    has_manifest: bool
    top: str  # the top folder inside the archive
    files: int  # files of the bundle (manifest.json not counted)
    total_size: int  # uncompressed bytes of every file: what extraction needs
    kernel_version: str | None
    target_os: TargetOS | None
    content_id: str  # sha256 over every (path, size, sha256): equal content, equal id
    notes: list[str] = field(default_factory=list)
    manifest: Manifest | None = None
    components: list[ComponentSummary] = field(default_factory=list)
    digests: dict[str, MemberDigest] = field(default_factory=dict)  # tree-relative paths
    symlinks: dict[str, str] = field(default_factory=dict)
    archive_sha256: str = ""  # of the compressed bytes that were verified
    archive_size: int = 0
    source: Path | None = None  # where those bytes are now: the private copy, or ``path``

    @property
    def readable_source(self) -> Path:
        return self.source or self.path


@dataclass
class _Scan:
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


def _scan_members(tar: tarfile.TarFile, scan: _Scan, progress: ProgressFn | None) -> None:
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


def _open_copy(path: Path) -> IO[bytes]:
    """A new file for the private copy: never an existing file or a planted link."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as err:
        raise EnvironmentNotReady(
            f"cannot create the private copy of the bundle at {path}: {err.strerror}",
            "check the state folder (it must be root's own) and run again",
        ) from None
    return os.fdopen(fd, "wb")


def _scan_archive(path: Path, progress: ProgressFn | None, keep_copy: Path | None) -> _Scan:
    raw = open_regular(path)
    copy: IO[bytes] | None = None
    try:
        require_xz(path, os.pread(raw.fileno(), 512, 0))
        budget = default_budget(os.fstat(raw.fileno()).st_size)
        copy = _open_copy(keep_copy) if keep_copy is not None else None
    except BaseException:
        raw.close()
        raise
    try:
        stream = XzStream(raw, budget, path.name, tee=copy)
        scan = _Scan(path.name, TreeGuard(path.name, budget), stream)
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


def _top_folder(scan: _Scan) -> str:
    names = list(scan.guard.kinds)
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) != 1 or scan.guard.kinds.get(next(iter(tops))) != "dir":
        found = ", ".join(sorted(tops)[:3]) or "nothing"
        raise InputError(
            f"bundle {scan.archive} has no single top folder (at its root: {found})", NO_TOP_HINT
        )
    return tops.pop()


def _relative(names: Iterable[str], top: str) -> dict[str, str]:
    prefix = f"{top}/"
    return {name: name[len(prefix) :] for name in names if name.startswith(prefix)}


def content_id(digests: dict[str, MemberDigest], symlinks: dict[str, str]) -> str:
    listing = sorted([p, d.size, d.sha256] for p, d in digests.items())
    links = sorted([p, t] for p, t in symlinks.items())
    return hashlib.sha256(json.dumps([listing, links]).encode()).hexdigest()


def _short(digest: str) -> str:
    return digest[:12] + "…"


def raise_problems(path: Path, problems: list[str], hint: str) -> None:
    if not problems:
        return
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    raise InputError(
        f"bundle {path.name} failed verification: {'; '.join(problems[:3])}{more}", hint
    )


def _compare_with_manifest(
    manifest: Manifest, digests: dict[str, MemberDigest], symlinks: dict[str, str]
) -> list[str]:
    problems = []
    for rel, entry in manifest.by_path().items():
        found = digests.get(rel)
        if found is None:
            problems.append(f"{rel}: listed in the manifest but missing from the archive")
        elif found.size != entry.size:
            problems.append(
                f"{rel}: size differs (manifest {entry.size} bytes, archive {found.size} bytes)"
            )
        elif found.sha256 != entry.sha256:
            problems.append(
                f"{rel}: sha256 differs (manifest {_short(entry.sha256)}, archive "
                f"{_short(found.sha256)})"
            )
    for rel in sorted(set(digests) - set(manifest.by_path()) - {MANIFEST_NAME}):
        problems.append(f"{rel}: in the archive but not listed in the manifest")
    for rel in sorted(symlinks):
        problems.append(f"{rel}: a symbolic link, which a manifest bundle may not hold")
    return problems


def _kernel_version(manifest: Manifest | None, files: Iterable[str]) -> str | None:
    if manifest is not None:
        candidates = [e.package for e in manifest.files if e.component == "kernel" and e.package]
    else:
        candidates = [
            rel.split("/", 1)[1].split("_", 1)[0]
            for rel in files
            if rel.startswith("kernel/") and rel.endswith(".deb")
        ]
    releases = sorted({r for r in map(kernel_release_of, candidates) if r})
    return releases[0] if releases else None


def _components(
    manifest: Manifest | None, digests: dict[str, MemberDigest]
) -> list[ComponentSummary]:
    grouped: dict[str, list[str]] = {}
    for rel in digests:
        if rel != MANIFEST_NAME:
            grouped.setdefault(component_of(rel), []).append(rel)
    packages: dict[str, list[tuple[str, str]]] = {}
    for entry in manifest.files if manifest is not None else []:
        if entry.package:
            packages.setdefault(entry.component, []).append((entry.package, entry.version or ""))
    return [
        ComponentSummary(
            component,
            len(rels),
            sum(digests[r].size for r in rels),
            tuple(sorted(packages.get(component, []))),
        )
        for component, rels in sorted(grouped.items())
    ]


def _version(path: Path, small: dict[str, bytes], manifest: Manifest | None, top: str) -> str:
    from multiarc.installer.bundle_create import SAFE_VERSION

    version_text = small.get(VERSION_FILE, b"").decode(errors="replace").strip()
    file_version = version_text.splitlines()[0].strip() if version_text else ""
    version = manifest.bundle_version if manifest else file_version
    if manifest and file_version and file_version != manifest.bundle_version:
        raise InputError(
            f"bundle {path.name}: VERSION says {file_version!r}, the manifest "
            f"{manifest.bundle_version!r}",
            "the bundle was changed after it was made: get it again",
        )
    if not version or not SAFE_VERSION.fullmatch(version):
        raise InputError(
            f"bundle {path.name}: unusable version {version[:80]!r} in {VERSION_FILE}",
            "the version names a folder: letters, digits and . _ + ~ - only",
        )
    return version


def verify_bundle(
    path: Path, *, progress: ProgressFn | None = None, keep_copy: Path | None = None
) -> VerifiedBundle:
    """Check a bundle archive completely, changing nothing; InputError on any problem.

    ``keep_copy``: a new private file that receives the exact bytes verified (then used
    instead of ``path``, see :attr:`VerifiedBundle.readable_source`)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"bundle not found: {path}", "pass the path of BUNDLE.tar.xz")
    scan = _scan_archive(path, progress, keep_copy)
    try:
        return _judge(path, scan, keep_copy)
    except BaseException:
        if keep_copy is not None:
            keep_copy.unlink(missing_ok=True)
        raise


def _judge(path: Path, scan: _Scan, keep_copy: Path | None) -> VerifiedBundle:
    """The checks of the whole tree, once every member has been read."""
    top = _top_folder(scan)
    digests = {rel: scan.digests[name] for name, rel in _relative(scan.digests, top).items()}
    symlinks = {rel: scan.symlinks[name] for name, rel in _relative(scan.symlinks, top).items()}
    small = {rel: scan.small[name] for name, rel in _relative(scan.small, top).items()}
    if not digests:
        raise InputError(f"bundle {path.name} is an empty archive", CORRUPT_HINT)
    notes: list[str] = []
    manifest = scan.manifest
    if manifest is not None:
        raise_problems(path, _compare_with_manifest(manifest, digests, symlinks), CHANGED_HINT)
    else:
        notes.append(MANIFEST_NOTE)
    required, optional = layout_problems(list(digests) + list(symlinks))
    raise_problems(
        path,
        [f"{r.where or '.'}/{r.pattern} missing ({r.what})" for r in required],
        "this is not a complete multi-arc offline bundle",
    )
    notes.extend(f"no {r.where}/{r.pattern} in the bundle ({r.what})" for r in optional)
    not_debs = [rel for name, rel in _relative(scan.not_debs, top).items() if rel in digests]
    raise_problems(path, [f"{n}: not a Debian package" for n in not_debs], CORRUPT_HINT)
    version = _version(path, small, manifest, top)
    if top.startswith(INTEL_TOP_PREFIX) and top.removeprefix(INTEL_TOP_PREFIX) != version:
        notes.append(f"the top folder {top} does not match VERSION {version}")
    return VerifiedBundle(
        path=path,
        version=version,
        has_manifest=manifest is not None,
        top=top,
        files=len(digests) - (manifest is not None),  # the bundle's files, not the manifest
        total_size=sum(d.size for d in digests.values()),
        kernel_version=_kernel_version(manifest, digests),
        target_os=manifest.target_os if manifest else None,
        content_id=content_id(digests, symlinks),
        notes=notes,
        manifest=manifest,
        components=_components(manifest, digests),
        digests=digests,
        symlinks=symlinks,
        archive_sha256=scan.stream.hexdigest(),
        archive_size=scan.stream.compressed,
        source=keep_copy,
    )


__all__ = ["UNSAFE_HINT", "BudgetExceeded", "VerifiedBundle", "verify_bundle"]
