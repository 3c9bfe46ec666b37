"""Run the collection's playbook (site.yml) through ansible-runner and record every event.

:func:`runner_kwargs` builds the exact ``ansible_runner.run`` call (inventory, extravars,
tags for ``--only``/``--skip``, ``--check --diff``, environment); :func:`run_playbook`
runs it, feeding each event to a :class:`~multiarc.installer.progress.RunTally`, the live
view, a readable log and a JSON-lines file of the raw events. SSH connection multiplexing
stays on (it is what makes a run over SSH fast) with its sockets in a private folder,
and every master left running is told to exit when the run ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import ansible_runner
import psutil
from multiarc.collection import COLLECTION_NAME, COLLECTION_ROOT, COLLECTIONS_PATH
from multiarc.installer.progress import RunTally, View, estimate_task_count

from multiarc import yaml_files
from multiarc.errors import InputError

# The collection multiarc.platform ships inside the package (see multiarc/collection).
PLAYBOOK = COLLECTION_ROOT / "playbooks" / "site.yml"
ROLES_DIR = COLLECTION_ROOT / "roles"


def module_name(short: str) -> str:
    """The fully qualified name of one of the collection's modules (ad-hoc runs)."""
    return f"{COLLECTION_NAME}.{short}"


def available_roles(roles_dir: Path | None = None) -> list[str]:
    """The roles the playbook can run: folders of roles/ that have tasks/main.yml."""
    roles_dir = roles_dir or ROLES_DIR
    if not roles_dir.is_dir():
        return []
    return sorted(p.name for p in roles_dir.iterdir() if (p / "tasks" / "main.yml").is_file())


def playbook_roles(playbook: Path | None = None, roles_dir: Path | None = None) -> list[str]:
    """Roles in the order the playbook runs them (then any other role folder, sorted)."""
    known = available_roles(roles_dir)
    ordered: list[str] = []
    try:
        plays = yaml_files.load_file(playbook or PLAYBOOK) or []
    except (OSError, yaml_files.YAMLError):
        plays = []
    for play in plays if isinstance(plays, list) else []:
        if not isinstance(play, dict):
            continue
        for entry in play.get("roles") or []:
            name = entry.get("role") or entry.get("name") if isinstance(entry, dict) else entry
            name = _short_role(name)
            if isinstance(name, str) and name in known and name not in ordered:
                ordered.append(name)
        for section in ("pre_tasks", "tasks", "post_tasks"):
            for task in play.get(section) or []:
                for key in ROLE_INCLUDES:
                    ref = task.get(key) if isinstance(task, dict) else None
                    name = _short_role(ref.get("name") if isinstance(ref, dict) else None)
                    if isinstance(name, str) and name in known and name not in ordered:
                        ordered.append(name)
    return ordered + [r for r in known if r not in ordered]


def _short_role(name: object) -> str | None:
    """``multiarc.platform.kernel`` → ``kernel`` (roles are named by their folder)."""
    return name.rsplit(".", 1)[-1] if isinstance(name, str) else None


ROLE_INCLUDES = (
    "ansible.builtin.include_role",
    "include_role",
    "ansible.builtin.import_role",
    "import_role",
)


def parse_role_list(value: str | None, known: Iterable[str], option: str) -> list[str]:
    """Split "a,b" into role names; InputError (exit 2) naming the known roles on a typo."""
    if not value:
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    known_list = list(known)
    unknown = [n for n in names if n not in known_list]
    if unknown:
        raise InputError(
            f"{option}: unknown role(s): {', '.join(unknown)}",
            f"roles are: {', '.join(known_list) or '(none found)'}",
        )
    return list(dict.fromkeys(names))


@dataclass
class PlaybookRun:
    """One ansible-playbook run: what, where, with which selection."""

    inventory: Path
    private_dir: Path
    extravars: dict[str, Any] = field(default_factory=dict)
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    check: bool = False
    playbook: Path = field(default_factory=lambda: PLAYBOOK)
    roles_dir: Path = field(default_factory=lambda: ROLES_DIR)
    control_dir: Path | None = None  # SSH ControlPath folder (short path: sockets)


@dataclass
class PlaybookOutcome:
    status: str  # ansible-runner's: successful, failed, canceled, timeout
    rc: int
    tally: RunTally


def runner_envvars(control_dir: Path | None) -> dict[str, str]:
    env = {
        "ANSIBLE_PIPELINING": "True",
        # Ansible's default adds -C: zlib over a bundle of already compressed packages made
        # the archive transfer 6x slower than scp. Inventories may still set ansible_ssh_args.
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_ROLES_PATH": str(ROLES_DIR),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "True",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        # ansible-playbook and its modules come from the Python running multiarc-install.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if control_dir is not None:
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_dir)
    return env


def runner_kwargs(run: PlaybookRun) -> dict[str, Any]:
    """Keyword arguments for ansible_runner.run (without the event handler)."""
    env = runner_envvars(run.control_dir)
    env["ANSIBLE_ROLES_PATH"] = str(run.roles_dir)
    kwargs: dict[str, Any] = {
        "private_data_dir": str(run.private_dir),
        "playbook": str(run.playbook),
        "inventory": str(run.inventory),
        "extravars": dict(run.extravars),
        "envvars": env,
        "quiet": True,
        "rotate_artifacts": 3,
    }
    if run.only:
        kwargs["tags"] = ",".join(run.only)
    if run.skip:
        kwargs["skip_tags"] = ",".join(run.skip)
    if run.check:
        kwargs["cmdline"] = "--check --diff"
    return kwargs


