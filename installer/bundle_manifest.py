"""The offline bundle's layout and its manifest: what is where, and every file's checksum.

A bundle is Intel's offline installer tree (``multi-arc-bmg-offline-installer-<ver>/`` with
``VERSION``, ``kernel/*.deb``, ``firmware/*.bin.zst``, ``gfxdrv/<part>/*.deb`` ...), packed as
``.tar.xz``. Our own format is the same tree plus ``manifest.json`` in the top folder:

```json
{"schema_version": 1, "bundle_version": "2025.2.0", "created_at": "2026-...Z",
 "created_by": "multiarc 0.1.0",
 "target_os": {"id": "ubuntu", "version_id": "25.04", "arch": "amd64"},
 "files": [{"path": "kernel/linux-image-....deb", "size": 123, "sha256": "...",
            "component": "kernel", "package": "linux-image-...", "version": "6.14.0-1006.6"}]}
```
Paths are relative to the top folder, use ``/`` and never name manifest.json itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from multiarc.errors import InputError

MANIFEST_NAME = "manifest.json"
EXTRACTED_MARKER = ".multiarc-extracted.json"  # written by extract_bundle, never packed
VERSION_FILE = "VERSION"
SCHEMA_VERSION = 1
INTEL_TOP_PREFIX = "multi-arc-bmg-offline-installer-"

# Components, most specific first: a file belongs to the first whose folder holds it.
COMPONENTS: tuple[str, ...] = (
    "kernel",
    "firmware",
    "base/docker",
    "base",
    "gfxdrv/base",
    "gfxdrv/gpgpu",
    "gfxdrv/video",
    "gfxdrv/graphics",
    "oneapi",
    "tools/1ccl",
    "tools/gemm",
    "tools/xpu-smi",
    "tools/level-zero-tests",
    "scripts",
    "results",
)
TOP_COMPONENT = "bundle"  # VERSION, README.md and anything else at the top


@dataclass(frozen=True)
class LayoutRule:
    """A folder (or file) the layout expects, with the pattern of what must be in it."""

    where: str
    pattern: str
    required: bool
    what: str
    below: bool = False  # also in folders below `where`

    def matches(self, relpath: str) -> bool:
        parent, _, name = relpath.rpartition("/")
        inside = parent == self.where or (self.below and parent.startswith(self.where + "/"))
        return inside and PurePosixPath(name).match(self.pattern)


# Missing `required` parts make a bundle unusable (exit 2); missing optional ones are notes.
LAYOUT: tuple[LayoutRule, ...] = (
    LayoutRule("", VERSION_FILE, True, "the bundle version"),
    LayoutRule("kernel", "*.deb", True, "the validated kernel packages"),
    # Intel's firmware/*.bin.zst (xe's), or folders mirroring /lib/firmware (xe/, i915/)
    LayoutRule("firmware", "*.bin*", True, "the GuC/HuC firmware blobs", below=True),
    LayoutRule("gfxdrv/gpgpu", "*.deb", True, "the compute runtime packages"),
    LayoutRule("base", "*.deb", False, "the base packages"),
    LayoutRule("base/docker", "*.deb", False, "the docker packages"),
    LayoutRule("gfxdrv/base", "*.deb", False, "the graphics base packages"),
    LayoutRule("gfxdrv/video", "*.deb", False, "the media packages"),
    LayoutRule("gfxdrv/graphics", "*.deb", False, "the display packages"),
    LayoutRule("oneapi", "*_offline.sh", False, "the oneAPI offline installer"),
    LayoutRule("tools/xpu-smi", "*.deb", False, "xpu-smi"),
    LayoutRule("tools/1ccl", "*.deb", False, "the oneCCL benchmark"),
    LayoutRule("tools/gemm", "*.deb", False, "the GEMM benchmark"),
    LayoutRule("tools/level-zero-tests", "ze_*", False, "ze_peer/ze_peak"),
    LayoutRule("results", "reference_perf.csv", False, "the reference figures"),
)


def layout_problems(relpaths: Iterable[str]) -> tuple[list[LayoutRule], list[LayoutRule]]:
    """Return (missing required parts, missing optional parts) of a bundle's file list."""
    present = list(relpaths)
    missing = [rule for rule in LAYOUT if not any(rule.matches(p) for p in present)]
    return [r for r in missing if r.required], [r for r in missing if not r.required]


