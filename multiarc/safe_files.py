"""Files and folders root writes on a shared machine: nothing another user planted is
followed, reused or trusted.

- :func:`create_new`: a new file, ``O_CREAT|O_EXCL|O_NOFOLLOW``; anything already under the
  name (a link included) is an error, never written through.
- :func:`open_own` (and :func:`open_append` on it): a file kept across runs (a log, a
  lock); created when missing, and refused when the name is a link or a file that is not
  the caller's own.
- :func:`make_own_folder`: a folder root keeps its state or logs in must be writable by
  nobody else, and so must every folder above it, unless sticky like /tmp (there nobody
  can move another's entry): otherwise another user could plant links under the names
  root is about to write, or move the folder away between the check and the write.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO, Literal, overload

from multiarc.errors import EnvironmentNotReady

_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND
_TRUSTED_OWNERS = {0}  # root, and the caller (added at the time of the check)


@overload
def create_new(path: Path, mode: int = ..., *, text: Literal[False] = ...) -> IO[bytes]: ...
@overload
def create_new(path: Path, mode: int = ..., *, text: Literal[True]) -> IO[str]: ...
def create_new(path: Path, mode: int = 0o600, *, text: bool = False) -> IO[bytes] | IO[str]:
    """A new file at ``path``; FileExistsError when anything is there, a link included."""
    fd = os.open(path, _NEW, mode)
    return os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb")


class NotOwnFile(PermissionError):
    """A name that is a link, not a regular file, or another user's file: left alone."""


def open_own(path: Path, flags: int, mode: int = 0o644) -> int:
    """A descriptor of ``path`` opened with ``flags`` (``O_CREAT`` creates it when missing),
    never through a link: NotOwnFile (a PermissionError) when it is a link, not a regular
    file, or not the caller's own (nothing is then done to it; ``flags`` must not truncate).
    Other errors (EACCES, ENOENT...) are raised as they come."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as err:
        if err.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise NotOwnFile(err.errno, "a link, not followed", str(path)) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise NotOwnFile(1, "not a regular file of this user's, not used", str(path))
    return fd


def open_append(path: Path, mode: int = 0o644) -> IO[str]:
    """``path`` opened to append text: see :func:`open_own`."""
    return os.fdopen(open_own(path, _APPEND, mode), "a", encoding="utf-8")


def _trusted(lenient: bool) -> set[int]:
    """root and the caller; ``lenient``: also the user who ran sudo (who has root anyway)."""
    trusted = _TRUSTED_OWNERS | {os.geteuid()}
    sudo_uid = os.environ.get("SUDO_UID", "") if lenient and os.geteuid() == 0 else ""
    return trusted | ({int(sudo_uid)} if sudo_uid.isdigit() else set())


def _anyone_could_make(path: Path) -> bool:
    """``path``'s folder is writable by everyone (like /tmp): anyone could have made it."""
    try:
        return path != path.parent and bool(os.stat(path.parent).st_mode & 0o002)
    except OSError:
        return True


def _unsafe(path: Path, *, own: bool, lenient: bool, trusted: set[int]) -> str | None:
    """Why ``path`` (an existing folder, or a link to one) is unsafe to hold root's files,
    or None. ``own``: the folder itself, which must not be writable by group (unless
    ``lenient``) or others. ``lenient``: another user's folder or link counts only where
    anyone could have made it (in /tmp), not in a home or a workspace given to them."""
    st = os.lstat(path)
    strange = st.st_uid not in trusted and (not lenient or _anyone_could_make(path))
    if stat.S_ISLNK(st.st_mode):
        # whoever owns the link decides where it points
        return f"{path} is a link owned by uid {st.st_uid}" if strange else None
    if strange:
        return f"{path} belongs to uid {st.st_uid}"
    sticky_ok = lenient and st.st_mode & stat.S_ISVTX  # --output /tmp: nobody moves root's
    if own and st.st_mode & (0o002 if lenient else 0o022) and not sticky_ok:
        return f"{path} is writable by {'others' if st.st_mode & 0o002 else 'its group'}"
    if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
        return f"{path} is writable by others (and not sticky)"
    return None


def _chain(path: Path) -> list[Path]:
    """Every folder from / down to ``path``, links followed and their own entries kept."""
    seen = [Path("/")]
    current = Path("/")
    for part in Path(os.path.abspath(path)).parts[1:]:
        current = current / part
        seen.append(current)
        if current.is_symlink():
            target = current.resolve()
            seen.extend(_chain(target))  # the folders down to where it points
            current = target
    return seen


def unsafe_folder(path: Path, *, lenient: bool = False) -> str | None:
    """Why another user could plant or swap entries in ``path`` (or in what exists of it)
    before this process writes there, or None: a folder on the way that is another user's
    (or a link of theirs), or writable by others and not sticky; ``path`` itself also not
    writable by others (nor by its group). ``lenient`` (a command run in a user's folder):
    another user's folder counts only where anyone could have made it (/tmp/results made
    first by someone else), the user who ran sudo is trusted, and a folder writable by its
    group (a user's private group, umask 002) is fine."""
    chain = [folder for folder in _chain(path) if os.path.lexists(folder)]
    whole = os.path.isdir(path)
    trusted = _trusted(lenient)
    for folder in chain:
        reason = _unsafe(folder, own=whole and folder == chain[-1], lenient=lenient,
                         trusted=trusted)
        if reason:
            return reason
    return None


def _check(path: Path, what: str) -> None:
    reason = unsafe_folder(path)
    if reason:
        raise EnvironmentNotReady(
            f"{what} {path} is not safe to write in: {reason}",
            "use a folder only root can write to (and none above it writable by"
            " others, unless sticky like /tmp), e.g. the default",
        )


def make_own_folder(path: Path, what: str) -> None:
    """Make ``path`` (mode 0755, parents too) unless it is there, and check that it and
    every folder above it are safe for root's files (see the module's text), before (so
    nothing is made in an unsafe place) and after (a folder another user made first, in
    between, is refused): EnvironmentNotReady (exit 3) when not, or when it cannot be made."""
    _check(path, what)
    try:
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as err:
        raise EnvironmentNotReady(
            f"cannot create {what} {path}: {err.strerror}", "run as root (sudo)"
        ) from None
    _check(path, what)
