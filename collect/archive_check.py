"""Reading a support archive back: its summary and manifest (``--inspect``), and a full
integrity check of every member against the sha256 the manifest records.

summary.txt and manifest.json are the first members, so a quick look decompresses only the
start. The check reads the whole archive: a truncated or altered archive names its first
bad member (exit 1).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from multiarc.errors import EnvironmentNotReady, ExitCode, InputError, MultiarcError

_HINT = "check the file was copied completely (compare its sha256 with the one printed)"


@dataclass
class ArchiveCheck:
    summary: str
    manifest: dict[str, Any]
    checked: int = 0  # members whose sha256 matched
    problems: list[str] = field(default_factory=list)  # the first one names the bad member


class ArchiveDamaged(MultiarcError):
    exit_code = ExitCode.FAILED


@contextmanager
def tar_stream(path: Path) -> Iterator[IO[bytes]]:
    if not path.is_file():
        raise InputError(f"{path} does not exist", "give the path of a multiarc-sysinfo archive")
    with open(path, "rb") as raw:
        magic = raw.read(6)
    proc = None
    try:
        if magic.startswith(b"\x28\xb5\x2f\xfd"):  # zstd frame
            tool = shutil.which("zstd")
            if tool is None:
                raise EnvironmentNotReady("zstd is not installed", "apt-get install zstd")
            proc = subprocess.Popen([tool, "-dc", "-q", str(path)], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)
            assert proc.stdout is not None
            with proc.stdout as stream:
                yield stream
        elif magic == b"\xfd7zXZ\x00":
            with lzma.open(path) as stream:  # every concatenated xz stream
                yield stream  # type: ignore[misc]
        else:
            with open(path, "rb") as stream:  # a plain tar; tarfile says if not
                yield stream
    finally:
        if proc is not None:
            proc.kill()  # it may still be decompressing the rest
            proc.wait()


HEAD_LIMIT = 64 * 2**20  # summary.txt and manifest.json are never this big
HEAD_MEMBERS = 16  # they are the first two members: after this many, it is not our archive


def _head(tar: tarfile.TarFile) -> tuple[str | None, dict[str, Any] | None, dict[str, str]]:
    """summary.txt, manifest.json and the sha256 of every file member read so far."""
    summary, manifest, seen = None, None, {}
    for count, member in enumerate(tar):
        if count >= HEAD_MEMBERS:
            break
        if not member.isfile():
            continue
        base = member.name.rsplit("/", 1)[-1]
        name = member.name.split("/", 1)[-1]
        if base not in ("summary.txt", "manifest.json") or member.size > HEAD_LIMIT:
            seen[name] = _digest(tar, member)
            continue
        fh = tar.extractfile(member)
        data = fh.read() if fh else b""
        seen[name] = hashlib.sha256(data).hexdigest()
        if base == "summary.txt":
            summary = data.decode(errors="replace")
        else:
            try:
                loaded = json.loads(data)
            except RecursionError:  # hostile nesting: unreadable, like bad JSON
                raise ValueError("manifest.json is nested too deeply") from None
            manifest = loaded if isinstance(loaded, dict) else None
        if summary is not None and manifest is not None:
            break
    return summary, manifest, seen


def _expected(manifest: dict[str, Any]) -> dict[str, tuple[str, int | None]]:
    """member name (below the top folder) -> (sha256, bytes), stderr files included."""
    wanted: dict[str, tuple[str, int | None]] = {}
    for entry in manifest.get("files") or []:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("sha256"), str):
            size = entry.get("bytes")
            wanted[str(entry["name"])] = (entry["sha256"], size if isinstance(size, int) else None)
        if isinstance(entry.get("stderr_sha256"), str):
            size = entry.get("stderr_bytes")
            wanted[str(entry["name"]) + ".stderr"] = (
                entry["stderr_sha256"], size if isinstance(size, int) else None)
    return wanted


def read_archive(path: Path, verify: bool = False) -> ArchiveCheck:
    """Summary and manifest; with ``verify`` every member is read and its sha256 checked
    (problems listed in the result, the first bad member first)."""
    check: ArchiveCheck | None = None
    try:
        with tar_stream(path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            summary, manifest, seen = _head(tar)
            if summary is None or manifest is None:
                raise InputError(f"{path} has no summary.txt/manifest.json",
                                 "it was not made by multiarc-collect-sysinfo")
            check = ArchiveCheck(summary, manifest)
            if verify:
                _verify(tar, check, seen)
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
        if check is not None:
            check.problems.append(f"the archive ends early or is damaged after "
                                  f"{check.checked} good member(s) ({exc})")
            return check
        if verify and path.is_file() and _looks_compressed(path):
            raise ArchiveDamaged(f"{path}: summary.txt/manifest.json unreadable, the archive "
                                 f"is cut off or damaged ({exc})", _HINT) from None
        raise InputError(f"{path} is not a readable support archive: {exc}", _HINT) from None
    return check


def _looks_compressed(path: Path) -> bool:
    with open(path, "rb") as raw:
        magic = raw.read(6)
    return magic.startswith(b"\x28\xb5\x2f\xfd") or magic == b"\xfd7zXZ\x00"


def _digest(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    digest = hashlib.sha256()
    fh = tar.extractfile(member)
    if fh is not None:
        for block in iter(lambda: fh.read(2**20), b""):  # never a whole member in memory
            digest.update(block)
    return digest.hexdigest()


def _verify(tar: tarfile.TarFile, check: ArchiveCheck, seen: dict[str, str]) -> None:
    """Every member against the manifest, in archive order; it stops at the first bad one
    before reading its data when its name or size already gives it away (a bomb or a
    planted member costs nothing to refuse)."""
    wanted = _expected(check.manifest)
    for name, digest in seen.items():
        if name not in ("summary.txt", "manifest.json") and not _match(check, wanted, name,
                                                                        digest):
            return
    while (member := tar.next()) is not None:
        if not member.isfile():
            continue
        name = member.name.split("/", 1)[-1]
        if name not in wanted:
            check.problems.append(f"{name}: not listed in manifest.json")
            return
        size = wanted[name][1]
        if size is not None and member.size != size:
            check.problems.append(f"{name}: {member.size} bytes, manifest.json says {size}")
            return
        if not _match(check, wanted, name, _digest(tar, member)):
            return
    for name in sorted(wanted):
        check.problems.append(f"{name}: listed in manifest.json but missing from the archive")


def _match(check: ArchiveCheck, wanted: dict[str, tuple[str, int | None]], name: str,
           digest: str) -> bool:
    expected = wanted.pop(name, None)
    if expected is None:
        check.problems.append(f"{name}: not listed in manifest.json")
        return False
    if digest != expected[0]:
        check.problems.append(f"{name}: sha256 differs from manifest.json")
        return False
    check.checked += 1
    return True
