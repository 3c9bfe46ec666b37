"""Which tar members a bundle may hold, and where they land.

A bundle may hold directories, regular files, and links that stay inside the tree. Refused,
naming the member: absolute paths, ``..`` components, symbolic or hard links whose target
leaves the tree (or is absolute), character/block devices, FIFOs and any other special
type. The same rules run while verifying (no extraction) and again while extracting, where
tarfile's ``data`` filter adds its own checks (defence in depth).
"""

from __future__ import annotations

import posixpath
import tarfile

from multiarc.errors import InputError

UNSAFE_HINT = "do not install this bundle: get it again from a trusted source"

_TYPE_NAMES = {
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
}


def normalized_name(name: str) -> str:
    """``./a/b/`` → ``a/b``; the archive root is ``""``. Leading ``/`` is kept (refused later)."""
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    return "" if name == "." else name


def _inside(path: str) -> bool:
    """Whether a relative POSIX path (already joined) stays inside the tree root."""
    if path.startswith("/"):
        return False
    normal = posixpath.normpath(path)
    return normal != ".." and not normal.startswith("../")


def symlink_problem(name: str, target: str) -> str | None:
    """Why a symbolic link at ``name`` (relative to the tree) pointing to ``target`` is unsafe."""
    if target.startswith("/"):
        return f"is a symbolic link to the absolute path {target}"
    if not _inside(posixpath.join(posixpath.dirname(name), target)):
        return f"is a symbolic link leaving the bundle (-> {target})"
    return None


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` must not be extracted, or None when it is safe."""
    name = normalized_name(member.name)
    if member.name.startswith("/") or name.startswith("/"):
        return "has an absolute path"
    if "\x00" in member.name or "\\" in name:
        return "has a malformed path"
    if ".." in name.split("/"):
        return "has a path with `..` that leaves the bundle"
    if member.ischr() or member.isblk() or member.isfifo() or member.type == tarfile.CONTTYPE:
        return f"is {_TYPE_NAMES.get(member.type, 'a special file')}"
    if member.issym():
        return symlink_problem(name, member.linkname)
    elif member.islnk():
        target = normalized_name(member.linkname)
        if member.linkname.startswith("/") or not _inside(target):
            return f"is a hard link leaving the bundle (-> {member.linkname})"
    elif not (member.isreg() or member.isdir()):
        return f"has an unsupported type {member.type!r}"
    return None


def check_member(member: tarfile.TarInfo, archive: str) -> None:
    problem = member_problem(member)
    if problem:
        raise InputError(f"unsafe member in {archive}: {member.name!r} {problem}", UNSAFE_HINT)


def strip_top(member: tarfile.TarInfo, top: str) -> tarfile.TarInfo | None:
    """A copy of ``member`` with the top folder removed from its name (and hard-link target);
    None for the top folder itself."""
    name = normalized_name(member.name)
    if top:
        if name == top:
            return None
        name = name.removeprefix(top + "/")
    if not name:
        return None
    changes: dict[str, str] = {"name": name}
    if member.islnk():
        changes["linkname"] = normalized_name(member.linkname).removeprefix(top + "/")
    return member.replace(**changes, deep=False)  # type: ignore[arg-type]
