"""Writing files on a shared machine: nothing planted by another user is followed or reused.

Every file the collection writes (the archive, its partial pieces, the token map) is
created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` and mode 0600 under a name no other run can
take (the pid and a random part), then published under its final name with ``link()``,
which never replaces an existing file or follows a planted link: a taken name gets a
``-2``, ``-3`` ... suffix. Two runs in the same second into one folder both produce their
archive; another user's symlink or file under the expected name stays as it was.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import IO

from multiarc.errors import InputError
from multiarc.safe_files import create_new

PRIVATE = 0o600
_PSEUDO = (Path("/proc"), Path("/sys"), Path("/dev"))


def unique_name(stem: str) -> str:
    return f"{stem}.{os.getpid()}-{secrets.token_hex(4)}"


def open_exclusive(path: Path) -> IO[bytes]:
    """A new file at ``path`` (mode 0600); FileExistsError when anything is there, a link
    included."""
    return create_new(path, PRIVATE)


def publish(tmp: Path, final: Path) -> Path:
    """Give ``tmp`` the name ``final`` (or ``final`` with -2, -3 ... inserted before its
    suffixes when taken) without ever replacing anything; the new name is returned."""
    name, dot, suffix = final.name.partition(".")
    for n in range(1, 100):
        candidate = final if n == 1 else final.with_name(f"{name}-{n}{dot}{suffix}")
        try:
            os.link(tmp, candidate, follow_symlinks=False)
        except FileExistsError:
            continue
        tmp.unlink()
        return candidate
    raise FileExistsError(errno.EEXIST, "every name is taken", str(final))


def write_private(path: Path, data: bytes, *, replace: bool = False) -> Path:
    """``data`` into a new private file published as ``path``. ``replace``: an existing
    regular file of ours at ``path`` is replaced atomically (never a link, never another
    user's file); the name actually written is returned."""
    tmp = path.with_name(unique_name("." + path.name))
    try:
        with open_exclusive(tmp) as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        return _put(tmp, path, replace)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never a half-written or orphaned table
        raise


def _put(tmp: Path, path: Path, replace: bool) -> Path:
    if replace:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return publish(tmp, path)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            tmp.unlink()
            raise InputError(
                f"{path} is not a regular file of yours: not replaced",
                "remove it, or choose another file",
            )
        os.replace(tmp, path)
        return path
    return publish(tmp, path)


def check_output_folder(folder: Path) -> Path:
    """The folder to write into: an existing, writable folder, or a new one whose parent
    exists (made 0700). A path under /proc, /sys or /dev, a missing parent (no deep path is
    made silently), a read-only or unwritable folder: InputError (exit 2)."""
    folder = folder.absolute()
    hint = "choose a folder you can write to with --output (its parent must exist)"
    if any(folder == p or folder.is_relative_to(p) for p in _PSEUDO):
        raise InputError(f"--output {folder} is on a kernel pseudo file system", hint)
    if (folder.is_symlink() or folder.exists()) and not folder.is_dir():
        raise InputError(f"--output {folder} is not a folder", hint)
    if not folder.exists():
        if not folder.parent.is_dir():
            raise InputError(f"--output {folder}: its parent {folder.parent} does not exist",
                             hint)  # fmt: skip
        try:
            folder.mkdir(mode=0o700)
        except OSError as err:
            raise InputError(f"cannot create --output {folder}: {err.strerror}", hint) from None
    probe = folder / unique_name(".multiarc-probe")
    try:
        open_exclusive(probe).close()
        probe.unlink()
    except OSError as err:
        raise InputError(f"cannot write into --output {folder}: {err.strerror}", hint) from None
    return folder
