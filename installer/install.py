"""The flow of ``multiarc-install --offline``: checks, bundle, playbook, state, summary.

Order matters: bundle verification (a bad bundle is exit 2 on any machine; nothing has
changed until it passes) → controller preflight (root, OS, disk) → lock → confirmation →
extraction to ``/var/lib/multiarc/bundles/<version>`` → the playbook through
ansible-runner, which takes each node's own lock → state and summary; the node locks are
released at the end, whatever happened. Over SSH the nodes receive a private copy of the
bytes that were verified, never the user's file again. ``--check`` extracts into a
temporary folder that is removed afterwards and writes no state: it changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multiarc.installer.driver import (
    EventRecorder,
    PlaybookOutcome,
    PlaybookRun,
    module_name,
    playbook_roles,
    run_adhoc,
    run_playbook,
)
from multiarc.installer.inventory import LOCAL_HOST, inventory_hosts, write_localhost_inventory
from multiarc.installer.lock import InstallLock
from multiarc.installer.preflight import controller_preflight
from multiarc.installer.progress import View
from multiarc.installer.state import (
    InstallState,
    RoleStatus,
    RunRecord,
    load_state,
    now_iso,
    save_state,
)
from multiarc.installer.summary import RoleOutcome, role_outcomes

from multiarc import paths
from multiarc.errors import InputError, MultiarcError

DEFAULT_REBOOT_COMMAND = "systemctl reboot"
REBOOT_COMMAND_ENV = "MULTIARC_REBOOT_COMMAND"  # tests inject a harmless command here


@dataclass(frozen=True)
class InstallPaths:
    """Controller-side folders; defaults from multiarc.paths (MULTIARC_STATE_DIR/LOG_DIR)."""

    state_dir: Path
    log_dir: Path

    @classmethod
    def default(cls) -> InstallPaths:
        return cls(paths.STATE_DIR, paths.INSTALL_LOG_DIR)

    @property
    def state_file(self) -> Path:
        return self.state_dir / paths.STATE_FILE.name

    @property
    def lock_file(self) -> Path:
        return self.state_dir / paths.INSTALL_LOCK_FILE.name

    @property
    def bundles_dir(self) -> Path:
        return self.state_dir / paths.BUNDLES_DIR.name

    @property
    def runner_dir(self) -> Path:
        return self.state_dir / paths.RUNNER_DIR.name


@dataclass
class InstallRequest:
    bundle: Path
    check: bool = False
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    inventory: Path | None = None
    allow_os_override: bool = False
    trial_boot: bool = True  # False: --no-trial-boot (the new kernel is the default at once)


@dataclass
class InstallReport:
    result: str  # ok, failed, checked
    bundle_version: str
    hosts: list[str]
    rows: list[RoleOutcome]
    changed: int
    failed: int
    reboot_hosts: list[str]
    log: Path
    events: Path
    notes: list[str] = field(default_factory=list)
    rc: int = 0
    containers: dict[str, bool] = field(default_factory=dict)  # what preflight detected
    reboot_known: set[str] = field(default_factory=set)  # hosts that reported their reboot flag
    trials: dict[str, str] = field(default_factory=dict)  # host -> kernel of its pending trial


def selected_roles(roles: list[str], only: list[str], skip: list[str]) -> list[str]:
    chosen = [r for r in roles if not only or r in only]
    return [r for r in chosen if r not in skip]


def install(
    request: InstallRequest,
    install_paths: InstallPaths,
    view: View,
    *,
    confirm: Callable[[str], bool],
    say: Callable[[str], None],
) -> InstallReport:
    """Run the whole install; raise a MultiarcError for anything that stops it early.

    The bundle is verified first (a bad bundle is exit 2 whatever the machine), then the
    controller's preflight (root, OS, disk), then everything under the install lock. Over
    SSH the verified bytes are kept in a private copy, and only that copy is extracted and
    sent: a bundle file changed after verification is never used.
    """
    roles = playbook_roles()
    selected = selected_roles(roles, request.only, request.skip)
    hosts = inventory_hosts(request.inventory) if request.inventory else [LOCAL_HOST]
    if not request.bundle.is_file():
        raise InputError(f"bundle not found: {request.bundle}", "pass the path of BUNDLE.tar.xz")
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    private_dir = _private_dir(install_paths, stamp)
    try:
        from multiarc.installer import bundle as bundle_mod

        keep = private_dir / PRIVATE_COPY if private_dir and request.inventory else None
        say(f"verifying bundle {request.bundle} ...")
        checked = bundle_mod.verify_bundle(request.bundle, keep_copy=keep)
        notes = controller_preflight(
            local=request.inventory is None,
            allow_os_override=request.allow_os_override,
            state_dir=install_paths.state_dir,
            log_dir=install_paths.log_dir,
            bundle=request.bundle,
        )
        assert private_dir is not None  # the state folder is writable: preflight said so
        notes.extend(_bundle_notes(checked))
        with InstallLock(install_paths.lock_file):
            _remove_old_private_copies(install_paths.runner_dir, keep)
            return _install_locked(
                _Run(request, install_paths, private_dir, stamp, checked, hosts, notes),
                view,
                confirm=confirm,
                say=say,
                roles=(roles, selected),
            )
    except BaseException:
        if private_dir is not None and not (private_dir / "artifacts").exists():
            shutil.rmtree(private_dir, ignore_errors=True)  # stopped before any playbook ran
        raise
    finally:
        if private_dir is not None:
            (private_dir / PRIVATE_COPY).unlink(missing_ok=True)
            if request.check:
                shutil.rmtree(private_dir, ignore_errors=True)


PRIVATE_COPY = "bundle.tar.xz"


@dataclass
class _Run:
    request: InstallRequest
    paths: InstallPaths
    private_dir: Path
    stamp: str
    checked: Any  # bundle_verify.VerifiedBundle
    hosts: list[str]
    notes: list[str]


def _private_dir(install_paths: InstallPaths, stamp: str) -> Path | None:
    """A new root-only folder for this run (None when the state folder is not writable:
    preflight then stops the run with exit 3)."""
    try:
        install_paths.runner_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{stamp}-", dir=install_paths.runner_dir))
    except OSError:
        return None


def _remove_old_private_copies(runner_dir: Path, keep: Path | None) -> None:
    """Private bundle copies of runs that were killed (only ever removed under the lock)."""
    for copy in runner_dir.glob(f"*/{PRIVATE_COPY}"):
        if copy != keep:
            copy.unlink(missing_ok=True)


def _install_locked(
    run: _Run,
    view: View,
    *,
    confirm: Callable[[str], bool],
    say: Callable[[str], None],
    roles: tuple[list[str], list[str]],
) -> InstallReport:
    from multiarc.installer import bundle as bundle_mod

    request, install_paths, hosts, notes = run.request, run.paths, run.hosts, run.notes
    state = load_state(install_paths.state_file)
    if state.was_interrupted() and state.last_run is not None:
        notes.append(
            f"the previous run (pid {state.last_run.pid}, started {state.last_run.started_at})"
            " did not finish; this run completes it"
        )
    where = ", ".join(hosts)
    if not request.check and not confirm(f"Install {request.bundle.name} onto {where}?"):
        raise InputError("installation not confirmed", "pass --yes to install without asking")
    extract_root = run.private_dir / "bundle" if request.check else install_paths.bundles_dir
    say(f"extracting bundle to {extract_root} ...")
    extracted = bundle_mod.extract_bundle(run.checked, extract_root)
    log_path = install_paths.log_dir / f"install-{run.stamp}.log"
    events_path = install_paths.log_dir / f"install-{run.stamp}.events.jsonl"
    inventory = request.inventory or write_localhost_inventory(run.private_dir / "inventory")
    owner = lock_owner(install_paths, run.stamp)
    playbook = PlaybookRun(
        inventory=inventory.resolve(),
        private_dir=run.private_dir,
        extravars={
            **playbook_vars(extracted, request),
            "multiarc_bundle_sha256": run.checked.archive_sha256,
            **(node_bundle_vars(run.checked, run.private_dir) if request.inventory else {}),
            "multiarc_lock_owner": owner,
        },
        only=request.only,
        skip=request.skip,
        check=request.check,
    )
    record = RunRecord(
        started_at=now_iso(),
        pid=os.getpid(),
        bundle_version=str(extracted.version),
        check_mode=request.check,
        only=request.only,
        skip=request.skip,
        log=str(log_path),
        events=str(events_path),
    )
    interrupted = state.was_interrupted()
    if not request.check:
        _start_state(state, extracted, request, record)
        save_state(install_paths.state_file, state)
        if interrupted:
            say("the last run was interrupted: finishing interrupted package operations ...")
            repair_packages(inventory, hosts, install_paths.runner_dir)
            notes.append(
                "ran `dpkg --configure -a` where the interrupted run left packages half "
                f"installed ({', '.join(hosts)})"
            )
    all_roles, selected = roles
    try:
        with log_path.open("w") as log, events_path.open("w") as events:
            log.write(_log_header(request, extracted, hosts, notes))
            outcome = run_playbook(playbook, view, EventRecorder(events, log), selected)
            report = _report(
                outcome,
                request,
                extracted,
                hosts,
                all_roles,
                selected,
                notes,
                log_path,
                events_path,
            )
            log.write(_log_footer(report))
    except BaseException:
        if not request.check:
            record.result = "interrupted"
            record.finished_at = now_iso()
            save_state(install_paths.state_file, state)
        raise
    finally:
        if not request.check:
            release_node_locks(inventory, hosts, owner, install_paths.runner_dir)
    if not request.check:
        _finish_state(state, report, record, selected)
        save_state(install_paths.state_file, state)
    return report


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
# killed run's dpkg may still hold the lock for a while, so wait for it.
REPAIR_DPKG = (
    'if [ -z "$(dpkg --audit 2>/dev/null)" ] && ! ls /var/lib/dpkg/updates/0* >/dev/null 2>&1;'
    " then echo clean; exit 0; fi;"
    " for i in $(seq 90); do dpkg --configure -a && exit 0; sleep 2; done; exit 1"
)


def repair_packages(inventory: Path, hosts: list[str], runner_dir: Path) -> None:
    """Run ``dpkg --configure -a`` where a killed run left packages half installed."""
    status = run_adhoc(inventory, hosts, "ansible.builtin.shell", REPAIR_DPKG, runner_dir)
    if status != "successful":
        raise MultiarcError(
            "dpkg --configure -a failed after the interrupted run",
            "run it on the host(s) by hand, then multiarc-install again",
        )


def node_bundle_vars(checked: Any, private_dir: Path) -> dict[str, Any]:
    """What a node needs to check the bundle it receives: the archive's sha256 and sizes, the
    top folder, every file's size and sha256 (a file on the controller) and the links."""
    files = private_dir / "bundle-files.json"
    listing = [[rel, d.size, d.sha256] for rel, d in sorted(checked.digests.items())]
    files.write_text(json.dumps(listing))
    return {
        "multiarc_bundle_archive": str(checked.readable_source.resolve()),
        "multiarc_bundle_sha256": checked.archive_sha256,
        "multiarc_bundle_archive_bytes": checked.archive_size,
        "multiarc_bundle_unpacked_bytes": checked.total_size,
        "multiarc_bundle_top": checked.top,
        "multiarc_bundle_files": str(files),
        "multiarc_bundle_links": dict(checked.symlinks),
    }