class EventRecorder:
    """Writes the raw events (JSON lines) and Ansible's readable output (the install log)."""

    def __init__(self, events: TextIO, log: TextIO) -> None:
        self.events = events
        self.log = log

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.write(json.dumps(event, default=str) + "\n")
        text = event.get("stdout")
        if text:
            self.log.write(text.replace("\r\n", "\n").rstrip("\n") + "\n")
        self.events.flush()
        self.log.flush()


def run_playbook(
    run: PlaybookRun,
    view: View,
    record: Callable[[dict[str, Any]], None],
    roles_selected: Iterable[str],
) -> PlaybookOutcome:
    """Run the playbook; every event goes to the tally, the view and the recorder."""
    run.private_dir.mkdir(parents=True, exist_ok=True)
    own_control_dir = run.control_dir is None
    if own_control_dir:
        run.control_dir = Path(tempfile.mkdtemp(prefix="multiarc-cp-"))
    tally = RunTally(
        expected_tasks=estimate_task_count(run.playbook, run.roles_dir, roles_selected)
    )

    def handle(event: dict[str, Any]) -> bool:
        record(event)
        result = tally.feed(event)
        view.update(tally, result)
        return True

    view.start(tally.expected_tasks)
    try:
        runner = ansible_runner.run(event_handler=handle, **runner_kwargs(run))
    finally:
        view.stop()
        kill_orphans(run.private_dir)  # Ctrl-C: Ansible's workers (own sessions) live on
        assert run.control_dir is not None
        close_ssh_masters(run.control_dir)
        if own_control_dir:
            shutil.rmtree(run.control_dir, ignore_errors=True)
            run.control_dir = None
    return PlaybookOutcome(status=str(runner.status), rc=int(runner.rc or 0), tally=tally)


def close_ssh_masters(control_dir: Path) -> int:
    """Ask every SSH ControlMaster with a socket in control_dir to exit; return how many."""
    closed = 0
    ssh = shutil.which("ssh")
    if ssh is None or not control_dir.is_dir():
        return 0
    for socket in control_dir.iterdir():
        if not socket.is_socket():
            continue
        done = subprocess.run(
            [ssh, "-o", f"ControlPath={socket}", "-O", "exit", "multiarc-control"],
            capture_output=True,
            timeout=10,
        )
        closed += int(done.returncode == 0)
    return closed


def kill_orphans(private: Path, grace_s: float = 2.0) -> int:
    """Every process left of the playbook run whose private folder is ``private`` (its
    command line names it: ansible-playbook's workers), killed with its process group
    (SIGTERM, then SIGKILL). How many were found."""
    mark = str(private).rstrip(os.sep) + os.sep  # inside this folder, not a longer name
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.pid != os.getpid() and any(mark in part for part in cmdline):
            found.append(proc)
    count = len(found)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in found:
            with contextlib.suppress(OSError, psutil.Error):
                pgid = os.getpgid(proc.pid)
                if pgid == proc.pid and pgid != os.getpgrp():
                    os.killpg(pgid, sig)
                else:
                    os.kill(proc.pid, sig)
        _gone, found = psutil.wait_procs(found, timeout=grace_s)
        if not found:
            break
    return count


@dataclass(frozen=True)
class AdhocResult:
    """ansible-runner's status of an ad-hoc run, and what each failed host said."""

    status: str
    said: dict[str, str] = field(default_factory=dict)

    def last_words(self, width: int = 160) -> str:
        """Each failed host's last line of output, on one line for an error message."""
        words = []
        for host, text in sorted(self.said.items()):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            last = lines[-1] if lines else "no output"
            words.append(f"{host}: {last[:width]}")
        return "; ".join(words)


def _failure_text(result: dict[str, Any]) -> str:
    """A command's output (stderr last: apt's and dpkg's errors are there), or Ansible's
    message where there is none (unreachable, module failure)."""
    parts = [str(result.get(key) or "") for key in ("stdout", "stderr")]
    output = "\n".join(part for part in parts if part.strip())
    return output or str(result.get("msg") or "")


def run_adhoc(
    inventory: Path,
    hosts: list[str],
    module: str,
    module_args: str,
    runner_dir: Path,
) -> AdhocResult:
    """Run one module on some inventory hosts (reboot, repair): ansible-runner's status and
    the output of each host where it failed (its folder is removed when it ends)."""
    runner_dir.mkdir(parents=True, exist_ok=True)
    private_dir = Path(tempfile.mkdtemp(prefix="adhoc-", dir=runner_dir))
    control_dir = Path(tempfile.mkdtemp(prefix="multiarc-cp-"))
    said: dict[str, str] = {}

    def keep_failures(event: dict[str, Any]) -> bool:
        if event.get("event") in ("runner_on_failed", "runner_on_unreachable"):
            data = event.get("event_data") or {}
            said[str(data.get("host", "?"))] = _failure_text(data.get("res") or {})
        return True

    try:
        runner = ansible_runner.run(
            private_data_dir=str(private_dir),
            inventory=str(inventory),
            host_pattern=",".join(hosts),
            module=module,
            module_args=module_args,
            envvars=runner_envvars(control_dir),
            event_handler=keep_failures,
            quiet=True,
        )
        return AdhocResult(str(runner.status), said)
    finally:
        close_ssh_masters(control_dir)
        shutil.rmtree(control_dir, ignore_errors=True)
        shutil.rmtree(private_dir, ignore_errors=True)
