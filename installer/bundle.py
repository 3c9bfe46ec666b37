"""Offline bundles: verify (before anything changes), extract safely, create.

Two formats are accepted (bundle_manifest.py describes both): Intel's offline installer
archive as it is, and ours, the same tree plus ``manifest.json``.

``verify_bundle`` reads the archive once as a stream (nothing is written to disk): every
member passes the safety rules of safe_extract.py and is hashed. With a manifest, every
listed file must be there with its size and sha256, and a file the manifest does not list
fails the bundle too (a verified bundle is exactly what its maker listed, nothing slipped
in). Without one (Intel's archive) the layout is checked and a note says checksums were
unavailable. Any problem is an InputError (exit 2) naming the file and what differs.

``extract_bundle`` extracts into ``DEST_ROOT/<version>/``: it checks free space first
(EnvironmentNotReady, exit 3, with the numbers), extracts into a hidden temporary sibling
with the same safety rules plus tarfile's ``data`` filter, re-checks every file against what
verification hashed, and only then renames the folder into place. An interrupted run leaves
only a ``.<version>.partial-*`` folder (removed by the next run); an identical earlier
extraction is reused.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from multiarc.installer.bundle_manifest import (
    EXTRACTED_MARKER,
    INTEL_TOP_PREFIX,
    MANIFEST_NAME,
    VERSION_FILE,
    Manifest,
    TargetOS,
    build_manifest,
    component_of,
    kernel_release_of,
    layout_problems,
    read_version_file,
    sha256_file,
    tree_files,
)
from multiarc.installer.preflight import existing_parent, free_bytes
from multiarc.installer.safe_extract import (
    UNSAFE_HINT,
    check_member,
    normalized_name,
    strip_top,
    symlink_problem,
)

from multiarc.errors import EnvironmentNotReady, InputError

ProgressFn = Callable[[str, int], None]
CHUNK = 1 << 20
DEB_MAGIC = b"!<arch>\n"
MAX_SMALL_FILE = 64 << 20  # manifest.json / VERSION read into memory up to this size
MANIFEST_NOTE = "Intel archive without manifest: structure verified, checksums unavailable"
CORRUPT_HINT = "copy or download the bundle again and compare its sha256 with the source"
SAFE_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,99}")


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
    top: str  # the top folder inside the archive ("" when the tree is at the root)
    files: int  # files of the bundle (manifest.json not counted)
    total_size: int  # uncompressed bytes of every member: what extraction needs
    kernel_version: str | None
    target_os: TargetOS | None
    content_id: str  # sha256 over every (path, size, sha256): equal content, equal id
    notes: list[str] = field(default_factory=list)
    manifest: Manifest | None = None
    components: list[ComponentSummary] = field(default_factory=list)
    digests: dict[str, MemberDigest] = field(default_factory=dict)  # tree-relative paths
    symlinks: dict[str, str] = field(default_factory=dict)


@dataclass
class ExtractedBundle:
    root: Path
    version: str
    kernel_version: str | None
    manifest: Manifest | None
    reused: bool = False


@dataclass
class CreatedBundle:
    path: Path
    sha256: str
    version: str
    files: int
    packages: int
    size: int
    archive_size: int
    manifest: Manifest
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- verification


@dataclass
class _Scan:
    digests: dict[str, MemberDigest] = field(default_factory=dict)  # archive-relative
    symlinks: dict[str, str] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    small: dict[str, bytes] = field(default_factory=dict)  # manifest.json / VERSION candidates
    not_debs: list[str] = field(default_factory=list)


def _is_small_candidate(name: str) -> bool:
    return name.rsplit("/", 1)[-1] in (MANIFEST_NAME, VERSION_FILE) and name.count("/") <= 1


def _hash_stream(handle: IO[bytes], keep: bool) -> tuple[MemberDigest, bytes, bytes]:
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


def _scan_archive(path: Path, progress: ProgressFn | None) -> _Scan:
    scan = _Scan()
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                check_member(member, path.name)
                name = normalized_name(member.name)
                if not name:
                    continue
                if name in scan.digests or name in scan.symlinks:
                    raise InputError(
                        f"{path.name}: {name} appears twice in the archive", UNSAFE_HINT
                    )
                if member.isdir():
                    scan.dirs.add(name)
                elif member.issym():
                    scan.symlinks[name] = member.linkname
                elif member.islnk():
                    target = normalized_name(member.linkname)
                    if target not in scan.digests:
                        raise InputError(
                            f"{path.name}: hard link {name} points to {target}, which is not "
                            "an earlier file of the archive",
                            UNSAFE_HINT,
                        )
                    scan.digests[name] = scan.digests[target]
                else:
                    handle = tar.extractfile(member)
                    assert handle is not None
                    keep = _is_small_candidate(name)
                    digest, head, data = _hash_stream(handle, keep)
                    scan.digests[name] = digest
                    if keep:
                        scan.small[name] = data
                    if name.endswith(".deb") and head != DEB_MAGIC:
                        scan.not_debs.append(name)
                    if progress:
                        progress(name, digest.size)
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError) as err:
        raise InputError(
            f"{path.name} is not a readable .tar.xz archive (corrupt or truncated: {err})",
            CORRUPT_HINT,
        ) from None
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}", CORRUPT_HINT) from None
    return scan


def _top_folder(scan: _Scan) -> str:
    names = list(scan.digests) + list(scan.symlinks) + list(scan.dirs)
    if not names:
        return ""
    tops = {name.split("/", 1)[0] for name in names}
    at_root = [n for n in list(scan.digests) + list(scan.symlinks) if "/" not in n]
    if len(tops) == 1 and not at_root:
        return tops.pop()
    return ""


def _relative(names: Iterable[str], top: str) -> dict[str, str]:
    prefix = f"{top}/" if top else ""
    return {name: name[len(prefix) :] for name in names if name.startswith(prefix)}


def _content_id(digests: dict[str, MemberDigest], symlinks: dict[str, str]) -> str:
    listing = sorted([p, d.size, d.sha256] for p, d in digests.items())
    links = sorted([p, t] for p, t in symlinks.items())
    return hashlib.sha256(json.dumps([listing, links]).encode()).hexdigest()


def _short(digest: str) -> str:
    return digest[:12] + "…"


def _raise_problems(path: Path, problems: list[str], hint: str) -> None:
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
    listed = manifest.by_path()
    for rel, entry in listed.items():
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
    for rel in sorted(set(digests) - set(listed) - {MANIFEST_NAME}):
        problems.append(f"{rel}: in the archive but not listed in the manifest")
    for rel in sorted(symlinks):
        problems.append(f"{rel}: a symbolic link, which a manifest bundle may not hold")
    return problems


def _kernel_version(manifest: Manifest | None, files: Iterable[str]) -> str | None:
    candidates = []
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
    if manifest is not None:
        for entry in manifest.files:
            if entry.package:
                packages.setdefault(entry.component, []).append(
                    (entry.package, entry.version or "")
                )
    return [
        ComponentSummary(
            component,
            len(rels),
            sum(digests[r].size for r in rels),
            tuple(sorted(packages.get(component, []))),
        )
        for component, rels in sorted(grouped.items())
    ]


def verify_bundle(path: Path, *, progress: ProgressFn | None = None) -> VerifiedBundle:
    """Check a bundle archive completely, changing nothing; InputError on any problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"bundle not found: {path}", "pass the path of BUNDLE.tar.xz")
    scan = _scan_archive(path, progress)
    top = _top_folder(scan)
    digests = {rel: scan.digests[name] for name, rel in _relative(scan.digests, top).items()}
    symlinks = {rel: scan.symlinks[name] for name, rel in _relative(scan.symlinks, top).items()}
    small = {rel: scan.small[name] for name, rel in _relative(scan.small, top).items()}
    for rel, target in symlinks.items():  # judged from the tree's root, not the archive's
        problem = symlink_problem(rel, target)
        if problem:
            member = f"{top}/{rel}" if top else rel
            raise InputError(f"unsafe member in {path.name}: {member!r} {problem}", UNSAFE_HINT)
    if not digests:
        raise InputError(f"bundle {path.name} is an empty archive", CORRUPT_HINT)
    notes: list[str] = []
    manifest = None
    if MANIFEST_NAME in small:
        manifest = Manifest.from_json(small[MANIFEST_NAME], f"{path.name}: {MANIFEST_NAME}")
        _raise_problems(
            path,
            _compare_with_manifest(manifest, digests, symlinks),
            "the bundle was changed or damaged after it was made: get it again",
        )
    else:
        notes.append(MANIFEST_NOTE)
    required, optional = layout_problems(list(digests) + list(symlinks))
    _raise_problems(
        path,
        [f"{r.where or '.'}/{r.pattern} missing ({r.what})" for r in required],
        "this is not a complete multi-arc offline bundle",
    )
    notes.extend(f"no {r.where}/{r.pattern} in the bundle ({r.what})" for r in optional)
    not_debs = [rel for name, rel in _relative(scan.not_debs, top).items() if rel in digests]
    _raise_problems(path, [f"{n}: not a Debian package" for n in not_debs], CORRUPT_HINT)
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
            f"bundle {path.name}: unusable version {version!r} in {VERSION_FILE}",
            "the version names a folder: letters, digits and . _ + ~ - only",
        )
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
        content_id=_content_id(digests, symlinks),
        notes=notes,
        manifest=manifest,
        components=_components(manifest, digests),
        digests=digests,
        symlinks=symlinks,
    )


