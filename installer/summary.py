"""The end-of-run summary: per host and role what changed, what was skipped and why."""

from __future__ import annotations

from dataclasses import dataclass, field

from multiarc.installer.progress import PLAYBOOK_SCOPE, RoleTally, RunTally
from rich.console import Console
from rich.table import Table

CONTAINER_SKIP = "host-only role: skipped in a container"


@dataclass
class RoleOutcome:
    host: str
    role: str
    # changed, unchanged, would change, failed, skipped, not selected, and for roles that
    # did not run because the host dropped out: unreachable, not run
    result: str
    changed: int = 0
    ok: int = 0
    skipped: int = 0
    changed_tasks: list[str] = field(default_factory=list)
    failed_tasks: list[str] = field(default_factory=list)
    reason: str = ""


def role_outcomes(
    tally: RunTally,
    hosts: list[str],
    roles: list[str],
    selected: list[str],
    check: bool,
) -> list[RoleOutcome]:
    """One row per host and role (in playbook order), from the event tally."""
    rows: list[RoleOutcome] = []
    for host in hosts:
        by_role = tally.hosts.get(host, {})
        container = bool(tally.fact(host, "multiarc_container", False))
        dropped = _dropped_out(tally, host)
        names = list(roles) + [r for r in by_role if r not in roles]
        for role in names:
            if role == PLAYBOOK_SCOPE and role not in by_role:
                continue
            t = by_role.get(role)
            if role not in selected and role != PLAYBOOK_SCOPE and t is None:
                rows.append(RoleOutcome(host, role, "not selected", reason="--only/--skip"))
                continue
            if dropped and (t is None or (t.ran == 0 and t.skipped == 0)):
                rows.append(RoleOutcome(host, role, dropped[0], reason=dropped[1]))
                continue
            rows.append(_outcome(host, role, t or RoleTally(), container, check))
    return rows


def _dropped_out(tally: RunTally, host: str) -> tuple[str, str] | None:
    """("unreachable"|"not run", why) when the host left the run before its end."""
    by_role = tally.hosts.get(host, {})
    recap = tally.recap.get(host, {})
    unreachable = [r for r, t in by_role.items() if t.unreachable]
    if unreachable or recap.get("dark"):
        where = f" (lost during {unreachable[0]})" if unreachable else ""
        return "unreachable", f"host unreachable{where}: not run; what was done stays recorded"
    failed = [r for r, t in by_role.items() if t.failed]
    if failed or recap.get("failures"):
        at = f" at {failed[0]}" if failed else ""
        return "not run", f"the host stopped{at}; not run"
    if host not in tally.recap and tally.recap:
        return "unreachable", "host missing from the run's recap: not run"
    return None


def _outcome(host: str, role: str, t: RoleTally, container: bool, check: bool) -> RoleOutcome:
    row = RoleOutcome(
        host,
        role,
        "unchanged",
        changed=t.changed,
        changed_tasks=list(t.changed_tasks),
        failed_tasks=list(t.failed_tasks),
    )
    if t.unreachable and not t.failed:
        row.result = "unreachable"
        row.reason = "host unreachable during this role; what was done stays recorded"
    elif t.failed:
        row.result = "failed"
    elif t.ran == 0:
        # every task skipped, or the role was not included at all on this host
        row.result = "skipped"
        row.reason = CONTAINER_SKIP if container else "conditions not met on this host"
    elif t.changed:
        row.result = "would change" if check else "changed"
    return row


STYLE = {
    "changed": "yellow",
    "would change": "yellow",
    "unchanged": "green",
    "failed": "bold red",
    "unreachable": "bold red",
    "not run": "magenta",
    "skipped": "cyan",
    "not selected": "dim",
}


def summary_table(rows: list[RoleOutcome], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("host", "role", "result", "changed", "details"):
        table.add_column(column, justify="right" if column == "changed" else "left")
    for r in rows:
        details = r.reason
        if r.failed_tasks:
            details = "failed: " + "; ".join(r.failed_tasks)
        elif r.changed_tasks:
            details = "; ".join(dict.fromkeys(r.changed_tasks))
        style = STYLE.get(r.result, "")
        table.add_row(r.host, r.role, f"[{style}]{r.result}[/]", str(r.changed), details)
    return table


def print_summary(console: Console, rows: list[RoleOutcome], title: str) -> None:
    console.print(summary_table(rows, title))
