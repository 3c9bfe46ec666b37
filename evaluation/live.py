"""What ``quick`` and ``basic`` show in the terminal: check table, live step view, verdict.

On a terminal the step view is a rich Live panel (current step, n of m, elapsed time, the
status of every step so far); otherwise (a pipe, a CI log) one plain line per step.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from types import TracebackType

from multiarc.evaluation.model import (
    CheckResult,
    Judgement,
    Status,
    StepResult,
    benchmark_steps,
)
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .steps import StepSpec

STYLE = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.UNSTABLE: "bold magenta",
    Status.FAIL: "bold red",
    Status.SKIP: "dim",
    Status.INFO: "cyan",
}
LIVE_ROWS = 14  # rows of finished steps shown while running
OK_STAR_LEGEND = (
    "ok* = the tool exited 0 but its output was not read completely (cut off, an error line "
    "or an unreadable figure): the note says what; its missing figures are FAIL"
)


def steps_line(steps: Sequence[StepResult]) -> str:
    counted = benchmark_steps(steps)
    failed = [s for s in counted if not s.ok and not s.skipped_reason]
    skipped = [s for s in counted if s.skipped_reason]
    text = f"steps: {len(counted) - len(failed) - len(skipped)} of {len(counted)} ok"
    if failed:
        text += f", {len(failed)} failed ({', '.join(s.name for s in failed)})"
    if skipped:
        text += f", {len(skipped)} not run"
    return text


def _box(console: Console) -> box.Box:
    return box.SIMPLE_HEAD if console.is_terminal else box.ASCII


def step_status(result: StepResult) -> tuple[str, str]:
    """(short status, style) of a finished step."""
    if result.skipped_reason:
        return "not run", "dim"
    if result.timed_out:
        return "TIMEOUT", "bold red"
    if result.exit_code is None:
        return "ERROR", "bold red"
    if result.exit_code < 0:
        return "CRASHED", "bold red"
    if result.exit_code != 0:
        return f"exit {result.exit_code}", "bold red"
    if result.parse_problems:
        return "ok*", "yellow"
    if result.warnings:
        return "WARN", "yellow"
    return "ok", "green"


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def checks_table(checks: Sequence[CheckResult], console: Console, title: str = "") -> Table:
    table = Table(title=title or None, box=_box(console), show_lines=False, expand=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("reason / what to do", overflow="fold")
    for check in checks:
        text = Text(check.reason)
        if check.hint and check.status != Status.PASS:
            text.append("\n-> " + check.hint, style="dim")
        table.add_row(check.name, Text(str(check.status), style=STYLE[check.status]), text)
    return table


def steps_table(rows: Iterable[tuple[int, StepResult]], console: Console) -> Table:
    table = Table(box=_box(console), expand=False)
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("note", overflow="fold")
    for index, result in rows:
        status, style = step_status(result)
        note = result.error or result.skipped_reason
        if not note and result.parse_problems:
            note = result.parse_problems[0]
        if not note and result.warnings:
            note = result.warnings[0]
        table.add_row(
            str(index),
            result.name,
            Text(status, style=style),
            f"{result.duration_s:.1f}s",
            note[:120],
        )
    return table


def verdict_table(judgements: Sequence[Judgement], console: Console) -> Table:
    """Judged metrics that matter: every one with a reference, and every non-INFO one."""
    table = Table(box=_box(console), expand=False)
    for column in ("category", "subcategory", "size", "devices", "measured", "reference"):
        table.add_column(column, justify="right" if column in ("measured", "reference") else "left")
    table.add_column("ratio", justify="right")
    table.add_column("verdict")
    table.add_column("why", overflow="fold", max_width=70)
    for j in judgements:
        if j.verdict == Status.INFO and j.reference is None and not j.by_peers:
            continue
        m = j.metric
        why = j.note if j.verdict not in (Status.PASS, Status.INFO) else ""
        table.add_row(
            m.category,
            m.subcategory,
            m.size,
            m.devices,
            f"{m.value:g} {m.unit}",
            "" if j.reference is None else f"{j.reference:g}",
            "" if j.ratio is None else f"{j.ratio:.2f}",
            Text(str(j.verdict), style=STYLE.get(j.verdict, "")),
            why,
        )
    return table


class LiveView:
    """Step progress for ``basic``: a rich Live panel on a terminal, plain lines otherwise."""

    def __init__(self, console: Console, total: int, title: str = "") -> None:
        self.console = console
        self.total = total
        self.title = title
        self.started = time.monotonic()
        self.current: tuple[int, StepSpec, float] | None = None
        self.done: list[tuple[int, StepResult]] = []
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        if self.console.is_terminal:
            self._live = Live(
                console=self.console,
                get_renderable=self._render,
                refresh_per_second=4,
                transient=False,
            )
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self.current = None
            self._live.update(self._render())
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def _render(self) -> Group:
        elapsed = _elapsed(time.monotonic() - self.started)
        if self.current is not None:
            index, spec, since = self.current
            head = Text.assemble(
                (f"step {index} of {self.total}: ", "bold"),
                (spec.name, "bold cyan"),
                f"  ({_elapsed(time.monotonic() - since)}, timeout {spec.timeout_s:g} s)",
                f"  total {elapsed}",
            )
        else:
            head = Text(f"{len(self.done)} of {self.total} steps, {elapsed}", style="bold")
        parts: list[Text | Table] = []
        if self.title:
            parts.append(Text(self.title, style="bold magenta"))
        parts += [head, steps_table(self.done[-LIVE_ROWS:], self.console)]
        return Group(*parts)

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def step_started(self, index: int, spec: StepSpec) -> None:
        self.current = (index, spec, time.monotonic())
        if self._live is None:
            self.console.print(
                f"[{index}/{self.total}] {spec.name}: {' '.join(spec.argv)}", highlight=False
            )
        self.refresh()

    def step_finished(self, index: int, spec: StepSpec, result: StepResult) -> None:
        self.done.append((index, result))
        self.current = None
        if self._live is None:
            status, _ = step_status(result)
            note = f"  ({result.error})" if result.error else ""
            if status == "ok*" and result.parse_problems:
                note = f"  (exit 0, but: {result.parse_problems[0][:140]})"
            elif result.warnings:
                note = f"  ({result.warnings[0][:140]})"
            self.console.print(
                f"[{index}/{self.total}] {spec.name}: {status} in {result.duration_s:.1f}s{note}",
                highlight=False,
            )
        self.refresh()


def checks_line(results: list[CheckResult]) -> str:
    """"checks: WARN (7 PASS, 1 WARN)": the worst status first, then the counts."""
    counts: dict[str, int] = {}
    for c in results:
        counts[str(c.status)] = counts.get(str(c.status), 0) + 1
    shown = ", ".join(f"{n} {s}" for s, n in counts.items())
    verdict = next((s for s in ("FAIL", "WARN") if counts.get(s)), "PASS")
    return f"checks: {verdict} ({shown})"