def component_of(relpath: str) -> str:
    for component in COMPONENTS:
        if relpath.startswith(component + "/"):
            return component
    return TOP_COMPONENT


def kernel_release_of(package: str) -> str | None:
    """``linux-image-6.14.0-1006-intel`` → ``6.14.0-1006-intel``."""
    match = re.fullmatch(r"linux-image-(?:unsigned-)?(\d[^\s/]*)", package)
    return match.group(1) if match else None


@dataclass(frozen=True)
class TargetOS:
    id: str = "ubuntu"
    version_id: str = "25.04"
    arch: str = "amd64"

    @classmethod
    def parse(cls, text: str) -> TargetOS:
        """``ubuntu:25.04`` or ``ubuntu:25.04:amd64``."""
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise InputError(
                f"bad target OS {text!r}", "write it as ID:VERSION[:ARCH], e.g. ubuntu:25.04"
            )
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.id} {self.version_id} {self.arch}"


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str
    component: str
    package: str | None = None
    version: str | None = None


@dataclass
class Manifest:
    bundle_version: str
    target_os: TargetOS = field(default_factory=TargetOS)
    files: list[ManifestEntry] = field(default_factory=list)
    created_at: str = ""
    created_by: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        data = asdict(self)
        data["files"] = [
            {k: v for k, v in asdict(entry).items() if v is not None} for entry in self.files
        ]
        order = ["schema_version", "bundle_version", "target_os", "created_at", "created_by"]
        ordered = {key: data[key] for key in order} | {"files": data["files"]}
        return json.dumps(ordered, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, source: str = MANIFEST_NAME) -> Manifest:
        """Parse and validate; anything malformed is an InputError naming ``source``."""
        hint = "the bundle is damaged or was not made by `multiarc-install bundle create`"
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(f"{source} is not valid JSON ({str(err)[:120]})", hint) from None
        except RecursionError:
            raise InputError(f"{source} is nested too deeply to be a manifest", hint) from None
        if not isinstance(data, dict):
            raise InputError(f"{source} is not a JSON object", hint)
        schema = data.get("schema_version")
        if schema != SCHEMA_VERSION:
            raise InputError(
                f"{source}: schema_version {schema!r} is not supported (expected {SCHEMA_VERSION})",
                "use a multiarc version that matches the bundle",
            )
        try:
            target = data.get("target_os") or {}
            if not isinstance(data.get("files"), list) or not isinstance(target, dict):
                raise ValueError("files must be a list and target_os an object")
            files = [_entry(item) for item in data["files"]]
            manifest = cls(
                bundle_version=_text(data["bundle_version"]),
                target_os=TargetOS(
                    _text(target.get("id", "ubuntu")),
                    _text(target.get("version_id", "25.04")),
                    _text(target.get("arch", "amd64")),
                ),
                files=files,
                created_at=str(data.get("created_at", "")),
                created_by=str(data.get("created_by", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            why = str(err)[:200]
            raise InputError(f"{source} is malformed ({type(err).__name__}: {why})", hint) from None
        seen: set[str] = set()
        for entry in files:
            if entry.path in seen:
                raise InputError(f"{source} lists {entry.path} twice", hint)
            seen.add(entry.path)
            if not is_safe_relpath(entry.path) or entry.path == MANIFEST_NAME:
                raise InputError(f"{source} lists an unsafe path {entry.path!r}", hint)
        return manifest

    def by_path(self) -> dict[str, ManifestEntry]:
        return {entry.path: entry for entry in self.files}


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {str(value)[:80]!r}")
    return value


def _optional_text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} of {str(item.get('path'))[:80]!r} is not a string")
    return value


def _entry(item: Any) -> ManifestEntry:
    if not isinstance(item, dict):
        raise ValueError(f"a files entry is not an object: {str(item)[:80]}")
    path = _text(item.get("path"))
    size = item.get("size")
    digest = item.get("sha256")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"bad size {str(size)[:40]} for {path[:80]!r}")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"bad sha256 {str(digest)[:80]!r} for {path[:80]!r}")
    return ManifestEntry(
        path=path,
        size=size,
        sha256=digest,
        component=_optional_text(item, "component") or component_of(path),
        package=_optional_text(item, "package"),
        version=_optional_text(item, "version"),
    )