def playbook_vars(extracted: Any, request: InstallRequest) -> dict[str, Any]:
    """Extra variables the roles read (see the collection's README.md)."""
    root = str(Path(extracted.root).resolve())
    extravars: dict[str, Any] = {
        "multiarc_bundle_src": root,
        "multiarc_bundle_version": str(extracted.version),
        "multiarc_os_override": bool(request.allow_os_override),
        "multiarc_trial_boot": bool(request.trial_boot),
        "multiarc_target_kernel": str(getattr(extracted, "kernel_version", None) or ""),
        "multiarc_node_state_file": str(paths.NODE_STATE_FILE),
        "multiarc_node_lock_file": str(paths.NODE_LOCK_FILE),
    }
    if request.inventory is None:
        # the controller is the node: the roles use the extracted tree in place; nodes over
        # SSH receive the verified bytes instead (node_bundle_vars)
        extravars["multiarc_bundle_dir"] = root
    return extravars


def _bundle_notes(checked: Any) -> list[str]:
    notes = getattr(checked, "notes", None) or getattr(checked, "warnings", None) or []
    return [str(n) for n in notes]


def _start_state(
    state: InstallState, extracted: Any, request: InstallRequest, record: RunRecord
) -> None:
    state.bundle_version = str(extracted.version)
    state.bundle_dir = str(Path(extracted.root).resolve())
    state.target_kernel = getattr(extracted, "kernel_version", None) or state.target_kernel
    state.inventory = str(request.inventory.resolve()) if request.inventory else None
    state.last_run = record


