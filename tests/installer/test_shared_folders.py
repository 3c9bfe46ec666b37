"""Root's install logs, lock and state on a shared machine: a state or log folder another
user could write in (or move) is refused before anything is written, and a link or file
planted under a name root is about to write is never followed or reused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.installer.cli import main
from multiarc.installer.install import new_run_logs
from multiarc.installer.lock import InstallLock

from multiarc import paths
from multiarc.errors import EnvironmentNotReady
from multiarc.safe_files import create_new, make_own_folder, open_append
from tests.collect.conftest import shared_folder

NOBODY = 65534


@pytest.fixture
def sticky_tmp() -> Iterator[Path]:
    """A world-writable sticky folder, like /tmp (pytest's tmp_path is private)."""
    with shared_folder("multiarc-shared-", 0o1777) as folder:
        yield folder


def _as_nobody(code: str) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as another user")
    argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    subprocess.run([*argv, sys.executable, "-c", code], check=True)


def _refused(path: Path, reason: str) -> None:
    with pytest.raises(EnvironmentNotReady) as caught:
        make_own_folder(path, "log folder")
    assert f"log folder {path} is not safe to write in" in caught.value.message
    assert reason in caught.value.message, caught.value.message
    assert caught.value.hint and "only root can write to" in caught.value.hint


def test_folders_others_can_write_in_or_move_are_refused(tmp_path: Path, sticky_tmp: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    _refused(shared, "writable by others")
    _refused(shared / "logs", "writable by others (and not sticky)")  # made, then judged
    group = tmp_path / "group"
    group.mkdir()
    group.chmod(0o775)
    _refused(group, "writable by its group")
    _refused(sticky_tmp, "writable by others")  # /tmp itself: anyone can plant names there
    make_own_folder(group / "logs", "log folder")  # a group-writable folder above: allowed
    make_own_folder(sticky_tmp / "logs", "log folder")  # root's own folder in /tmp: fine
    assert (sticky_tmp / "logs").stat().st_mode & 0o777 == 0o755


def test_another_users_folder_or_link_is_refused(sticky_tmp: Path, tmp_path: Path) -> None:
    """Another user made the folder first (in /tmp), or a link there to a folder of root's:
    the link's owner decides where root's logs go, so both are refused."""
    target = tmp_path / "roots"
    target.mkdir()
    _as_nobody(
        f"import os; os.mkdir({str(sticky_tmp / 'logs')!r}, 0o755);"
        f" os.symlink({str(target)!r}, {str(sticky_tmp / 'link')!r})"
    )
    _refused(sticky_tmp / "logs", f"belongs to uid {NOBODY}")
    _refused(sticky_tmp / "link", f"is a link owned by uid {NOBODY}")
    _refused(sticky_tmp / "link" / "below", f"is a link owned by uid {NOBODY}")
    assert not (target / "below").exists()  # refused before, or made and refused: never used
    os.symlink(target, sticky_tmp / "roots-link")  # root's own link: followed and judged
    make_own_folder(sticky_tmp / "roots-link", "log folder")


def test_install_refuses_a_shared_log_folder_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setattr(paths, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(paths, "INSTALL_LOG_DIR", shared)
    bundle = tmp_path / "b.tar.xz"
    bundle.write_bytes(b"not even read")
    result = CliRunner().invoke(main, ["--offline", str(bundle), "--yes"])
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"error: log folder {shared} is not safe to write in"), lines
    assert lines[1].strip().startswith("hint:") and "Traceback" not in result.output
    assert list(shared.iterdir()) == []
    assert not (tmp_path / "state" / "runner").exists()  # no run folder, no bundle copy


def test_run_logs_never_take_a_planted_name(tmp_path: Path) -> None:
    """A link and a file already under this second's names (another run in the same second,
    or planted): the run's logs get the next free names; the victim is untouched."""
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    (tmp_path / "install-20261204_101010.log").symlink_to(victim)
    (tmp_path / "install-20261204_101010-2.events.jsonl").write_text("theirs\n")
    log, events = new_run_logs(tmp_path, "20261204_101010")
    assert (log.name, events.name) == ("install-20261204_101010-3.log",
                                       "install-20261204_101010-3.events.jsonl")  # fmt: skip
    assert not (tmp_path / "install-20261204_101010-2.log").exists()  # half pair removed
    with open_append(log) as out:
        out.write("header\n")
    assert log.read_text() == "header\n" and victim.read_text() == "untouched\n"
    assert (tmp_path / "install-20261204_101010-2.events.jsonl").read_text() == "theirs\n"


def test_appended_logs_and_the_lock_never_follow_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    link = tmp_path / "trial-boot.log"
    link.symlink_to(victim)
    with pytest.raises(PermissionError):
        open_append(link)
    lock = tmp_path / "install.lock"
    lock.symlink_to(victim)
    with pytest.raises(EnvironmentNotReady) as caught:
        InstallLock(lock).acquire()
    assert "install lock" in caught.value.message and "a link, not followed" in caught.value.message
    assert victim.read_text() == "untouched\n"  # not truncated, not written
    with pytest.raises(FileExistsError):
        create_new(link)


def test_a_log_or_lock_that_is_another_users_file_is_not_used(tmp_path: Path) -> None:
    theirs = tmp_path / "trial-boot.log"
    theirs.write_text("theirs\n")
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file to another user")
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(PermissionError):
        open_append(theirs)
    assert theirs.read_text() == "theirs\n"
    lock = tmp_path / "install.lock"
    lock.write_text("4242\n")
    os.chown(lock, NOBODY, NOBODY)
    with pytest.raises(EnvironmentNotReady) as caught:
        InstallLock(lock).acquire()
    assert "not a regular file of this user's" in caught.value.message
    assert lock.read_text() == "4242\n"  # not truncated, not locked
