"""Root's results on a shared machine: ``multiarc-eval`` run as root refuses an output
folder that another user could swap for a link before root writes its run folder there
(exit 2, error + hint, nothing written); a folder of root's, the caller's or (under sudo)
the invoking user's is used as before."""

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


def _theirs(path: Path, mode: int = 0o755) -> Path:
    path.mkdir(mode=mode)
    os.chown(path, NOBODY, NOBODY)
    path.chmod(mode)
    return path


def test_basic_refuses_results_in_another_users_folder(tmp_path: Path) -> None:
    theirs = _theirs(tmp_path / "theirs")
    result = CliRunner().invoke(
        main, ["basic", "--replay", str(RECORDING), "--output", str(theirs / "results")])
    assert result.exit_code == 2, result.output
    assert f"error: cannot write the results under {theirs / 'results'} as root" in result.output
    assert f"belongs to uid {NOBODY}" in result.output and "hint: " in result.output
    assert "Traceback" not in result.output and "checks:" not in result.output  # nothing ran
    assert list(theirs.iterdir()) == []  # no results folder made in it


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


def test_a_link_of_another_user_on_the_way_is_refused(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    link = tmp_path / "link"
    link.symlink_to(mine)
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(InputError, match="a link owned by uid"):
        check_output_folder(link / "results", create=True)
    assert not (mine / "results").exists()


def test_own_group_writable_folder_and_the_sudo_users_home_are_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    group = tmp_path / "group"
    group.mkdir()
    group.chmod(0o2775)  # a user's private group (umask 002): kept usable
    assert check_output_folder(group / "results", create=True).is_dir()
    home = _theirs(tmp_path / "home")  # sudo multiarc-eval basic, run in the user's home
    monkeypatch.setenv("SUDO_UID", str(NOBODY))
    assert check_output_folder(home / "results", create=True).is_dir()
    monkeypatch.setenv("SUDO_UID", str(NOBODY + 1))  # someone else's: refused
    with pytest.raises(InputError, match="belongs to uid"):
        check_output_folder(home / "results", create=True)


def test_a_folder_another_user_makes_first_in_between_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def raced(self: Path, *args: object, **kwargs: object) -> None:
        os.mkdir(self)  # the other user wins the race; exist_ok would accept their folder
        os.chown(self, NOBODY, NOBODY)

    monkeypatch.setattr(Path, "mkdir", raced)
    with pytest.raises(InputError, match="belongs to uid"):
        check_output_folder(tmp_path / "results", create=True)
