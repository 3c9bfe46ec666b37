"""From ansible-runner events to what the user sees: counts, per-role results, a live view.

:class:`RunTally` is the pure model: feed it runner event dicts (the same dicts the
``event_handler`` of ``ansible_runner.run`` receives and ``job_events/*.json`` hold) and it
knows the current role and task, how many tasks ran of how many expected, ok / changed /
failed / skipped counts per host and role, which tasks changed (with their diffs in check
mode), the facts the roles published (``multiarc_*``) and the final play recap.
:class:`RichView` and :class:`PlainView` render it: a live progress bar on a terminal,
one line per finished task otherwise (CI logs, pipes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from multiarc import yaml_files

RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}
TASK_START_EVENTS = {"playbook_on_task_start", "playbook_on_handler_task_start"}
PLAYBOOK_SCOPE = "(playbook)"  # tasks written in the playbook itself, outside any role

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class RoleTally:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    changed_tasks: list[str] = field(default_factory=list)
    failed_tasks: list[str] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return self.ok + self.failed + self.unreachable

    @property
    def all_skipped(self) -> bool:
        return self.skipped > 0 and self.ran == 0


@dataclass
class TaskResult:
    host: str
    role: str
    task: str
    status: str  # ok, changed, failed, skipped, unreachable
    message: str = ""
    diff: str = ""
    ignored: bool = False


@dataclass
class RunTally:
    """Everything learnt from the event stream of one playbook run."""

    expected_tasks: int = 0
    tasks_started: int = 0
    current_role: str = ""
    current_task: str = ""
    hosts: dict[str, dict[str, RoleTally]] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: list[TaskResult] = field(default_factory=list)
    recap: dict[str, dict[str, int]] = field(default_factory=dict)
    no_hosts_matched: bool = False
    _diffs: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def feed(self, event: dict[str, Any]) -> TaskResult | None:
        """Take one runner event; return the task result it carries, if any."""
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind in TASK_START_EVENTS:
            self.tasks_started += 1
            self.expected_tasks = max(self.expected_tasks, self.tasks_started)
            self.current_role = data.get("role") or PLAYBOOK_SCOPE
            self.current_task = _task_name(data)
            return None
        if kind == "runner_on_file_diff":
            diff_key = (data.get("host") or "?", data.get("task_uuid") or "")
            self._diffs[diff_key] = self._diffs.get(diff_key, "") + _clean(
                event.get("stdout") or ""
            )
            return None
        if kind == "playbook_on_no_hosts_matched":
            self.no_hosts_matched = True
            return None
        if kind == "playbook_on_stats":
            for key in ("ok", "changed", "failures", "skipped", "dark", "ignored", "rescued"):
                for host, count in (data.get(key) or {}).items():
                    self.recap.setdefault(host, {})[key] = int(count)
            return None
        status = RESULT_EVENTS.get(kind)
        if status is None:
            return None
        return self._result(status, data)

    def _result(self, status: str, data: dict[str, Any]) -> TaskResult:
        host = data.get("host") or "?"
        role = data.get("role") or PLAYBOOK_SCOPE
        task = _task_name(data)
        res = data.get("res") or {}
        tally = self.hosts.setdefault(host, {}).setdefault(role, RoleTally())
        ignored = bool(data.get("ignore_errors")) and status == "failed"
        if status == "ok":
            tally.ok += 1
            if res.get("changed"):
                status = "changed"
                tally.changed += 1
                tally.changed_tasks.append(task)
        elif status == "failed":
            if ignored:
                tally.ok += 1
            else:
                tally.failed += 1
                tally.failed_tasks.append(task)
        elif status == "skipped":
            tally.skipped += 1
        else:
            tally.unreachable += 1
            tally.failed_tasks.append(task)
        facts = res.get("ansible_facts") or {}
        for name, value in facts.items():
            if name.startswith("multiarc_"):
                self.facts.setdefault(host, {})[name] = value
        result = TaskResult(
            host=host,
            role=role,
            task=task,
            status=status,
            message=_short_message(res) if status in ("failed", "unreachable") else "",
            diff=self._diffs.pop((host, data.get("task_uuid") or ""), ""),
            ignored=ignored,
        )
        self.results.append(result)
        return result

    def totals(self) -> RoleTally:
        total = RoleTally()
        for roles in self.hosts.values():
            for t in roles.values():
                total.ok += t.ok
                total.changed += t.changed
                total.failed += t.failed
                total.skipped += t.skipped
                total.unreachable += t.unreachable
        return total

    def fact(self, host: str, name: str, default: Any = None) -> Any:
        return self.facts.get(host, {}).get(name, default)


def _clean(text: str) -> str:
    return _ANSI.sub("", text).replace("\r\n", "\n")


def _task_name(data: dict[str, Any]) -> str:
    name = data.get("task") or data.get("name") or data.get("task_action") or "?"
    role = data.get("role")
    # Ansible names role tasks "role : task"; the role is shown separately.
    if role and name.startswith(f"{role} : "):
        name = name[len(role) + 3 :]
    return name


def _short_message(res: dict[str, Any]) -> str:
    for key in ("stderr", "module_stderr", "msg", "reason"):
        value = res.get(key)
        if value:
            text = str(value).strip().splitlines()
            return text[0] if key == "msg" else text[-1]
    return ""


# -- expected number of tasks ------------------------------------------------------------


def estimate_task_count(playbook: Path, roles_dir: Path, roles: Iterable[str]) -> int:
    """Tasks the play will start, counted from the YAML (includes followed, blocks opened).

    An estimate for "n of m": conditionals and loops do not change the count (a skipped
    task still starts), dynamic includes may; the view raises m when n passes it.
    """
    total = 0
    try:
        plays = yaml_files.load_file(playbook) or []
    except (OSError, yaml_files.YAMLError):
        plays = []
    for play in plays if isinstance(plays, list) else []:
        if isinstance(play, dict):
            for section in ("pre_tasks", "tasks", "post_tasks"):
                total += _count_tasks(play.get(section) or [], playbook.parent)
            if play.get("gather_facts", True) not in (False, "false", "no"):
                total += 1
    for role in roles:
        main = roles_dir / role / "tasks" / "main.yml"
        total += _count_file(main, main.parent, depth=0)
    return total


INCLUDE_KEYS = (
    "ansible.builtin.include_tasks",
    "include_tasks",
    "ansible.builtin.import_tasks",
    "import_tasks",
)


def _count_file(path: Path, base: Path, depth: int) -> int:
    if depth > 5:
        return 0
    try:
        tasks = yaml_files.load_file(path) or []
    except (OSError, yaml_files.YAMLError):
        return 0
    return _count_tasks(tasks, base, depth) if isinstance(tasks, list) else 0


def _count_tasks(tasks: list[Any], base: Path, depth: int = 0) -> int:
    count = 0
    for task in tasks:
        if not isinstance(task, dict):
            continue
        if "block" in task:
            count += _count_tasks(task.get("block") or [], base, depth)
            count += _count_tasks(task.get("always") or [], base, depth)
            continue
        include, dynamic = None, False
        for key in INCLUDE_KEYS:
            if key in task:
                include, dynamic = task[key], "include" in key
        if isinstance(include, dict):
            include = include.get("file")
        if isinstance(include, str) and "{{" not in include:
            # a dynamic include starts a task of its own, a static import does not
            count += int(dynamic) + _count_file(base / include, base, depth + 1)
            continue
        count += 1
    return count


# -- views --------------------------------------------------------------------------------


class View(Protocol):
    def start(self, expected_tasks: int) -> None: ...
    def update(self, tally: RunTally, result: TaskResult | None) -> None: ...
    def stop(self) -> None: ...


STATUS_STYLE = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "unreachable": "bold red",
    "skipped": "cyan",
}


class PlainView:
    """One line per task result: for pipes, CI logs and non-TTY terminals."""

    def __init__(self, stream: TextIO, show_diffs: bool = False, show_skipped: bool = False):
        self.stream = stream
        self.show_diffs = show_diffs
        self.show_skipped = show_skipped

    def start(self, expected_tasks: int) -> None:
        self.expected = expected_tasks

    def update(self, tally: RunTally, result: TaskResult | None) -> None:
        if result is None or (result.status == "skipped" and not self.show_skipped):
            return
        m = max(tally.expected_tasks, self.expected)
        line = f"[{tally.tasks_started:>3}/{m}] {result.host} {result.role}: {result.task} ... "
        line += result.status + (" (ignored)" if result.ignored else "")
        if result.message:
            line += f": {result.message}"
        print(line, file=self.stream, flush=True)
        if self.show_diffs and result.diff:
            print(result.diff.rstrip(), file=self.stream, flush=True)

    def stop(self) -> None:
        pass


class RichView:
    """A live bar: role › task, n of m, ok/changed/failed; changed and failed tasks scroll above."""

    def __init__(self, console: Console, show_diffs: bool = False):
        self.console = console
        self.show_diffs = show_diffs
        self.progress = Progress(
            TextColumn("[bold]{task.fields[role]}[/] › {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "[green]ok {task.fields[ok]}[/] [yellow]changed {task.fields[changed]}[/] "
                "[red]failed {task.fields[failed]}[/]"
            ),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._bar: Any = None

    def start(self, expected_tasks: int) -> None:
        self.progress.start()
        self._bar = self.progress.add_task(
            "starting", total=max(expected_tasks, 1), role="multiarc", ok=0, changed=0, failed=0
        )

    def update(self, tally: RunTally, result: TaskResult | None) -> None:
        totals = tally.totals()
        self.progress.update(
            self._bar,
            description=tally.current_task[:60],
            role=tally.current_role,
            completed=tally.tasks_started,
            total=max(tally.expected_tasks, tally.tasks_started, 1),
            ok=totals.ok,
            changed=totals.changed,
            failed=totals.failed + totals.unreachable,
        )
        if result and result.status in ("changed", "failed", "unreachable"):
            style = STATUS_STYLE[result.status]
            text = f"[{style}]{result.status:>9}[/] {result.host} {result.role}: {result.task}"
            if result.message:
                text += f" — {result.message}"
            self.progress.console.print(text, highlight=False)
            if self.show_diffs and result.diff:
                self.progress.console.print(result.diff.rstrip(), markup=False, highlight=False)

    def stop(self) -> None:
        if self._bar is not None:
            self.progress.update(
                self._bar,
                description="done",
                completed=self.progress.tasks[0].completed,
                total=self.progress.tasks[0].completed or 1,
            )
        self.progress.stop()
