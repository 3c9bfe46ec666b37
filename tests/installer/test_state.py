"""state.json: round trip, atomic replacement, interrupted runs, unreadable files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from multiarc.installer import state as state_mod
from multiarc.installer.state import InstallState, RoleStatus, RunRecord, load_state, save_state

from multiarc.errors import InputError


def _sample() -> InstallState:
    st = InstallState(
        bundle_version="2025.2",
        bundle_dir="/var/lib/multiarc/bundles/2025.2",
        target_kernel="6.14.0-1006-intel",
    )
    host = st.host("node1")
    host.roles["kernel"] = RoleStatus(status="done", ok=4, changed=2, finished_at="t")
    host.roles["docker"] = RoleStatus(status="skipped", skipped=3, reason="host-only role")
    host.reboot_required = True
    host.container = False
    st.last_run = RunRecord(started_at="t0", result="ok", pid=42, only=["kernel"], changed=2)
    return st


def test_missing_file_is_empty_state(tmp_path: Path) -> None:
    st = load_state(tmp_path / "state.json")
    assert st.bundle_version is None and st.hosts == {} and not st.reboot_required


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    original = _sample()
    save_state(path, original)
    loaded = load_state(path)
    assert loaded.to_dict() == original.to_dict()
    assert loaded.hosts["node1"].roles_done() == ["kernel"]
    assert loaded.reboot_required
    assert json.loads(path.read_text())["schema"] == state_mod.SCHEMA_VERSION
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_interrupted_run_is_recognised(tmp_path: Path) -> None:
    st = _sample()
    st.last_run = RunRecord(started_at="t0")  # result "running" never replaced: killed
    save_state(tmp_path / "s.json", st)
    assert load_state(tmp_path / "s.json").was_interrupted()
    assert not _sample().was_interrupted()


def test_failed_write_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    save_state(path, _sample())
    before = path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state_mod.os, "replace", broken_replace)
    changed = _sample()
    changed.bundle_version = "other"
    with pytest.raises(OSError):
        save_state(path, changed)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["state.json"]


def test_write_replaces_inode_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(path, _sample())
    first_inode = path.stat().st_ino
    with path.open() as reader:  # a reader holding the old file still sees a whole document
        save_state(path, InstallState(bundle_version="new"))
        assert json.load(reader)["bundle_version"] == "2025.2"
    assert path.stat().st_ino != first_inode
    assert load_state(path).bundle_version == "new"


def test_corrupt_state_is_an_input_error_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{half a docu")
    with pytest.raises(InputError) as err:
        load_state(path)
    assert "unreadable" in err.value.message and "mv" in (err.value.hint or "")
