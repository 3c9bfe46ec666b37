"""What the controller asks of the nodes outside the playbook, with one ad-hoc Ansible
call each: the node lock's owner and its release, the dpkg repair after an interrupted run,
and the reboot (its command injectable for tests through MULTIARC_REBOOT_COMMAND)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from multiarc.installer.driver import module_name, run_adhoc
from multiarc.installer.install_types import InstallPaths, InstallReport, InstallRequest
from multiarc.installer.inventory import LOCAL_HOST
from multiarc.installer.state import now_iso

from multiarc import paths
from multiarc.errors import MultiarcError
from multiarc.safe_files import create_new

DEFAULT_REBOOT_COMMAND = "systemctl reboot"
REBOOT_COMMAND_ENV = "MULTIARC_REBOOT_COMMAND"  # tests inject a harmless command here
# the fact the playbook's last module (multiarc_node_record) sets where it released the lock
LOCK_RELEASED = "multiarc_lock_released"


def lock_owner(install_paths: InstallPaths, stamp: str) -> dict[str, Any]:
    """Who holds a node's lock: this controller (host and state folder) and this run."""
    return {
        "controller": f"{socket.gethostname()}:{install_paths.state_dir.resolve()}",
        "run_id": f"{stamp}-{os.getpid()}-{secrets.token_hex(4)}",
        "pid": os.getpid(),
        "started": now_iso(),
    }


def release_node_locks(
    inventory: Path, hosts: list[str], owner: dict[str, Any], runner_dir: Path
) -> None:
    """Remove this run's lock on every node that has it (best effort: a node that cannot be
    reached keeps it, and this controller's next run takes it over)."""
    args = json.dumps({"owner": owner, "state": "released", "path": str(paths.NODE_LOCK_FILE)})
    with contextlib.suppress(Exception):
        run_adhoc(inventory, hosts, module_name("multiarc_node_lock"), args, runner_dir)


# dpkg refuses new work after an interruption until pending packages are configured; the
# killed run's dpkg may still hold the lock for a while, so wait for it (only for that).
# A package killed while it was being unpacked is left half installed (dpkg-query's iH) or
# marked for reinstallation (iUR, iFR): `dpkg --configure -a` skips the first (and exits 0)
# and fails on the others, and so does `apt-get -f install` (it only configures them). apt
# reinstalls those packages from the lists it already has (the bundle's repository, set up
# by the interrupted run), without updating them; then dpkg configures the rest.
REPAIR_DPKG = (
    'if [ -z "$(dpkg --audit 2>/dev/null)" ] && ! ls /var/lib/dpkg/updates/0* >/dev/null 2>&1;'
    " then echo clean; exit 0; fi;"
    " for i in $(seq 90); do out=$(dpkg --configure -a 2>&1) && break;"
    ' case "$out" in *"locked by another process"*|*"acquire the dpkg"*|*"database is locked"*)'
    " sleep 2;; *) break;; esac; done;"
    " bad=$(dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package}\\n' 2>/dev/null"
    " | awk '$1 ~ /^i(H|.R)/ {print $2}');"
    ' if [ -z "$bad" ] && [ -z "$(dpkg --audit)" ]; then exit 0; fi;'
    ' echo "$out"; export DEBIAN_FRONTEND=noninteractive;'
    " opts='-y -q --no-install-recommends -o Dpkg::Use-Pty=0';"
    ' { [ -z "$bad" ] || { echo "reinstalling: $bad"; apt-get install --reinstall $opts $bad; }; }'
    " && apt-get -f install $opts && dpkg --configure -a && [ -z \"$(dpkg --audit)\" ]"
)


def repair_packages(inventory: Path, hosts: list[str], runner_dir: Path, log: Path) -> None:
    """Finish the package operations a killed run left (``dpkg --configure -a``, and apt's
    reinstallation of a package left half installed or marked for reinstallation). Where
    it fails, the nodes' whole output goes to ``log`` and their last line into the error."""
    result = run_adhoc(inventory, hosts, "ansible.builtin.shell", REPAIR_DPKG, runner_dir)
    if result.status == "successful":
        return
    kept = ""
    with contextlib.suppress(OSError), create_new(log, 0o644, text=True) as out:
        out.write(
            "".join(f"== {host}\n{text.rstrip()}\n" for host, text in sorted(result.said.items()))
        )
        kept = f"; the nodes' output is in {log}"
    said = result.last_words()
    raise MultiarcError(
        "dpkg --configure -a failed after the interrupted run (apt-get -f install too)"
        + (f": {said}" if said else f" ({result.status})"),
        f"see `dpkg --audit` on the host(s), fix what it names, then multiarc-install again{kept}",
    )


def reboot_hosts(
    report: InstallReport,
    request: InstallRequest,
    install_paths: InstallPaths,
    say: Callable[[str], None],
) -> list[str]:
    """Reboot the hosts that need it. The command is injectable via MULTIARC_REBOOT_COMMAND."""
    if not report.reboot_hosts:
        return []
    override = os.environ.get(REBOOT_COMMAND_ENV)
    if request.inventory is None:
        command = shlex.split(override or DEFAULT_REBOOT_COMMAND)
        say(f"rebooting this machine: {' '.join(command)}")
        subprocess.run(command, check=True)
        return [LOCAL_HOST]
    trials = [f"{h} into the trial boot of {k}" for h, k in sorted(report.trials.items())]
    say(
        f"rebooting {', '.join(report.reboot_hosts)} ..."
        + (f" ({'; '.join(trials)})" if trials else "")
    )
    module, args = (
        ("ansible.builtin.command", override) if override else ("ansible.builtin.reboot", "")
    )
    result = run_adhoc(
        request.inventory, report.reboot_hosts, module, args, install_paths.runner_dir
    )
    if result.status != "successful":
        said = result.last_words()
        raise MultiarcError(
            f"reboot of {', '.join(report.reboot_hosts)} failed ({said or result.status})",
            f"reboot them by hand; the log is {report.log}",
        )
    return list(report.reboot_hosts)
