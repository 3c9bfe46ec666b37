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

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

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
from multiarc.installer.bundle_scan import (
    CHANGED_HINT,
    CORRUPT_HINT,
    HEADER_SLACK,
    PER_MEMBER_SLACK,
    READ_ERRORS,
    MemberDigest,
    ProgressFn,
    Scan,
    scan_archive,
)
from multiarc.installer.tree_guard import UNSAFE_HINT, BudgetExceeded

from multiarc.errors import InputError

MANIFEST_NOTE = "Intel archive without manifest: structure verified, checksums unavailable"
NO_TOP_HINT = (
    "a bundle holds everything under one top folder (multi-arc-bmg-offline-installer-<version>/):"
    " repack it with `multiarc-install bundle create`"
)


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


def _top_folder(scan: Scan) -> str:
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
    scan = scan_archive(path, progress, keep_copy)
    try:
        return _judge(path, scan, keep_copy)
    except BaseException:
        if keep_copy is not None:
            keep_copy.unlink(missing_ok=True)
        raise


def _judge(path: Path, scan: Scan, keep_copy: Path | None) -> VerifiedBundle:
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


# names other modules take from here
__all__ = [
    "CORRUPT_HINT",
    "HEADER_SLACK",
    "MANIFEST_NOTE",
    "PER_MEMBER_SLACK",
    "READ_ERRORS",
    "UNSAFE_HINT",
    "BudgetExceeded",
    "ComponentSummary",
    "MemberDigest",
    "VerifiedBundle",
    "verify_bundle",
]
