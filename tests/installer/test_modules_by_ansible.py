"""Node modules run by Ansible itself on this machine (connection local):

- multiarc_preflight, the run's first task on every node: the facts it gathers are
  setup's, the probe reads the real dpkg and filesystems, the lock keeps two controllers
  apart;
- multiarc_boot_trial's lookup: a kernel that grub.cfg does not list yet is reported (the
  kernel role regenerates grub.cfg and asks again), not a failure, and nothing is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from multiarc.collection import COLLECTIONS_PATH

SUBSET = "!all,!min,distribution,platform,virtual,service_mgr,user"


def _ansible(tmp: Path, module: str, args: dict[str, Any] | str, *extra: str) -> dict[str, Any]:
    tree = tmp / f"tree-{len(list(tmp.glob('tree-*')))}"
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
           "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"), "ANSIBLE_HOME": str(tmp / "home")}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible")), "localhost", "-i", "localhost,", "-c",
         "local", "-e", f"ansible_python_interpreter={sys.executable}", "--tree", str(tree),
         "-m", module, "-a", args if isinstance(args, str) else json.dumps(args), *extra],
        env=env, capture_output=True, text=True, timeout=120)
    result: dict[str, Any] = json.loads((tree / "localhost").read_text())
    result["failed"] = proc.returncode != 0  # the tree holds the module's answer only
    return result


def _owner(controller: str, run_id: str) -> dict[str, str]:
    return {"controller": controller, "run_id": run_id, "pid": "1", "started": "now"}


def test_one_run_gathers_setups_facts_and_probes_the_node(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marker.touch()
    ours = _ansible(tmp_path, "multiarc.platform.multiarc_preflight", {
        "markers": [str(marker), str(tmp_path / "absent")],
        "space_paths": ["/var/lib", str(tmp_path / "absent")],
        "packages": ["dpkg", "no-such-package-here"],
    })
    setup = _ansible(tmp_path, "ansible.builtin.setup", f"gather_subset={SUBSET}")
    assert not ours.get("failed"), ours
    facts, expected = ours["ansible_facts"], setup["ansible_facts"]
    assert set(facts) == set(expected)
    for name in ("ansible_distribution", "ansible_distribution_version", "ansible_architecture",
                 "ansible_os_family", "ansible_effective_user_id", "ansible_kernel",
                 "ansible_virtualization_type", "ansible_service_mgr"):
        assert facts[name] == expected[name], name
    assert sorted(facts["ansible_virtualization_tech_guest"]) == sorted(
        expected["ansible_virtualization_tech_guest"])
    assert ours["markers"] == [str(marker)]
    stat = os.statvfs("/var/lib")
    assert abs(ours["free_mb"] - stat.f_bavail * stat.f_frsize // 2**20) < 64
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "dpkg"], capture_output=True,
                             text=True, check=True).stdout
    assert ours["installed_specs"] == [f"dpkg={version}"]
    assert ours["changed"] is False and ours["holder"] is None


def test_the_lock_keeps_another_controller_out_and_check_mode_takes_none(
        tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    args = {"lock_path": str(lock), "lock_owner": _owner("laptop-a", "r1")}
    checked = _ansible(tmp_path, "multiarc.platform.multiarc_preflight", args, "--check")
    assert not checked.get("failed") and not lock.exists()  # check mode: no lock
    first = _ansible(tmp_path, "multiarc.platform.multiarc_preflight", args)
    assert not first.get("failed") and json.loads(lock.read_text())["run_id"] == "r1"
    other = _ansible(tmp_path, "multiarc.platform.multiarc_preflight",
                     {**args, "lock_owner": _owner("laptop-b", "r9")})
    assert other["failed"] and "another multiarc-install holds this node: laptop-a" in other["msg"]
    assert json.loads(lock.read_text())["run_id"] == "r1"  # untouched
    again = _ansible(tmp_path, "multiarc.platform.multiarc_preflight",
                     {**args, "lock_owner": _owner("laptop-a", "r2")})  # its own dead run
    assert again["taken_over"] and json.loads(lock.read_text())["run_id"] == "r2"


def test_a_link_planted_as_the_lock_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("keep")
    lock = tmp_path / "lock"
    lock.symlink_to(target)
    result = _ansible(tmp_path, "multiarc.platform.multiarc_preflight",
                      {"lock_path": str(lock), "lock_owner": _owner("laptop-a", "r1")})
    assert result["failed"] and "unreadable lock" in result["msg"]
    assert target.read_text() == "keep" and lock.is_symlink()


@pytest.mark.parametrize("paths", [[], ["/no/such/folder"]])
def test_no_filesystem_to_measure_is_no_free_space(tmp_path: Path, paths: list[str]) -> None:
    result = _ansible(tmp_path, "multiarc.platform.multiarc_preflight", {"space_paths": paths})
    assert result["free_mb"] is None and result["installed_specs"] == []


_MENU = """menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-x' {
	linux /boot/vmlinuz-6.12.1-amd64 root=/dev/sda1 ro
}
"""


def _trial_args(tmp: Path, cfg: str, running: str) -> dict[str, str]:
    (tmp / "grub.cfg").write_text(cfg)
    (tmp / "osrelease").write_text(running + "\n")
    (tmp / "boot").mkdir(exist_ok=True)
    return {"release": "6.12.1-amd64", "grub_cfg": str(tmp / "grub.cfg"),
            "boot_directory": str(tmp / "boot"), "defaults_file": str(tmp / "default-grub"),
            "running_release_file": str(tmp / "osrelease"),
            "state_file": str(tmp / "state.json")}


def test_a_kernel_grub_does_not_list_yet_is_reported_and_nothing_is_set(tmp_path: Path) -> None:
    args = _trial_args(tmp_path, "", "6.1.0-old")
    reported = _ansible(tmp_path, "multiarc.platform.multiarc_boot_trial",
                        {**args, "missing": "report"})
    assert not reported["failed"] and reported["found"] is False
    assert reported["running"] == "6.1.0-old" and reported["trial"] is None
    assert not reported["changed"] and not (tmp_path / "boot" / "grub").exists()
    failed = _ansible(tmp_path, "multiarc.platform.multiarc_boot_trial", args)  # the default
    assert failed["failed"] and "has no entry for vmlinuz-6.12.1-amd64" in failed["msg"]


def test_the_lookup_and_the_trial_in_one_run_when_grub_lists_the_kernel(tmp_path: Path) -> None:
    args = _trial_args(tmp_path, _MENU, "6.12.1-amd64")  # the kernel runs: nothing to try
    result = _ansible(tmp_path, "multiarc.platform.multiarc_boot_trial",
                      {**args, "missing": "report"})
    assert not result["failed"] and result["found"] is True
    assert result["entry"] == "gnulinux-simple-x" and result["trial"] is None
    assert not result["changed"]
