"""multiarc-install's command line: help, exit codes and error lines (click's CliRunner)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.installer import cli as cli_module
from multiarc.installer import driver, preflight
from multiarc.installer.cli import main
from multiarc.installer.preflight import OsRelease

from multiarc import paths

ROLES = ["preflight", "local_repo", "kernel", "grub", "docker"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Controller folders in tmp_path and a roles/ folder with known roles."""
    monkeypatch.setattr(paths, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(paths, "INSTALL_LOG_DIR", tmp_path / "log")
    roles = tmp_path / "roles"
    for role in ROLES:
        (roles / role / "tasks").mkdir(parents=True)
        (roles / role / "tasks" / "main.yml").write_text("[]\n")
    monkeypatch.setattr(driver, "ROLES_DIR", roles)
    return tmp_path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "250"}).invoke(main, list(args))
    return result.exit_code, result.output


def test_help_teaches_with_examples_and_exit_codes() -> None:
    code, out = _run("--help")
    assert code == 0
    for text in (
        "--offline BUNDLE.tar.xz",
        "--check",
        "--only ROLE,..",
        "--inventory FILE",
        "--verify",
        "--allow-os-override",
        "--reverify",
        "Examples:",
        "multiarc-install --verify --inventory rack1.ini",
        "multiarc-install bundle create SRC_DIR",
        "Exit codes: 0 ok, 1 failed",
    ):
        assert text in out, text


def test_nothing_to_do_is_a_usage_error() -> None:
    code, out = _run()
    assert code == 2
    assert "error: nothing to do" in out and "--offline BUNDLE.tar.xz or --verify" in out


def test_verify_and_offline_together_are_refused(env: Path) -> None:
    code, out = _run("--verify", "--offline", "b.tar.xz")
    assert code == 2 and "separate steps" in out


def test_unknown_role_exits_2_with_the_role_list(env: Path) -> None:
    bundle = env / "b.tar.xz"
    bundle.write_bytes(b"x")
    code, out = _run("--offline", str(bundle), "--only", "kernel,gpu_drivers")
    assert code == 2
    assert "error: --only: unknown role(s): gpu_drivers" in out
    assert "roles are: preflight, local_repo, kernel, grub, docker" in out
    code, out = _run("--offline", str(bundle), "--skip", "dockr")
    assert code == 2 and "--skip: unknown role(s): dockr" in out


def test_skip_check_needs_verify_and_known_names(env: Path) -> None:
    code, out = _run("--offline", "b.tar.xz", "--skip-check", "xe-module")
    assert code == 2 and "--skip-check goes with --verify" in out
    code, out = _run("--verify", "--skip-check", "fan-speed")
    assert code == 2 and "unknown check(s): fan-speed" in out


def test_missing_bundle_is_an_input_error(env: Path) -> None:
    code, out = _run("--offline", str(env / "nope.tar.xz"), "--yes")
    assert code == 2 and "bundle not found" in out


def test_inventory_errors_are_input_errors_before_anything_changes(
    env: Path, bundle_archive: Path
) -> None:
    """The inventory is read while the bundle is verified: a missing file is said at once,
    an inventory without hosts after the verification; exit 2, never a traceback."""
    code, out = _run("--offline", str(bundle_archive), "--inventory", "/no/such.ini", "--yes")
    assert code == 2 and "inventory file not found: /no/such.ini" in out and "hint:" in out
    empty = env / "empty.ini"
    empty.write_text("# no hosts yet\n[nodes]\n")
    code, out = _run("--offline", str(bundle_archive), "--inventory", str(empty), "--yes")
    assert code == 2 and f"inventory {empty} defines no hosts" in out, out
    assert "Traceback" not in out
    assert not (env / "state" / "state.json").exists()


