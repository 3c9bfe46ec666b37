"""The driver: ansible-runner arguments, role selection, and events → progress/summary."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from multiarc.installer import driver
from multiarc.installer.driver import PlaybookRun, parse_role_list, runner_kwargs
from multiarc.installer.progress import PlainView, RichView, RunTally, estimate_task_count
from multiarc.installer.summary import CONTAINER_SKIP, role_outcomes
from rich.console import Console

from multiarc.errors import ExitCode, InputError

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings" / "installer"


def _events(name: str) -> list[dict[str, Any]]:
    lines = (RECORDINGS / name).read_text().splitlines()
    return [json.loads(line) for line in lines]


def _tally(name: str) -> RunTally:
    tally = RunTally()
    for event in _events(name):
        tally.feed(event)
    return tally


# -- ansible-runner arguments -------------------------------------------------------------


def test_check_mode_passes_check_and_diff(tmp_path: Path) -> None:
    run = PlaybookRun(
        inventory=tmp_path / "hosts",
        private_dir=tmp_path,
        check=True,
        extravars={"multiarc_os_override": True},
    )
    kwargs = runner_kwargs(run)
    assert kwargs["cmdline"] == "--check --diff"
    assert kwargs["extravars"] == {"multiarc_os_override": True}
    assert kwargs["inventory"] == str(tmp_path / "hosts")
    assert kwargs["private_data_dir"] == str(tmp_path)
    assert kwargs["playbook"].endswith("playbooks/site.yml")
    assert "tags" not in kwargs and "skip_tags" not in kwargs


def test_real_run_has_no_check_flags_and_tags_follow_only_skip(tmp_path: Path) -> None:
    run = PlaybookRun(
        inventory=tmp_path / "h", private_dir=tmp_path, only=["kernel", "grub"], skip=["docker"]
    )
    kwargs = runner_kwargs(run)
    assert "cmdline" not in kwargs
    assert kwargs["tags"] == "kernel,grub"
    assert kwargs["skip_tags"] == "docker"


def test_environment_is_lean_and_controlled(tmp_path: Path) -> None:
    run = PlaybookRun(
        inventory=tmp_path / "h",
        private_dir=tmp_path,
        roles_dir=tmp_path / "r",
        control_dir=tmp_path / "cp",
    )
    env = runner_kwargs(run)["envvars"]
    assert env["ANSIBLE_PIPELINING"] == "True"
    assert env["ANSIBLE_ROLES_PATH"] == str(tmp_path / "r")
    assert env["ANSIBLE_GATHERING"] == "explicit"
    assert env["ANSIBLE_SSH_CONTROL_PATH_DIR"] == str(tmp_path / "cp")


# -- role selection -----------------------------------------------------------------------

KNOWN = ["preflight", "kernel", "grub", "docker"]


def test_role_list_is_split_deduplicated_and_checked() -> None:
    assert parse_role_list(" kernel,grub,,kernel ", KNOWN, "--only") == ["kernel", "grub"]
    assert parse_role_list(None, KNOWN, "--only") == []


def test_unknown_role_is_a_usage_error_listing_the_roles() -> None:
    with pytest.raises(InputError) as err:
        parse_role_list("kernel,gpu", KNOWN, "--skip")
    assert err.value.exit_code == ExitCode.USAGE
    assert "--skip: unknown role(s): gpu" in err.value.message
    assert err.value.hint == "roles are: preflight, kernel, grub, docker"


def test_available_roles_are_folders_with_tasks(tmp_path: Path) -> None:
    (tmp_path / "kernel" / "tasks").mkdir(parents=True)
    (tmp_path / "kernel" / "tasks" / "main.yml").write_text("[]\n")
    (tmp_path / "notes").mkdir()
    assert driver.available_roles(tmp_path) == ["kernel"]


# -- events → tally, views, summary (recorded runner events) ------------------------------


def test_check_run_events_map_to_counts_diffs_and_facts() -> None:
    tally = _tally("runner_events_check.jsonl")
    demo = tally.hosts["localhost"]["demo"]
    # check mode: command tasks are skipped, the copy reports what it would change
    assert (demo.ok, demo.changed, demo.failed, demo.skipped) == (1, 1, 0, 4)
    assert demo.changed_tasks == ["Write the marker file"]
    changed = [r for r in tally.results if r.status == "changed"]
    assert len(changed) == 1 and "+installed" in changed[0].diff
    assert changed[0].diff.startswith("--- before\n+++ after:")
    assert tally.fact("localhost", "multiarc_container") is True
    assert tally.fact("localhost", "multiarc_reboot_required") is True
    assert tally.recap["localhost"] == {"ok": 3, "changed": 1, "skipped": 5}
    assert tally.tasks_started == 8


def test_failed_run_names_the_task_and_its_stderr() -> None:
    tally = _tally("runner_events_failed.jsonl")
    failed = [r for r in tally.results if r.status == "failed" and not r.ignored]
    assert [(r.role, r.task, r.message) for r in failed] == [("demo", "Fails for real", "broken")]
    assert [r.task for r in tally.results if r.ignored] == ["Fails but ignored"]
    assert tally.totals().failed == 1
    assert tally.recap["localhost"]["failures"] == 1


def test_summary_rows_say_what_changed_and_why_roles_were_skipped() -> None:
    tally = _tally("runner_events_check.jsonl")
    rows = role_outcomes(
        tally, ["localhost"], ["demo", "hostonly", "docker"], ["demo", "hostonly"], check=True
    )
    by_role = {r.role: r for r in rows}
    assert by_role["demo"].result == "would change"
    assert by_role["demo"].changed_tasks == ["Write the marker file"]
    assert (by_role["hostonly"].result, by_role["hostonly"].reason) == ("skipped", CONTAINER_SKIP)
    assert (by_role["docker"].result, by_role["docker"].reason) == ("not selected", "--only/--skip")


def test_failed_role_row() -> None:
    rows = role_outcomes(
        _tally("runner_events_failed.jsonl"), ["localhost"], ["demo"], ["demo"], check=False
    )
    demo = next(r for r in rows if r.role == "demo")
    assert demo.result == "failed" and demo.failed_tasks == ["Fails for real"]


def test_plain_view_prints_one_line_per_result_with_n_of_m() -> None:
    out = io.StringIO()
    view = PlainView(out, show_diffs=True)
    tally = RunTally(expected_tasks=9)
    view.start(9)
    for event in _events("runner_events_check.jsonl"):
        view.update(tally, tally.feed(event))
    text = out.getvalue()
    assert "[  4/9] localhost demo: Write the marker file ... changed" in text
    assert "+++ after:" in text  # the diff follows in check mode
    assert "skipped" not in text  # skipped tasks stay quiet


def test_rich_view_renders_counts_and_changed_tasks() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    view = RichView(console)
    tally = RunTally(expected_tasks=9)
    view.start(9)
    for event in _events("runner_events_failed.jsonl"):
        view.update(tally, tally.feed(event))
    view.stop()
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Fails for real — broken" in text
    assert "changed 1" in text and "failed 1" in text


def test_task_count_estimate_follows_blocks_and_includes(tmp_path: Path) -> None:
    roles = tmp_path / "roles"
    (roles / "r1" / "tasks").mkdir(parents=True)
    (roles / "r1" / "tasks" / "main.yml").write_text(
        "- name: a\n  ansible.builtin.debug: {}\n"
        "- block:\n    - name: b\n      ansible.builtin.debug: {}\n"
        "    - name: c\n      ansible.builtin.debug: {}\n"
        "  always:\n    - name: d\n      ansible.builtin.debug: {}\n"
        "- name: more\n  ansible.builtin.include_tasks: more.yml\n"
        "- name: static\n  ansible.builtin.import_tasks: more.yml\n"
    )
    (roles / "r1" / "tasks" / "more.yml").write_text("- name: e\n  ansible.builtin.debug: {}\n")
    playbook = tmp_path / "site.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  roles: [r1]\n")
    # a, b, c, d, the include + e, e (imported) = 7
    assert estimate_task_count(playbook, roles, ["r1"]) == 7


# -- a real run through ansible-runner ----------------------------------------------------


def test_real_check_run_changes_nothing_and_records_everything(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    (demo / "roles" / "demo" / "tasks").mkdir(parents=True)
    (demo / "roles" / "demo" / "tasks" / "main.yml").write_text(
        "- name: Write the marker file\n"
        '  ansible.builtin.copy:\n    dest: "{{ demo_dest }}"\n'
        '    content: "installed\\n"\n    mode: "0644"\n'
    )
    (demo / "site.yml").write_text(
        "- name: Demo\n  hosts: all\n  gather_facts: false\n  roles:\n"
        "    - role: demo\n      tags: [demo]\n"
    )
    marker = tmp_path / "marker.txt"
    from multiarc.installer.driver import EventRecorder, run_playbook
    from multiarc.installer.inventory import write_localhost_inventory

    def run(check: bool) -> tuple[str, RunTally, str]:
        private = tmp_path / f"pd-{check}"
        run = PlaybookRun(
            inventory=write_localhost_inventory(private / "inv"),
            private_dir=private,
            playbook=demo / "site.yml",
            roles_dir=demo / "roles",
            extravars={"demo_dest": str(marker)},
            check=check,
        )
        events, log = io.StringIO(), io.StringIO()
        outcome = run_playbook(run, PlainView(io.StringIO()), EventRecorder(events, log), ["demo"])
        assert all(json.loads(line)["event"] for line in events.getvalue().splitlines())
        return outcome.status, outcome.tally, log.getvalue()

    status, tally, log = run(check=True)
    assert status == "successful" and tally.totals().changed == 1
    assert not marker.exists()  # check mode changed nothing
    assert "+installed" in log  # the diff is in the install log
    status, tally, _ = run(check=False)
    assert status == "successful" and marker.read_text() == "installed\n"
    status, tally, _ = run(check=False)
    assert tally.totals().changed == 0  # idempotent re-run


# -- ad-hoc runs (repair, reboot): what a failed node said reaches the error ---------------


def test_a_failed_repair_names_what_the_node_said_and_keeps_its_whole_output(
    tmp_path: Path,
) -> None:
    """A real ad-hoc Ansible run on this machine (local connection): the repair's shell
    fails, and the node's last line is in the one error line, all of its output in a log."""
    from multiarc.installer import node_ops

    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        f"[nodes]\nrack-7 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    failing = "echo 'Reading package lists...'; echo 'E: Unmet dependencies: libze1' >&2; exit 100"
    result = driver.run_adhoc(inventory, ["rack-7"], "ansible.builtin.shell", failing, tmp_path)
    assert result.status == "failed"
    assert result.last_words() == "rack-7: E: Unmet dependencies: libze1"

    log = tmp_path / "repair.log"
    original = node_ops.REPAIR_DPKG
    try:
        node_ops.REPAIR_DPKG = failing
        with pytest.raises(node_ops.MultiarcError) as raised:
            node_ops.repair_packages(inventory, ["rack-7"], tmp_path / "runner", log)
    finally:
        node_ops.REPAIR_DPKG = original
    rendered = raised.value.render().splitlines()
    assert rendered[0] == (
        "error: dpkg --configure -a failed after the interrupted run (apt-get -f install too): "
        "rack-7: E: Unmet dependencies: libze1"
    )
    assert rendered[1].startswith("  hint: see `dpkg --audit`") and str(log) in rendered[1]
    assert log.read_text().splitlines() == [
        "== rack-7", "Reading package lists...", "E: Unmet dependencies: libze1",
    ]  # fmt: skip
    assert list((tmp_path / "runner").iterdir()) == []  # the ad-hoc folder does not stay
