"""Which tar members a bundle may hold: judged one by one, in archive order, as a tree.

A member is not judged alone. The guard keeps the tree the archive has built so far (every
directory, file and link) and judges each new member against it, the way the kernel would
resolve its path while extracting. That is what catches the link-chain family of escapes
(CVE-2025-4517 and friends): ``a -> .``, ``b -> a/a/a/..``, then ``b/x``. The rules:

- paths: relative, no ``..`` component, no NUL or backslash, at most
  :data:`MAX_PATH` bytes, :data:`MAX_NAME` per component and :data:`MAX_DEPTH` levels;
- types: directories, regular files, symbolic and hard links; nothing else (devices,
  FIFOs, contiguous and sparse files are refused);
- modes: no setuid, setgid or sticky bit, nothing world-writable;
- a name appears once (directories may repeat);
- no member lies inside a link or inside a file: every parent of a member is a directory
  the archive made (or will make), never a link, so paths resolve lexically;
- a symbolic link is relative, stays inside the tree, and points at a regular file of
  the archive, never at a directory or at another link (checked again when the archive
  has ended, for targets that come later); a hard link names an earlier regular file;
- sizes: the sum of the members' declared sizes stays within a budget, checked from the
  tar header before any data is read, so a bomb is refused at its first oversized member.

The same guard runs while verifying (nothing written) and again while extracting, where
it is the authority; tarfile's ``data`` filter runs on top where Python has it.
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass, field

from multiarc.errors import InputError

UNSAFE_HINT = "do not install this bundle: get it again from a trusted source"
MAX_PATH = 1024
MAX_NAME = 255
MAX_DEPTH = 32
MAX_MEMBERS = 50_000  # Intel's bundles hold a few thousand
FORBIDDEN_MODE_BITS = 0o7002  # setuid, setgid, sticky, world-writable

_TYPE_NAMES = {
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


class BudgetExceeded(InputError):
    """The archive declares or holds more data than it may (a bomb, or a lying manifest)."""


def normalized_name(name: str) -> str:
    """``./a/b/`` → ``a/b``; the archive root is ``""``. A leading ``/`` is kept (refused)."""
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    return "" if name == "." else name


def _path_problem(raw: str, name: str) -> str | None:
    if raw.startswith("/") or name.startswith("/"):
        return "has an absolute path"
    if "\x00" in raw or "\\" in name:
        return "has a malformed path"
    parts = name.split("/")
    if ".." in parts:
        return "has a path with `..` that leaves the bundle"
    if len(name.encode(errors="surrogateescape")) > MAX_PATH or len(parts) > MAX_DEPTH:
        return "has a path that is too long or too deep"
    if any(len(p.encode(errors="surrogateescape")) > MAX_NAME for p in parts):
        return "has a path component longer than 255 bytes"
    return None


def _mode_problem(member: tarfile.TarInfo) -> str | None:
    bad = member.mode & FORBIDDEN_MODE_BITS
    if not bad:
        return None
    what = []
    if member.mode & 0o4000:
        what.append("setuid")
    if member.mode & 0o2000:
        what.append("setgid")
    if member.mode & 0o1000:
        what.append("sticky")
    if member.mode & 0o002:
        what.append("world-writable")
    return f"has unsafe permissions {member.mode & 0o7777:04o} ({', '.join(what)})"


@dataclass
class TreeGuard:
    """Judges the members of one archive in order; raise InputError on the first bad one."""

    archive: str
    budget: int  # bytes the members' data may add up to
    kinds: dict[str, str] = field(default_factory=dict)  # name -> dir | file | link
    links: dict[str, str] = field(default_factory=dict)  # symlink name -> resolved target
    declared: int = 0
    members: int = 0

    def refuse(self, member_name: str, problem: str) -> InputError:
        message = f"unsafe member in {self.archive}: {member_name!r} {problem}"
        return InputError(message, UNSAFE_HINT)

    def admit(self, member: tarfile.TarInfo) -> str:
        """Check ``member`` against the tree so far and add it; return its normalized name."""
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise BudgetExceeded(
                f"{self.archive} holds more than {MAX_MEMBERS} members",
                "this is not an offline bundle (or it is a decompression bomb)",
            )
        name = normalized_name(member.name)
        problem = _path_problem(member.name, name) or self._type_problem(member)
        if problem is None and not member.issym():
            problem = _mode_problem(member)
        if problem is None and name:
            problem = self._placement_problem(name, member)
        if problem:
            raise self.refuse(member.name, problem)
        if member.isreg():
            self.declared += member.size
            if self.declared > self.budget:
                raise BudgetExceeded(
                    f"{self.archive} declares more data than it may hold: {member.name!r} "
                    f"brings the total to {self.declared} bytes, over the limit of "
                    f"{self.budget} bytes",
                    "a decompression bomb or a manifest that lies: do not install it",
                )
        return name

    def _type_problem(self, member: tarfile.TarInfo) -> str | None:
        if member.type in _TYPE_NAMES or member.issparse():
            return f"is {_TYPE_NAMES.get(member.type, 'a sparse file')}"
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            return f"has an unsupported type {member.type!r}"
        return None

    def _parent_problem(self, path: str) -> str | None:
        """Why a member (or link target) at ``path`` would not resolve lexically."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            kind = self.kinds.get(prefix)
            if kind == "link":
                return f"lies inside the symbolic link {prefix}"
            if kind == "file":
                return f"lies inside the file {prefix}"
        return None

    def _placement_problem(self, name: str, member: tarfile.TarInfo) -> str | None:
        problem = self._parent_problem(name)
        if problem:
            return problem
        earlier = self.kinds.get(name)
        if earlier is not None and not (earlier == "dir" and member.isdir()):
            return f"appears twice in the archive (first as a {earlier})"
        parts = name.split("/")
        for depth in range(1, len(parts)):  # parents made implicitly are directories
            self.kinds.setdefault("/".join(parts[:depth]), "dir")
        if member.isdir():
            self.kinds[name] = "dir"
        elif member.isreg():
            self.kinds[name] = "file"
        elif member.issym():
            return self._symlink(name, member.linkname)
        else:
            target = normalized_name(member.linkname)
            if member.linkname.startswith("/") or self.kinds.get(target) != "file":
                return (
                    f"is a hard link to {member.linkname!r}, which is not an earlier regular "
                    "file of the archive"
                )
            self.kinds[name] = "file"
        return None

    def _symlink(self, name: str, target: str) -> str | None:
        if not target or target.startswith("/") or "\x00" in target:
            return f"is a symbolic link to the absolute or empty path {target!r}"
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if resolved == ".." or resolved.startswith("../"):
            return f"is a symbolic link leaving the bundle (-> {target})"
        if resolved in (".", ""):
            return f"is a symbolic link to the bundle's root folder (-> {target})"
        problem = self._target_problem(resolved)
        if problem:
            return f"is a symbolic link to {target!r}, which {problem}"
        self.kinds[name] = "link"
        self.links[name] = resolved
        return None

    def _target_problem(self, resolved: str, final: bool = False) -> str | None:
        if self._parent_problem(resolved):
            return "resolves through another link or a file"
        kind = self.kinds.get(resolved)
        if kind in ("link", "dir"):
            return f"is a {'directory' if kind == 'dir' else 'link'} (links may only name files)"
        if final and kind != "file":
            return "is not a file of the bundle"
        return None

    def finish(self) -> None:
        """Judge every symbolic link again against the whole tree (targets made later)."""
        for name, resolved in self.links.items():
            problem = self._target_problem(resolved, final=True)
            if problem:
                raise self.refuse(name, f"is a symbolic link to {resolved!r}, which {problem}")

    def files(self) -> list[str]:
        return [name for name, kind in self.kinds.items() if kind == "file"]