def is_safe_relpath(relpath: str) -> bool:
    """A relative POSIX path inside the tree: no leading /, no `..`, no empty parts."""
    if not relpath or relpath.startswith("/") or "\\" in relpath or "\x00" in relpath:
        return False
    parts = relpath.split("/")
    return all(part not in ("", ".", "..") for part in parts)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def deb_control(deb: Path) -> dict[str, str]:
    """The control fields of a .deb (``dpkg-deb -f``); InputError when it is not a package."""
    out = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True)
    if out.returncode != 0:
        detail = out.stderr.strip().splitlines()[-1:] or ["no output"]
        raise InputError(f"not a readable .deb package: {deb} ({detail[0]})", "replace the file")
    fields: dict[str, str] = {}
    last = ""
    for line in out.stdout.splitlines():
        if line[:1] in (" ", "\t") and last:
            fields[last] += "\n" + line
        elif ": " in line or line.endswith(":"):
            last, _, value = line.partition(":")
            fields[last] = value.strip()
    return fields


def tree_files(tree: Path) -> list[str]:
    """Every regular file and symlink under ``tree``, as sorted relative POSIX paths."""
    found = []
    for path in tree.rglob("*"):
        if path.is_symlink() or path.is_file():
            rel = path.relative_to(tree).as_posix()
            if rel not in (MANIFEST_NAME, EXTRACTED_MARKER):
                found.append(rel)
    return sorted(found)


def read_version_file(tree: Path) -> str | None:
    version_file = tree / VERSION_FILE
    if not version_file.is_file():
        return None
    text = version_file.read_text(errors="replace").strip()
    return text.splitlines()[0].strip() if text else None


def build_manifest(
    tree: Path,
    *,
    version: str | None = None,
    extra: dict[str, bytes] | None = None,
    target_os: TargetOS | None = None,
    created_by: str = "",
    progress: Callable[[str, int], None] | None = None,
) -> Manifest:
    """Checksum every file of ``tree`` (plus ``extra`` files given as bytes, which the
    archive will add) and read each .deb's control fields."""
    bundle_version = version or read_version_file(tree)
    if not bundle_version:
        raise InputError(
            f"no bundle version: {tree / VERSION_FILE} is missing or empty",
            "write the version into VERSION or pass --version",
        )
    entries = []
    for rel in tree_files(tree):
        path = tree / rel
        if path.is_symlink():
            raise InputError(
                f"{path} is a symbolic link; bundles hold regular files only",
                "replace the link by the file it points to",
            )
        package = pkg_version = None
        if rel.endswith(".deb"):
            control = deb_control(path)
            package, pkg_version = control.get("Package"), control.get("Version")
        size = path.stat().st_size
        entries.append(
            ManifestEntry(rel, size, sha256_file(path), component_of(rel), package, pkg_version)
        )
        if progress:
            progress(rel, size)
    for rel, data in sorted((extra or {}).items()):
        digest = hashlib.sha256(data).hexdigest()
        entries.append(ManifestEntry(rel, len(data), digest, component_of(rel)))
    entries.sort(key=lambda entry: entry.path)
    return Manifest(
        bundle_version=bundle_version,
        target_os=target_os or TargetOS(),
        files=entries,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        created_by=created_by,
    )
