"""Make offline bundles: ``multiarc-install bundle create`` (manifest, then a .tar.xz).

The tree must have Intel's layout (bundle_manifest.LAYOUT); symbolic links are refused
(bundles hold regular files only); every member is written owned by root with mode 0644,
or 0755 when executable, so a bundle we make never carries setuid or world-writable bits.
"""

from __future__ import annotations

import io
import lzma
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable
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
    layout_problems,
    read_version_file,
    sha256_file,
    tree_files,
)

from multiarc.errors import InputError

ProgressFn = Callable[[str, int], None]
SAFE_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,99}")


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