def test_a_bad_bundle_is_exit_2_before_the_os_gate(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: the bundle is checked first; a bad bundle is exit 2 whatever the machine."""
    bundle = env / "fake.tar.xz"
    bundle.write_bytes(b"not a bundle")
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    fedora = OsRelease("fedora", "41", (), "Fedora Linux 41")
    monkeypatch.setattr(preflight, "read_os_release", lambda: fedora)
    code, out = _run("--offline", str(bundle), "--yes")
    assert code == 2 and "fake.tar.xz is not a known archive format" in out and "hint:" in out
    assert not (env / "state").exists() or not list((env / "state").rglob("*.json"))


def test_not_root_is_not_ready(env: Path, monkeypatch: pytest.MonkeyPatch, intel_archive: Path
) -> None:
    bundle = env / "b.tar.xz"
    shutil.copy(intel_archive, bundle)  # a valid bundle: the bundle is judged first
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    code, out = _run("--offline", str(bundle), "--yes")
    assert code == 3
    assert "must run as root" in out and "sudo" in out


def test_unsupported_os_needs_the_override(
    env: Path, monkeypatch: pytest.MonkeyPatch, intel_archive: Path
) -> None:
    bundle = env / "b.tar.xz"
    shutil.copy(intel_archive, bundle)  # a valid bundle: the bundle is judged first
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 0)
    monkeypatch.setattr(preflight, "machine_arch", lambda: "amd64")
    fedora = OsRelease("fedora", "41", (), "Fedora Linux 41")
    monkeypatch.setattr(preflight, "read_os_release", lambda: fedora)
    code, out = _run("--offline", str(bundle), "--yes")
    assert code == 3 and "unsupported system: Fedora Linux 41 amd64" in out
    assert "--allow-os-override" in out
    code, out = _run("--offline", str(bundle), "--yes", "--allow-os-override")
    assert code == 3 and "Debian-family amd64 systems only" in out
    assert not (env / "state" / "state.json").exists()  # nothing was written


def test_concurrent_run_exits_3_naming_the_holder(
    env: Path, monkeypatch: pytest.MonkeyPatch, intel_archive: Path
) -> None:
    bundle = env / "b.tar.xz"
    shutil.copy(intel_archive, bundle)  # a valid bundle: the bundle is judged first
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 0)
    monkeypatch.setattr(preflight, "machine_arch", lambda: "amd64")
    ubuntu = OsRelease("ubuntu", "25.04", ("debian",), "Ubuntu 25.04")
    monkeypatch.setattr(preflight, "read_os_release", lambda: ubuntu)
    lock = env / "state" / "install.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from pathlib import Path; from multiarc.installer.lock import "
            "InstallLock; InstallLock(Path(sys.argv[1])).acquire(); print('held', flush=True); "
            "time.sleep(60)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, out = _run("--offline", str(bundle), "--yes")
        assert code == 3
        assert f"another multiarc-install is running (process {holder.pid} holds" in out
    finally:
        holder.kill()
        holder.wait()


def _record(env: Path, monkeypatch: pytest.MonkeyPatch, text: str | None) -> None:
    """This machine's node record (localhost's node-state.json) in a test folder."""
    record = env / "node-state.json"
    monkeypatch.setattr(paths, "NODE_STATE_FILE", record)
    if text is not None:
        record.write_text(text)


def test_verify_without_an_install_is_not_ready(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(env, monkeypatch, None)
    code, out = _run("--verify")
    assert code == 3 and "nothing to verify: localhost: no multiarc install recorded" in out


def test_verify_names_a_missing_inventory(env: Path) -> None:
    code, out = _run("--verify", "--inventory", "/nonexistent.ini")
    assert code == 2 and "inventory file not found: /nonexistent.ini" in out


RECORD = (
    '{"bundle_version": "%s", "target_kernel": "6.14.0-1006-intel", '
    '"cmdline_params": ["intel_iommu=off", "xe.force_probe=e211"], "container": false}'
)


def test_verify_prints_the_table_and_exits_1_on_failures(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle_dir = env / "state" / "bundles" / "t1"
    (bundle_dir / "firmware").mkdir(parents=True)
    (bundle_dir / "firmware" / "bmg_huc.bin.zst").write_bytes(b"huc")
    _record(env, monkeypatch, RECORD % "t1")
    code, out = _run("--verify", "--skip-check", "running-kernel,kernel-cmdline,xe-module")
    assert code == 1
    assert "verifying bundle t1 on localhost" in out
    assert "0 pass, 2 fail, 3 skip" in out
    assert "/lib/firmware/xe/bmg_huc.bin.zst is missing" in out
    # the node's own kernel parameters (an inventory override) are what is checked
    assert "intel_iommu=off xe.force_probe=e211" in out
    assert "skipped on request" in out
    assert "error: " in out and "check(s) failed" in out


def test_verify_fails_a_node_whose_bundle_this_controller_lacks(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(env, monkeypatch, RECORD % "elsewhere-1")
    code, out = _run("--verify")
    assert code == 1 and "no copy of bundle elsewhere-1" in out


def test_verify_with_every_check_skipped_is_not_a_pass(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (env / "state" / "bundles" / "t2").mkdir(parents=True)
    _record(env, monkeypatch, RECORD % "t2")
    code, out = _run(
        "--verify", "--skip-check", "running-kernel,kernel-cmdline,xe-module,grub-cmdline"
    )
    assert code == 1 and "everything was skipped" in out


def test_ctrl_c_says_how_to_finish_and_exits_130(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = env / "b.tar.xz"
    bundle.write_bytes(b"x")

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "install", interrupted)
    code, out = _run("--offline", str(bundle), "--yes")
    assert code == 130
    assert "run the same command again to finish" in out
    assert str(paths.STATE_DIR / "state.json") in out
