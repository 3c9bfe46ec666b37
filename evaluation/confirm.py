"""Confirm before FAIL: a step whose figure FAILs is run again, and the verdict says whether
the failure held.

``basic --confirm N`` (default 1, 0 turns it off) runs every step that produced a FAIL
figure N more times, named ``<step>@confirm<k>``, with its own raw log (not appended to
the detail log, which stays the original's). The run is then judged twice: as measured,
and with each repeated figure in place of the first. A figure that FAILed and passes on a
repeat is **UNSTABLE** (its own status, exit 1 like FAIL, counted apart), both figures kept;
one that fails on every repeat is a FAIL "confirmed by N repeat(s)".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from multiarc.evaluation.model import Judgement, Metric, Status
from multiarc.evaluation.runner import StepOutcome
from multiarc.evaluation.steps import StepSpec

CONFIRM_SUFFIX = "@confirm"
DEFAULT_CONFIRM = 1
_REPEAT = re.compile(r"^(?P<step>.+)@confirm(?P<round>\d+)$")

Judge = Callable[[Sequence[Metric]], list[Judgement]]
Runner = Callable[[list[StepSpec]], tuple[list[StepOutcome], bool]]


def is_repeat(metric: Metric) -> bool:
    return CONFIRM_SUFFIX in metric.step


def steps_to_confirm(judgements: Sequence[Judgement], specs: Sequence[StepSpec]) -> list[str]:
    """Names of the steps (in plan order) that produced at least one FAIL figure."""
    failing = {j.metric.step for j in judgements if j.verdict is Status.FAIL and j.metric.step}
    return [s.name for s in specs if s.name in failing]


def repeat_specs(specs: Sequence[StepSpec], names: Sequence[str], rounds: int) -> list[StepSpec]:
    """The repeats to run: each named step ``rounds`` times, named ``<step>@confirm<k>``."""
    by_name = {s.name: s for s in specs}
    return [
        replace(by_name[name], name=f"{name}{CONFIRM_SUFFIX}{k}")
        for k in range(1, rounds + 1)
        for name in names
        if name in by_name
    ]


def _identity(metric: Metric, step: str) -> tuple[str, ...]:
    return (step, metric.category, metric.subcategory, metric.size, metric.unit, metric.devices)


def split_repeats(metrics: Sequence[Metric]) -> tuple[list[Metric], list[Metric]]:
    originals = [m for m in metrics if not is_repeat(m)]
    return originals, [m for m in metrics if is_repeat(m)]


def apply_confirmations(
    judgements: list[Judgement], repeats: Sequence[Metric], judge: Judge
) -> None:
    """UNSTABLE or confirmed FAIL for every FAIL figure that has repeats (in place)."""
    by_round: dict[int, dict[tuple[str, ...], Metric]] = {}
    for m in repeats:
        match = _REPEAT.match(m.step)
        if match:
            by_round.setdefault(int(match["round"]), {})[_identity(m, match["step"])] = m
    if not by_round:
        return
    originals = [j.metric for j in judgements]
    outcomes: dict[int, list[tuple[float, Status]]] = {}
    for _round, found in sorted(by_round.items()):
        swapped = [found.get(_identity(m, m.step), m) for m in originals]
        again = judge(swapped)
        for index, (m, j) in enumerate(zip(swapped, again, strict=True)):
            if m is not originals[index]:
                outcomes.setdefault(index, []).append((m.value, j.verdict))
    for index, results in outcomes.items():
        j = judgements[index]
        if j.verdict is not Status.FAIL:
            continue
        values = results
        j.repeats = [v for v, _ in values]
        shown = ", ".join(f"{v:g}" for v, _ in values)
        if any(verdict is not Status.FAIL for _, verdict in values):
            j.verdict = Status.UNSTABLE
            j.note = (
                f"UNSTABLE: FAIL at {j.metric.value:g} {j.metric.unit}, then {shown} on "
                f"repeat (not FAIL): the figure flutters; {j.note}"
            )
        else:
            j.note = f"{j.note}; confirmed by {len(values)} repeat(s): {shown} {j.metric.unit}"


def run_confirmations(
    judgements: Sequence[Judgement], specs: Sequence[StepSpec], rounds: int, runner: Runner
) -> tuple[list[StepOutcome], bool]:
    """Run the steps with FAIL figures ``rounds`` more times; (their outcomes, interrupted)."""
    names = steps_to_confirm(judgements, specs)
    if rounds <= 0 or not names:
        return [], False
    return runner(repeat_specs(specs, names, rounds))
