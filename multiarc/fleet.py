"""What every fleet command shares: Ansible's inventory and one playbook run over its hosts.

``multiarc-eval basic|quick --inventory`` and ``multiarc-collect-sysinfo --inventory`` read
the inventory with Ansible's own InventoryManager (``--limit`` is Ansible's pattern syntax),
run one playbook of the collection through ansible-runner (``--forks`` is Ansible's) and
learn from its events why a host stopped. Ctrl-C and SIGTERM cancel the run (every host's
connection is closed); the caller then reports what came back. Cancelling kills
ansible-playbook's process group, but Ansible's per-host workers each run in a session of
their own and would live on, orphaned, waiting for their host: they are found by this
run's private folder on their command line and killed with their process groups
(``installer.driver.kill_orphans``, as after the installer's playbook).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiarc.errors import InputError

INVENTORY_HINT = (
    "an INI or YAML Ansible inventory, e.g. `node1 ansible_host=10.0.0.5 ansible_user=root`"
)


@dataclass
class FleetHost:
    """One inventory host Ansible would run on, with its variables."""

    name: str
    variables: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return str(self.variables.get("ansible_host") or self.name)


def read_inventory(path: Path, limit: str | None) -> list[FleetHost]:
    """The hosts Ansible would run on (``limit`` applied by Ansible); InputError otherwise."""
    if not path.is_file():
        raise InputError(f"inventory file not found: {path}", "pass an existing --inventory FILE")
    from ansible import constants
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    constants.INVENTORY_UNPARSED_IS_FAILED = True  # a file no plugin reads is an error
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # the error line says it once
            manager = InventoryManager(loader=DataLoader(), sources=[str(path)])
        if not manager.get_hosts():
            raise InputError(f"inventory {path} defines no hosts", INVENTORY_HINT)
        if limit:
            manager.subset(limit)
        hosts = manager.get_hosts()
    except InputError:
        raise
    except Exception as err:  # ansible raises many types for unreadable inventories
        raise InputError(f"cannot read inventory {path}: {err}", INVENTORY_HINT) from err
    if not hosts:
        raise InputError(
            f"--limit {limit} matches no host of {path}",
            "use host or group names of the inventory, comma-separated (Ansible patterns)",
        )
    return [FleetHost(h.name, dict(h.get_vars())) for h in sorted(hosts, key=lambda h: h.name)]


def folder_name(host: str) -> str:
    """A host's name as a folder name on the controller (never a path of its own)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", host)[:120]
    return name if name.strip(".") else "_" + name


def folder_names(hosts: Iterable[str]) -> dict[str, str]:
    """Each host's folder name, unique in the run: two names that read the same once made
    safe (``a/b`` and ``a_b``) get ``-2``, ``-3``... rather than one folder."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for host in hosts:
        base = folder_name(host)
        name, number = base, 1
        while name.lower() in taken:  # case-insensitive filesystems too
            number += 1
            name = f"{base}-{number}"
        taken.add(name.lower())
        names[host] = name
    return names


OkHook = Callable[[str, dict[str, Any], dict[str, Any]], None]  # host, event_data, result


class HostEvents:
    """Why each host stopped, from ansible-runner's events; ``on_ok`` sees every success."""

    def __init__(self, say: Callable[[str], None], on_ok: OkHook | None = None) -> None:
        self.say = say
        self.on_ok = on_ok
        self.reasons: dict[str, tuple[str, str]] = {}  # host -> (status, reason)
        self.cancel = False

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = str(event.get("event", ""))
        data = event.get("event_data") or {}
        host = data.get("host")
        if not host:
            return True
        result = data.get("res") or {}
        message = str(result.get("msg") or result.get("stderr") or "").strip().splitlines()
        text = message[0][:300] if message else ""
        if kind == "runner_on_unreachable":
            self.reasons.setdefault(host, ("unreachable", text or "unreachable"))
            self.say(f"{host}: unreachable: {text}")
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            task = str(data.get("task", ""))
            self.reasons.setdefault(host, ("failed", f"{task}: {text}".strip(": ")))
            self.say(f"{host}: failed: {task}: {text}")
        elif kind == "runner_on_ok" and self.on_ok is not None:
            self.on_ok(host, data, result)
        return True

    def cancelled(self) -> bool:
        return self.cancel


@dataclass
class PlaybookRun:
    """One run of a collection playbook over some inventory hosts."""

    playbook: Path
    inventory: Path
    hosts: list[str]
    forks: int
    extravars: dict[str, Any]
    private_files: Callable[[Path], dict[str, Any]] | None = None  # extra vars made in private


def run_playbook(run: PlaybookRun, events: HostEvents) -> str:
    """Run it; Ctrl-C or SIGTERM cancels every host. ansible-runner's status."""
    import ansible_runner

    from multiarc.installer.driver import close_ssh_masters, kill_orphans, runner_envvars

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def stop(signum: int, frame: object) -> None:
        events.cancel = True

    control = Path(tempfile.mkdtemp(prefix="multiarc-cp-"))
    private = Path(tempfile.mkdtemp(prefix="multiarc-fleet-runner-"))
    extravars = dict(run.extravars)
    if run.private_files is not None:
        extravars |= run.private_files(private)
    for s in previous:
        signal.signal(s, stop)
    try:
        runner = ansible_runner.run(
            private_data_dir=str(private),
            playbook=str(run.playbook),
            inventory=str(run.inventory.absolute()),
            limit=",".join(run.hosts),
            forks=run.forks,
            extravars=extravars,
            envvars=runner_envvars(control),
            event_handler=events,
            cancel_callback=events.cancelled,
            quiet=True,
        )
        return str(runner.status)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        kill_orphans(private)
        close_ssh_masters(control)
        shutil.rmtree(control, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)