# ---------------------------------------------------------------- extraction

_VERIFIED: dict[tuple[str, int, int, int, int], VerifiedBundle] = {}


def _identity(path: Path) -> tuple[str, int, int, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _verified(path: Path) -> VerifiedBundle:
    """verify_bundle, reusing the result for the unchanged file just verified."""
    key = _identity(path)
    if key not in _VERIFIED:
        _VERIFIED.clear()
        _VERIFIED[key] = verify_bundle(path)
    return _VERIFIED[key]


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
        if not target.is_file() or target.stat().st_size != digest.size:
            return False
    return True


def _check_extracted(tree: Path, checked: VerifiedBundle, archive: str) -> None:
    for rel, digest in checked.digests.items():
        target = tree / rel
        if not target.is_file() or target.is_symlink():
            raise InputError(
                f"{archive}: {rel} was not extracted as a file",
                "the archive changed; verify it again",
            )
        if target.stat().st_size != digest.size or sha256_file(target) != digest.sha256:
            raise InputError(
                f"{archive}: {rel} differs from what was verified (the archive changed "
                "while installing?)",
                "verify the bundle again and rerun",
            )


def _extract_into(path: Path, tmp: Path, top: str) -> None:
    def keep(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        check_member(member, path.name)
        stripped = strip_top(member, top)
        if stripped is None:
            return None
        check_member(stripped, path.name)  # links judged again from the tree's own root
        return tarfile.data_filter(stripped, dest)

    try:
        with tarfile.open(path, mode="r|*") as tar:
            tar.extractall(tmp, filter=keep)
    except tarfile.FilterError as err:
        raise InputError(f"unsafe member in {path.name}: {err}", UNSAFE_HINT) from None
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError) as err:
        raise InputError(
            f"{path.name} could not be extracted (corrupt or truncated: {err})", CORRUPT_HINT
        ) from None


def _remove_stale(dest_root: Path, version: str) -> None:
    for stale in dest_root.glob(f".{version}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in dest_root.glob(f".{version}.old-*"):
        shutil.rmtree(stale, ignore_errors=True)


def extract_bundle(
    path: Path,
    dest_root: Path,
    *,
    free_space: Callable[[Path], int] = free_bytes,
) -> ExtractedBundle:
    """Extract into ``dest_root/<version>`` safely and atomically (see the module doc)."""
    path = Path(path)
    dest_root = Path(dest_root)
    checked = _verified(path)
    dest = dest_root / checked.version
    result = ExtractedBundle(dest, checked.version, checked.kernel_version, checked.manifest)
    if dest.is_dir() and _matches(dest, checked):
        result.reused = True
        return result
    try:
        dest_root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise EnvironmentNotReady(
            f"cannot create {dest_root}: {err.strerror}", "run as root (sudo)"
        ) from None
    _remove_stale(dest_root, checked.version)
    needed = space_needed(checked.total_size)
    free = free_space(dest_root)
    if free < needed:
        raise EnvironmentNotReady(
            f"not enough disk space to extract bundle {checked.version}: needed "
            f"{human_size(needed)}, free {human_size(free)} on {mount_point(dest_root)}",
            f"free space there (old bundles live in {dest_root}) and run again",
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{checked.version}.partial-", dir=dest_root))
    try:
        tmp.chmod(0o755)
        _extract_into(path, tmp, checked.top)
        _check_extracted(tmp, checked, path.name)
        marker = {
            "content_id": checked.content_id,
            "version": checked.version,
            "archive": str(path.resolve()),
            "has_manifest": checked.has_manifest,
            "extracted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        (tmp / EXTRACTED_MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        if dest.exists() or dest.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{checked.version}.old-", dir=dest_root))
            os.rename(dest, old / "tree")
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


# ---------------------------------------------------------------- creation


def archive_sha256(path: Path) -> str:
    return sha256_file(path)


def _tar_info(
    name: str, path: Path | None, *, size: int = 0, directory: bool = False
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        executable = path is not None and os.access(path, os.X_OK)
        info.mode = 0o755 if executable else 0o644
    info.mtime = (
        int(path.stat().st_mtime) if path is not None else int(datetime.now(UTC).timestamp())
    )
    return info


def write_archive(
    tree: Path,
    out: Path,
    manifest: Manifest | None,
    *,
    top: str | None = None,
    preset: int = 6,
    extra: dict[str, bytes] | None = None,
    progress: ProgressFn | None = None,
) -> str:
    """Pack ``tree`` (plus ``manifest.json`` when given, plus ``extra`` files given as bytes)
    as ``out`` (.tar.xz) under the top folder ``top`` (default: the tree's name); return the
    archive's sha256.

    Uses ``xz -T0`` (every core) when available, Python's lzma otherwise. Written to a
    ``.part`` sibling and renamed, so a failed run never leaves a plausible archive.
    """
    top = top or tree.name
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    xz = shutil.which("xz")
    try:
        with partial.open("wb") as sink:
            proc = None
            stream: IO[bytes]
            if xz:
                proc = subprocess.Popen(
                    [xz, "-T0", f"-{preset}", "-c"], stdin=subprocess.PIPE, stdout=sink
                )
                assert proc.stdin is not None
                stream = proc.stdin
            else:
                stream = lzma.LZMAFile(sink, "wb", preset=preset)  # noqa: SIM115 (closed below)
            try:
                _write_tar(tree, stream, manifest, top, extra or {}, progress)
            finally:
                stream.close()
                if proc is not None and proc.wait() != 0:
                    raise InputError(f"xz failed while writing {out}", "check free space, retry")
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return archive_sha256(out)


def _write_tar(
    tree: Path,
    stream: IO[bytes],
    manifest: Manifest | None,
    top: str,
    extra: dict[str, bytes],
    progress: ProgressFn | None,
) -> None:
    with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_tar_info(top, tree, directory=True))
        generated = dict(extra)
        if manifest is not None:
            generated[MANIFEST_NAME] = manifest.to_json().encode()
        # VERSION and the manifest first: a reader finds them without reading everything.
        for rel in sorted(generated, key=lambda r: (r != VERSION_FILE, r)):
            data = generated[rel]
            tar.addfile(_tar_info(f"{top}/{rel}", None, size=len(data)), io.BytesIO(data))
        first = [VERSION_FILE] if (tree / VERSION_FILE).is_file() else []
        entries = sorted(tree.rglob("*"), key=lambda p: p.relative_to(tree).as_posix())
        ordered = [tree / name for name in first] + [
            p for p in entries if p.relative_to(tree).as_posix() not in first
        ]
        for path in ordered:
            rel = path.relative_to(tree).as_posix()
            if rel in (MANIFEST_NAME, EXTRACTED_MARKER) or rel in generated:
                continue
            name = f"{top}/{rel}"
            if path.is_symlink():
                raise InputError(
                    f"{path} is a symbolic link; bundles hold regular files only",
                    "replace the link by the file it points to",
                )
            if path.is_dir():
                tar.addfile(_tar_info(name, path, directory=True))
            elif path.is_file():
                size = path.stat().st_size
                with path.open("rb") as handle:
                    tar.addfile(_tar_info(name, path, size=size), handle)
                if progress:
                    progress(rel, size)
            else:
                raise InputError(f"{path} is not a regular file", "remove it from the tree")


def create_bundle(
    src: Path,
    out: Path,
    *,
    version: str | None = None,
    target_os: TargetOS | None = None,
    preset: int = 1,
    created_by: str = "multiarc",
    checksum_progress: ProgressFn | None = None,
    pack_progress: ProgressFn | None = None,
) -> CreatedBundle:
    """Validate the tree ``src``, write its manifest and pack both as ``out`` (.tar.xz)."""
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise InputError(f"not a folder: {src}", "pass the unpacked bundle tree (SRC_DIR)")
    if out.resolve().is_relative_to(src.resolve()):
        raise InputError(f"the output {out} is inside {src}", "write the archive elsewhere")
    if not out.name.endswith((".tar.xz", ".txz")):
        raise InputError(f"the output {out.name} does not end in .tar.xz", "name it NAME.tar.xz")
    file_version = read_version_file(src)
    if version and file_version and version != file_version:
        raise InputError(
            f"--version {version} differs from {src / VERSION_FILE} ({file_version})",
            "edit VERSION or drop --version",
        )
    bundle_version = version or file_version
    if not bundle_version:
        raise InputError(
            f"{src / VERSION_FILE} is missing", "write the version there or pass --version"
        )
    if not SAFE_VERSION.fullmatch(bundle_version):
        raise InputError(
            f"unusable bundle version {bundle_version!r}",
            "use letters, digits and . _ + ~ - only (it names a folder)",
        )
    extra = {} if file_version else {VERSION_FILE: f"{bundle_version}\n".encode()}
    files = tree_files(src)
    required, optional = layout_problems(files + list(extra))
    if required:
        missing = ", ".join(f"{r.where}/{r.pattern} ({r.what})" for r in required)
        raise InputError(f"{src} is not a bundle tree: missing {missing}", "see bundle create -h")
    for rel in files:
        if (src / rel).is_symlink():
            raise InputError(
                f"{src / rel} is a symbolic link; bundles hold regular files only",
                "replace the link by the file it points to",
            )
    notes = [f"no {r.where}/{r.pattern} in the tree ({r.what})" for r in optional]
    manifest = build_manifest(
        src,
        version=bundle_version,
        extra=extra,
        target_os=target_os,
        created_by=created_by,
        progress=checksum_progress,
    )
    digest = write_archive(
        src,
        out,
        manifest,
        top=f"{INTEL_TOP_PREFIX}{bundle_version}",
        preset=preset,
        extra=extra,
        progress=pack_progress,
    )
    return CreatedBundle(
        path=out,
        sha256=digest,
        version=bundle_version,
        files=len(manifest.files),
        packages=sum(1 for e in manifest.files if e.package),
        size=sum(e.size for e in manifest.files),
        archive_size=out.stat().st_size,
        manifest=manifest,
        notes=notes,
    )
