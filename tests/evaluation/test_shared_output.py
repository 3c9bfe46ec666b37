"""Root's results on a shared machine: ``multiarc-eval`` run as root refuses an output
folder that another user could swap for a link before root writes its run folder there
(exit 2, error + hint, nothing written): one made first by someone else where anyone can
make folders (/tmp), a link of theirs there, or a folder writable by others and not sticky.
A folder of root's, the caller's, the user's who ran sudo, or a workspace given to another
user (a CI checkout) is used as before."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.evaluation.cli import main
from multiarc.evaluation.run_writer import check_output_folder

from multiarc.errors import InputError

RECORDING = Path(__file__).resolve().parents[1] / "recordings" / "b60x4"
NOBODY = pwd.getpwnam("nobody").pw_uid

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (files of another user)")


@pytest.fixture
def sticky_tmp(tmp_path: Path) -> Path:
    """A folder like /tmp: anyone can make entries in it, nobody can move another's."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    folder.chmod(0o1777)
    return folder


def _theirs(path: Path, mode: int = 0o755) -> Path:
    path.mkdir(mode=mode)
    os.chown(path, NOBODY, NOBODY)
    path.chmod(mode)
    return path


def test_basic_refuses_results_another_user_made_first_in_tmp(sticky_tmp: Path) -> None:
    theirs = _theirs(sticky_tmp / "results")
    argv = ["basic", "--replay", str(RECORDING), "--output", str(theirs)]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert f"error: cannot write the results under {theirs} as root" in result.output
    assert f"belongs to uid {NOBODY}" in result.output and "hint: " in result.output
    assert "Traceback" not in result.output and "checks:" not in result.output  # nothing ran
    assert list(theirs.iterdir()) == []  # no run folder made in it


def test_a_workspace_given_to_another_user_is_used(tmp_path: Path) -> None:
    """A checkout owned by a CI user, used by root: nobody but its owner can make or swap
    entries in it, so it is not refused (README's command, run as root in such a clone)."""
    workspace = _theirs(tmp_path / "workspace")
    assert check_output_folder(workspace / "results", create=True).is_dir()


@pytest.mark.parametrize("mode", [0o777, 0o757])
def test_a_folder_anyone_can_write_is_refused_unless_sticky(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(InputError, match="writable by others"):
        check_output_folder(shared / "results", create=True)
    assert not (shared / "results").exists()
    shared.chmod(mode | 0o1000)  # sticky, like /tmp: nobody can move another's entry
    assert check_output_folder(shared / "results", create=True) == shared / "results"
    (shared / "results").chmod(0o777)  # the results folder itself open to all: refused
    with pytest.raises(InputError, match="writable by others"):
        check_output_folder(shared / "results", create=True)
    # --output /tmp itself: root's run folder in it cannot be moved by anyone else
    assert check_output_folder(shared, create=True) == shared


def test_a_link_of_another_user_in_tmp_is_refused(tmp_path: Path, sticky_tmp: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    link = sticky_tmp / "results"
    link.symlink_to(mine)
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(InputError, match="a link owned by uid"):
        check_output_folder(link / "run", create=True)
    assert not (mine / "run").exists()


def test_own_group_writable_folder_and_the_sudo_users_folder_are_used(
        tmp_path: Path, sticky_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    group = tmp_path / "group"
    group.mkdir()
    group.chmod(0o2775)  # a user's private group (umask 002): kept usable
    assert check_output_folder(group / "results", create=True).is_dir()
    theirs = _theirs(sticky_tmp / "alice")  # sudo multiarc-eval basic --output /tmp/alice
    monkeypatch.setenv("SUDO_UID", str(NOBODY))
    assert check_output_folder(theirs / "results", create=True).is_dir()
    monkeypatch.setenv("SUDO_UID", str(NOBODY + 1))  # someone else's: refused
    with pytest.raises(InputError, match="belongs to uid"):
        check_output_folder(theirs / "results", create=True)


def test_a_folder_another_user_makes_first_in_between_is_refused(
        sticky_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def raced(self: Path, *args: object, **kwargs: object) -> None:
        os.mkdir(self)  # the other user wins the race; exist_ok would accept their folder
        os.chown(self, NOBODY, NOBODY)

    monkeypatch.setattr(Path, "mkdir", raced)
    with pytest.raises(InputError, match="belongs to uid"):
        check_output_folder(sticky_tmp / "results", create=True)
