"""The install lock: a second process is refused with the holder's PID; death releases it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from multiarc.installer.lock import InstallLock

from multiarc.errors import EnvironmentNotReady, ExitCode

HOLDER = """
import sys, time
from pathlib import Path
from multiarc.installer.lock import InstallLock
lock = InstallLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def _start_holder(lock_path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_process_is_refused_with_holder_pid(tmp_path: Path) -> None:
    lock_path = tmp_path / "install.lock"
    holder = _start_holder(lock_path)
    try:
        with pytest.raises(EnvironmentNotReady) as err:
            InstallLock(lock_path).acquire()
        assert err.value.exit_code == ExitCode.NOT_READY
        assert f"process {holder.pid}" in err.value.message
    finally:
        holder.kill()
        holder.wait()


def test_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    lock_path = tmp_path / "install.lock"
    holder = _start_holder(lock_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with InstallLock(lock_path):
        assert lock_path.read_text().strip() == str(os.getpid())
    assert lock_path.read_text() == ""  # released: the PID is cleared


def test_lock_is_reusable_after_release(tmp_path: Path) -> None:
    lock = InstallLock(tmp_path / "a" / "install.lock")
    with lock:
        pass
    with lock:
        assert lock.path.read_text().strip() == str(os.getpid())