def _report(
    outcome: PlaybookOutcome,
    request: InstallRequest,
    extracted: Any,
    hosts: list[str],
    roles: list[str],
    selected: list[str],
    notes: list[str],
    log_path: Path,
    events_path: Path,
) -> InstallReport:
    tally = outcome.tally
    rows = role_outcomes(tally, hosts, roles, selected, request.check)
    totals = tally.totals()
    failed = totals.failed + totals.unreachable
    if outcome.status != "successful" and failed == 0:
        failed = 1  # ansible-playbook itself failed (syntax, missing role, no hosts)
        notes.append(f"ansible-playbook ended {outcome.status} (rc {outcome.rc}); see the log")
    reboot = [h for h in hosts if tally.fact(h, "multiarc_reboot_required") is True]
    reboot_known = {h for h in hosts if tally.fact(h, "multiarc_reboot_required") is not None}
    result = "failed" if failed else ("checked" if request.check else "ok")
    return InstallReport(
        result=result,
        bundle_version=str(extracted.version),
        hosts=hosts,
        rows=rows,
        changed=totals.changed,
        failed=failed,
        reboot_hosts=reboot,
        reboot_known=reboot_known,
        log=log_path,
        events=events_path,
        notes=notes,
        rc=outcome.rc,
        containers={
            h: bool(tally.fact(h, "multiarc_container"))
            for h in hosts
            if tally.fact(h, "multiarc_container") is not None
        },
        trials={
            h: str(trial.get("kernel", ""))
            for h in hosts
            if isinstance(trial := tally.fact(h, "multiarc_pending_trial"), dict)
        },
    )


