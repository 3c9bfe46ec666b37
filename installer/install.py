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

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multiarc.installer.bundle_index import bundle_index
from multiarc.installer.bundle_memo import remember, verify_or_recall
from multiarc.installer.driver import (
    EventRecorder,
    PlaybookOutcome,
    PlaybookRun,
    playbook_roles,
    run_playbook,
)
from multiarc.installer.install_outcome import (
    RunContext,
    build_report,
    bundle_notes,
    finish_state,
    log_footer,
    log_header,
    start_state,
)
from multiarc.installer.install_types import InstallPaths, InstallReport, InstallRequest
from multiarc.installer.inventory import (
    LOCAL_HOST,
    inventory_hosts_later,
    write_localhost_inventory,
)
from multiarc.installer.lock import InstallLock
from multiarc.installer.node_ops import (
    LOCK_RELEASED,
    REBOOT_COMMAND_ENV,
    lock_owner,
    reboot_hosts,
    release_node_locks,
    repair_packages,
)
from multiarc.installer.preflight import check_writable, controller_preflight
from multiarc.installer.progress import View
from multiarc.installer.state import RunRecord, load_state, now_iso, save_state

from multiarc import paths
from multiarc.errors import EnvironmentNotReady, InputError
from multiarc.safe_files import create_new, open_append

# the names the CLI and the tests take from here
__all__ = [
    "REBOOT_COMMAND_ENV",
    "InstallPaths",
    "InstallReport",
    "InstallRequest",
    "install",
    "reboot_hosts",
    "selected_roles",
]


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
    # read while the bundle is verified: a missing file is said at once, a bad one after
    # the bundle's verification
    hosts_of = inventory_hosts_later(request.inventory) if request.inventory else None
    if not request.bundle.is_file():
        raise InputError(f"bundle not found: {request.bundle}", "pass the path of BUNDLE.tar.xz")
    # before anything is written there: nobody else may write in (or move) these folders
    check_writable(install_paths.state_dir, "state folder")
    check_writable(install_paths.log_dir, "log folder")
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    private_dir = _private_dir(install_paths, stamp)
    try:
        keep = private_dir / PRIVATE_COPY if request.inventory else None
        say(f"verifying bundle {request.bundle} ...")
        verdicts = None if request.reverify else install_paths.verdicts_dir
        checked, recalled = verify_or_recall(request.bundle, verdicts, keep)
        if recalled:
            digest = checked.archive_sha256[:12]
            say(
                f"bundle {request.bundle.name}: the same bytes (sha256 {digest}…) passed"
                " verification before; its files are not read again (--reverify reads them)"
            )
        hosts = hosts_of() if hosts_of else [LOCAL_HOST]
        notes = controller_preflight(
            local=request.inventory is None,
            allow_os_override=request.allow_os_override,
            state_dir=install_paths.state_dir,
            bundle=request.bundle,
        )
        if not recalled and not request.check:  # --check keeps nothing
            remember(checked, install_paths.verdicts_dir)
        notes.extend(bundle_notes(checked))
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
        if not (private_dir / "artifacts").exists():
            shutil.rmtree(private_dir, ignore_errors=True)  # stopped before any playbook ran
        raise
    finally:
        (private_dir / PRIVATE_COPY).unlink(missing_ok=True)
        if request.check:
            shutil.rmtree(private_dir, ignore_errors=True)


PRIVATE_COPY = "bundle.tar.xz"


def new_run_logs(log_dir: Path, stamp: str) -> tuple[Path, Path]:
    """This run's log and event log, made empty under names nothing else has (another run
    in the same second gets ``-2``...); never a planted link or file followed or reused."""
    for n in range(1, 100):
        base = f"install-{stamp}" if n == 1 else f"install-{stamp}-{n}"
        made: list[Path] = []
        try:
            for path in (log_dir / f"{base}.log", log_dir / f"{base}.events.jsonl"):
                create_new(path, 0o644).close()
                made.append(path)
            return made[0], made[1]
        except FileExistsError:
            for path in made:
                path.unlink()
        except OSError as err:
            raise EnvironmentNotReady(
                f"cannot create the install log in {log_dir}: {err.strerror}",
                "free space in the log folder, or fix its permissions",
            ) from None
    raise EnvironmentNotReady(f"every install-{stamp} log name in {log_dir} is taken",
                              "remove old install logs there")  # fmt: skip


@dataclass
class _Run:
    request: InstallRequest
    paths: InstallPaths
    private_dir: Path
    stamp: str
    checked: Any  # bundle_verify.VerifiedBundle
    hosts: list[str]
    notes: list[str]


def _private_dir(install_paths: InstallPaths, stamp: str) -> Path:
    """A new root-only folder for this run, in the state folder checked just before."""
    try:
        install_paths.runner_dir.mkdir(mode=0o700, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{stamp}-", dir=install_paths.runner_dir))
    except OSError as err:
        raise EnvironmentNotReady(
            f"cannot create this run's folder in {install_paths.runner_dir}: {err.strerror}",
            "free space in the state folder, or fix its permissions",
        ) from None


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
    log_path, events_path = new_run_logs(install_paths.log_dir, run.stamp)
    inventory = request.inventory or write_localhost_inventory(run.private_dir / "inventory")
    owner = lock_owner(install_paths, run.stamp)
    playbook = PlaybookRun(
        inventory=inventory.resolve(),
        private_dir=run.private_dir,
        extravars={
            **playbook_vars(extracted, request),
            "multiarc_bundle_index": bundle_index(Path(extracted.root)),
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
        start_state(state, extracted, request, record)
        save_state(install_paths.state_file, state)
        if interrupted:
            say("the last run was interrupted: finishing interrupted package operations ...")
            repair_log = log_path.with_name(log_path.name.replace(".log", ".repair.log"))
            repair_packages(inventory, hosts, install_paths.runner_dir, repair_log)
            notes.append(
                "finished the package operations the interrupted run left (dpkg --configure"
                f" -a, and a reinstall of what it left half unpacked) on {', '.join(hosts)}"
            )
    all_roles, selected = roles
    ctx = RunContext(request, extracted, hosts, all_roles, selected, notes, log_path, events_path)
    outcome: PlaybookOutcome | None = None
    try:
        with open_append(log_path) as log, open_append(events_path) as events:
            log.write(log_header(ctx))
            outcome = run_playbook(playbook, view, EventRecorder(events, log), selected)
            report = build_report(outcome, ctx)
            log.write(log_footer(report))
    except BaseException:
        if not request.check:
            record.result = "interrupted"
            record.finished_at = now_iso()
            save_state(install_paths.state_file, state)
        raise
    finally:
        if not request.check:
            # node_record released the lock on the nodes it reached; the others here
            held = [h for h in hosts if not (outcome and outcome.tally.fact(h, LOCK_RELEASED))]
            if held:
                release_node_locks(inventory, held, owner, install_paths.runner_dir)
    if not request.check:
        finish_state(state, report, record, selected)
        save_state(install_paths.state_file, state)
    return report


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
