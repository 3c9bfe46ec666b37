"""What a playbook run amounts to: the report built from its tally, the state written
before and after it, and the install log's header and footer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiarc.installer.driver import PlaybookOutcome
from multiarc.installer.install_types import InstallReport, InstallRequest
from multiarc.installer.state import InstallState, RoleStatus, RunRecord, now_iso
from multiarc.installer.summary import role_outcomes


@dataclass
class RunContext:
    """One run's fixed facts, which the report and the log read."""

    request: InstallRequest
    extracted: Any  # bundle_extract.ExtractedBundle
    hosts: list[str]
    roles: list[str]  # the playbook's roles, in order
    selected: list[str]  # those --only/--skip left
    notes: list[str]
    log: Path
    events: Path


def bundle_notes(checked: Any) -> list[str]:
    notes = getattr(checked, "notes", None) or getattr(checked, "warnings", None) or []
    return [str(n) for n in notes]


def start_state(
    state: InstallState, extracted: Any, request: InstallRequest, record: RunRecord
) -> None:
    state.bundle_version = str(extracted.version)
    state.bundle_dir = str(Path(extracted.root).resolve())
    state.target_kernel = getattr(extracted, "kernel_version", None) or state.target_kernel
    state.inventory = str(request.inventory.resolve()) if request.inventory else None
    state.last_run = record


def build_report(outcome: PlaybookOutcome, ctx: RunContext) -> InstallReport:
    request, extracted, hosts, notes = ctx.request, ctx.extracted, ctx.hosts, ctx.notes
    tally = outcome.tally
    rows = role_outcomes(tally, hosts, ctx.roles, ctx.selected, request.check)
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
        log=ctx.log,
        events=ctx.events,
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


def finish_state(
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


def log_header(ctx: RunContext) -> str:
    request, extracted = ctx.request, ctx.extracted
    lines = [
        f"=== multiarc-install {now_iso()} ===",
        f"bundle: {request.bundle} (version {extracted.version}) extracted at {extracted.root}",
        f"hosts: {', '.join(ctx.hosts)}",
        f"check mode: {request.check}; only: {request.only or '-'}; skip: {request.skip or '-'}",
        *[f"note: {n}" for n in ctx.notes],
        "",
    ]
    return "\n".join(lines) + "\n"


def log_footer(report: InstallReport) -> str:
    lines = ["", f"=== result: {report.result}; changed {report.changed}; failed {report.failed}"]
    for row in report.rows:
        lines.append(f"{row.host} {row.role}: {row.result} {row.reason}".rstrip())
    if report.reboot_hosts:
        lines.append(f"reboot required: {', '.join(report.reboot_hosts)}")
    return "\n".join(lines) + "\n"