def _finish_state(
    state: InstallState, report: InstallReport, record: RunRecord, selected: list[str]
) -> None:
    finished = now_iso()
    for row in report.rows:
        if row.result in ("not selected", "unreachable", "not run"):
            continue  # this run did not get to it: what an earlier run did stays recorded
        host = state.host(row.host)
        status = {"failed": "failed", "skipped": "skipped"}.get(row.result, "done")
        host.roles[row.role] = RoleStatus(
            status=status,
            ok=row.ok,
            changed=row.changed,
            skipped=row.skipped,
            failed=len(row.failed_tasks),
            reason=row.reason or None,
            finished_at=finished,
        )
    for name in report.hosts:
        host = state.host(name)
        if name in report.reboot_known:
            host.reboot_required = name in report.reboot_hosts
        # else: this run did not look (e.g. --only grub); a pending reboot stays pending
        if name in report.containers:
            host.container = report.containers[name]
    record.result = report.result
    record.finished_at = finished
    record.changed = report.changed
    record.failed = report.failed
    state.last_run = record


def _log_header(request: InstallRequest, extracted: Any, hosts: list[str], notes: list[str]) -> str:
    lines = [
        f"=== multiarc-install {now_iso()} ===",
        f"bundle: {request.bundle} (version {extracted.version}) extracted at {extracted.root}",
        f"hosts: {', '.join(hosts)}",
        f"check mode: {request.check}; only: {request.only or '-'}; skip: {request.skip or '-'}",
        *[f"note: {n}" for n in notes],
        "",
    ]
    return "\n".join(lines) + "\n"


def _log_footer(report: InstallReport) -> str:
    lines = ["", f"=== result: {report.result}; changed {report.changed}; failed {report.failed}"]
    for row in report.rows:
        lines.append(f"{row.host} {row.role}: {row.result} {row.reason}".rstrip())
    if report.reboot_hosts:
        lines.append(f"reboot required: {', '.join(report.reboot_hosts)}")
    return "\n".join(lines) + "\n"


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
    status = run_adhoc(
        request.inventory, report.reboot_hosts, module, args, install_paths.runner_dir
    )
    if status != "successful":
        raise MultiarcError(
            f"reboot of {', '.join(report.reboot_hosts)} failed ({status})",
            f"reboot them by hand; the log is {report.log}",
        )
    return list(report.reboot_hosts)
