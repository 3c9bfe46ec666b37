"""One multiarc-install at a time: an fcntl lock on a file in the state folder.

The kernel drops the lock when its holder dies (even by SIGKILL), so a killed run never
blocks the next one; the file keeps the holder's PID so a refused run can name it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from multiarc.errors import EnvironmentNotReady
from multiarc.safe_files import NotOwnFile, open_own


class InstallLock:
    """Context manager holding the exclusive install lock; raises EnvironmentNotReady if taken."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # never through a link, never another user's file
            fd = open_own(self.path, os.O_RDWR | os.O_CREAT)
        except NotOwnFile as err:
            raise EnvironmentNotReady(
                f"the install lock {self.path} is not a regular file of this user's"
                f" ({err.strerror})",
                "remove it; only root should write in the state folder",
            ) from None
        except OSError as err:
            raise EnvironmentNotReady(f"cannot open the install lock {self.path}: {err.strerror}",
                                      "remove it if it is a link; only root should write there"
                                      ) from None  # fmt: skip
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise EnvironmentNotReady(
                f"another multiarc-install is running ({who} holds {self.path})",
                "wait for it to finish; the lock is released when that process ends",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> InstallLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
