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


def _mkconfig(tmp: Path) -> Path:
    """A stand-in for update-grub: writes a grub.cfg listing the kernel, with the default
    GRUB_DEFAULT asks for, and counts its runs."""
    script = tmp / "update-grub"
    script.write_text(
        "#!/bin/sh\n"
        f"echo run >> {tmp}/mkconfig-runs\n"
        f"if grep -q '^GRUB_DEFAULT=saved' {tmp}/default-grub; then\n"
        f"  echo 'set default=\"${{saved_entry}}\"' > {tmp}/grub.cfg\n"
        f"else echo 'set default=\"0\"' > {tmp}/grub.cfg; fi\n"
        f"cat {tmp}/menu >> {tmp}/grub.cfg\n"
    )
    script.chmod(0o755)
    (tmp / "menu").write_text(_MENU)
    return script


def test_the_trial_makes_grub_default_saved_and_regenerates_a_grub_cfg_without_the_kernel(
    tmp_path: Path,
) -> None:
    args = {**_trial_args(tmp_path, "", "6.12.1-amd64"), "saved_default": True,
            "original": str(tmp_path / "default-grub.orig"),
            "mkconfig": str(_mkconfig(tmp_path))}  # fmt: skip
    (tmp_path / "default-grub").write_text("GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n")
    checked = _ansible(tmp_path, "multiarc.platform.multiarc_boot_trial", args, "--check")
    assert not checked["failed"] and checked["found"] is False and checked["changed"]
    assert not (tmp_path / "mkconfig-runs").exists()  # check mode: nothing run or written
    assert (tmp_path / "default-grub").read_text() == "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n"
    first = _ansible(tmp_path, "multiarc.platform.multiarc_boot_trial", args)
    assert not first["failed"], first
    assert first["found"] and first["regenerated"] and first["changed"] and first["cfg_uses_saved"]
    assert (tmp_path / "default-grub").read_text() == "GRUB_DEFAULT=saved\nGRUB_TIMEOUT=5\n"
    assert (tmp_path / "default-grub.orig").read_text() == "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n"
    again = _ansible(tmp_path, "multiarc.platform.multiarc_boot_trial", args)
    assert not again["failed"] and not again["changed"] and not again["regenerated"]
    assert (tmp_path / "mkconfig-runs").read_text() == "run\n"  # once in all


def test_a_kernel_grub_cfg_still_lacks_after_mkconfig_fails_the_lookup(tmp_path: Path) -> None:
    script = _mkconfig(tmp_path)
    (tmp_path / "menu").write_text("")  # update-grub does not list the kernel either
    (tmp_path / "default-grub").write_text("GRUB_DEFAULT=0\n")
    args = {**_trial_args(tmp_path, "", "6.1.0-old"), "mkconfig": str(script)}
    for module in ("multiarc_boot_trial", "multiarc_grub_entry"):
        params = args if module == "multiarc_boot_trial" else {
            "path": args["grub_cfg"], "release": args["release"], "mkconfig": str(script)}
        failed = _ansible(tmp_path, f"multiarc.platform.{module}", params)
        assert failed["failed"], failed
        assert f"even after {script}: check /boot and the GRUB setup" in failed["msg"]


_CFG_WITH = """menuentry 'Debian' {
	linux /boot/vmlinuz-6.12.1-amd64 root=/dev/sda1 ro quiet intel_iommu=off
}
menuentry 'Debian (recovery mode)' {
	linux /boot/vmlinuz-6.12.1-amd64 root=/dev/sda1 ro single
}
"""


@pytest.mark.parametrize(
    ("line", "after"),
    [
        ('GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on splash"',
         'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash intel_iommu=off"'),
        ("GRUB_CMDLINE_LINUX_DEFAULT=''", 'GRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=off"'),
        ("GRUB_TIMEOUT=5", 'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=off"'),
        # there already, in the user's own quoting: left exactly as it is
        ("GRUB_CMDLINE_LINUX_DEFAULT='quiet intel_iommu=off'",
         "GRUB_CMDLINE_LINUX_DEFAULT='quiet intel_iommu=off'"),
    ],
)  # fmt: skip
def test_grub_cmdline_adds_the_parameter_keeping_the_users_others(
    tmp_path: Path, line: str, after: str
) -> None:
    defaults = tmp_path / "default-grub"
    defaults.write_text(f"GRUB_DEFAULT=0\n{line}\n")
    (tmp_path / "grub.cfg").write_text(_CFG_WITH)
    args = {"params": ["intel_iommu=off"], "defaults_file": str(defaults),
            "grub_cfg": str(tmp_path / "grub.cfg"), "original": str(tmp_path / "orig")}
    checked = _ansible(tmp_path, "multiarc.platform.multiarc_grub_cmdline", args, "--check")
    assert defaults.read_text() == f"GRUB_DEFAULT=0\n{line}\n" and not (tmp_path / "orig").exists()
    first = _ansible(tmp_path, "multiarc.platform.multiarc_grub_cmdline", args)
    assert not first["failed"] and first["changed"] and checked["changed"]  # the original kept
    assert any(c.startswith("set a line") for c in first["changes"]) == (line != after)
    assert defaults.read_text() == f"GRUB_DEFAULT=0\n{after}\n"
    assert (tmp_path / "orig").read_text() == f"GRUB_DEFAULT=0\n{line}\n"  # kept once
    assert first["stale"] is False  # the normal entry has it; recovery entries do not count
    again = _ansible(tmp_path, "multiarc.platform.multiarc_grub_cmdline", args)
    assert not again["changed"]


def test_grub_cmdline_says_a_grub_cfg_without_the_parameter_is_stale(tmp_path: Path) -> None:
    defaults = tmp_path / "default-grub"
    defaults.write_text('GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=off"\n')
    args = {"params": ["intel_iommu=off"], "defaults_file": str(defaults),
            "grub_cfg": str(tmp_path / "grub.cfg")}
    for cfg, stale in ((_CFG_WITH, False), (_CFG_WITH.replace(" intel_iommu=off", ""), True),
                       (_CFG_WITH.replace("intel_iommu=off", "intel_iommu=offx"), True),
                       ("", True)):  # fmt: skip
        (tmp_path / "grub.cfg").write_text(cfg)
        result = _ansible(tmp_path, "multiarc.platform.multiarc_grub_cmdline", args)
        assert result["stale"] is stale and not result["changed"], cfg
