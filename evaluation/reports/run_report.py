"""Everything one report shows, gathered once and handed to every writer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from multiarc.evaluation import metric_names as names
from multiarc.evaluation.judge import count_verdicts
from multiarc.evaluation.model import (
    CheckResult,
    Judgement,
    Metric,
    ParseProblem,
    Status,
    StepResult,
    benchmark_steps,
)
from multiarc.evaluation.reference import Reference, canonical_field, canonical_key

from multiarc.devices import GpuModel

# More metric rows than this (key x device) and report.html / report.md group across devices.
MAX_ROWS = 400
VERDICT_ORDER = (Status.FAIL, Status.UNSTABLE, Status.WARN, Status.PASS, Status.INFO, Status.SKIP)


@dataclass(frozen=True)
class MissingFigure:
    """A reference_perf.csv row the run gave no figure for.

    FAIL when a step that should have printed it ran (and crashed, timed out or printed a
    truncated output); SKIP when its step was skipped or not part of the run (e.g.
    ``--skip-ccl``, one GPU and so no P2P, or a bare detail log without step records).
    """

    category: str
    subcategory: str
    size: str
    reference: float
    reference_text: str  # as written in reference_perf.csv
    unit: str
    verdict: Status
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "subcategory": self.subcategory,
            "size": self.size,
            "reference": self.reference,
            "unit": self.unit,
            "verdict": str(self.verdict),
            "note": self.note,
        }


@dataclass
class RunReport:
    """Checks, steps and judged metrics of one run, with the overall verdict."""

    judgements: list[Judgement]
    checks: list[CheckResult] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)
    tolerance: float = 0.10
    reference_source: str | None = None
    reference_rows: int = 0
    gpu_model: GpuModel | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    missing: list[MissingFigure] = field(default_factory=list)
    repeats: list[Metric] = field(default_factory=list)  # figures of confirm repeats
    generated_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    _cache: dict[str, tuple[int, Any]] = field(default_factory=dict, repr=False, compare=False)

    def _cached(self, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per length of ``judgements`` (a 50 MB log has 10^5 of them)."""
        hit = self._cache.get(name)
        if hit is None or hit[0] != len(self.judgements):
            hit = self._cache[name] = (len(self.judgements), compute())
        return hit[1]

    @property
    def counts(self) -> dict[str, int]:
        """Metric verdicts: {"PASS": n, "WARN": n, "FAIL": n, "INFO": n}."""
        return dict(self._cached("counts", lambda: count_verdicts(self.judgements)))

    def metric_rows(self) -> tuple[list[MetricRow], bool]:
        """The metric table of report.html / report.md: (rows, grouped across devices).

        One row per key and device (or pair); with more than :data:`MAX_ROWS` of those
        (e.g. a log of a thousand runs, each labelled with its run number), one per key.
        """

        def compute() -> tuple[list[MetricRow], bool]:
            rows = metric_rows(self.judgements)
            if len(rows) > MAX_ROWS:
                return metric_rows(self.judgements, by_devices=False), True
            return rows, False

        result: tuple[list[MetricRow], bool] = self._cached("rows", compute)
        return result

    @property
    def check_counts(self) -> dict[str, int]:
        counts = {str(s): 0 for s in Status}
        for check in self.checks:
            counts[str(check.status)] = counts.get(str(check.status), 0) + 1
        return counts

    @property
    def failed_steps(self) -> list[StepResult]:
        """Steps that ran and did not succeed (skipped steps are not failures)."""
        return [s for s in self.steps if not s.skipped_reason and not s.ok]

    @property
    def failed(self) -> bool:
        return (
            any(c.status is Status.FAIL for c in self.checks)
            or bool(self.failed_steps)
            or self.counts[str(Status.FAIL)] > 0
            or any(m.verdict is Status.FAIL for m in self.missing)
        )

    @property
    def unstable(self) -> bool:
        """A figure FAILed and passed on a repeat (confirm.py)."""
        return self.counts.get(str(Status.UNSTABLE), 0) > 0

    @property
    def verdict(self) -> Status:
        """FAIL if a check, step or metric failed; UNSTABLE if a figure fluttered; WARN if
        anything warned; else PASS."""
        if self.failed:
            return Status.FAIL
        if self.unstable:
            return Status.UNSTABLE
        warned = (
            any(c.status is Status.WARN for c in self.checks)
            or self.counts[str(Status.WARN)]
            or any(s.warnings for s in self.steps)
        )
        return Status.WARN if warned else Status.PASS

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.unstable else 0

    def summary_line(self) -> str:
        counts = self.counts
        parts = [f"{counts[str(s)]} {s}" for s in VERDICT_ORDER if counts.get(str(s))]
        text = f"{self.verdict}: {len(self.judgements)} metric(s)"
        if parts:
            text += " (" + ", ".join(parts) + ")"
        if self.checks:
            failed = self.check_counts.get("FAIL", 0)
            text += f", {len(self.checks)} check(s), {failed} failed"
        if self.steps:
            counted = benchmark_steps(self.steps)
            broken = [s for s in counted if not s.skipped_reason and not s.ok]
            text += f", {len(counted)} step(s), {len(broken)} failed"
        if self.missing:
            lost = sum(m.verdict is Status.FAIL for m in self.missing)
            text += f", {len(self.missing)} reference figure(s) not measured ({lost} FAIL)"
        return text


def verdict_reasons(report: RunReport) -> list[str]:
    """Why the run's verdict is what it is, in words the counts on the page agree with."""
    why = []
    for status in (Status.FAIL, Status.WARN):
        names_ = [c.name for c in report.checks if c.status is status]
        if names_:
            why.append(f"{len(names_)} check(s) {status} ({', '.join(names_)})")
    if report.failed_steps:
        why.append(f"{len(report.failed_steps)} step(s) failed")
    warned = [s for s in report.steps if s.warnings]
    if warned:
        why.append(f"{len(warned)} step(s) warned ({warned[0].name}: {warned[0].warnings[0]})")
    counts = report.counts
    for status in (Status.FAIL, Status.UNSTABLE, Status.WARN):
        if counts.get(str(status)):
            why.append(f"{counts[str(status)]} metric(s) {status}")
    lost = sum(m.verdict is Status.FAIL for m in report.missing)
    if lost:
        why.append(f"{lost} reference figure(s) not measured")
    return why or ["every check passed and every judged figure is within the tolerance"]


def worst(statuses: Sequence[Status]) -> Status | None:
    for status in VERDICT_ORDER:
        if status in statuses:
            return status
    return None


@dataclass
class MetricRow:
    """The runs of one metric key on one device or pair, summarised (one row in report.html).

    A log with many runs of a tool gives the same key many times; the HTML page shows each
    key once with the number of runs, mean, min and max and the worst verdict (every run
    stays in benchmark_report.csv and report.json).
    """

    first: Judgement  # the first run's judgement (key, unit, reference)
    devices: str  # the devices label, or "N labels" when grouped across devices
    worst: Judgement  # the run with the worst verdict (its note is shown)
    runs: int
    mean: float
    low: float
    high: float
    verdicts: dict[str, int]

    @property
    def ratio(self) -> float | None:
        ref = self.first.reference
        return self.mean / ref if ref else None

    @property
    def pct_of_peak(self) -> float | None:
        pct, value = self.first.pct_of_peak, self.first.metric.value
        return pct * self.mean / value if pct is not None and value else None


def _steps_for(category: str, subcategory: str) -> tuple[str, ...]:
    """Name prefixes of the steps of ``multiarc-eval basic`` that print a key's figure
    (``category`` and ``subcategory`` in :func:`canonical_field` form)."""
    c = canonical_field
    if category == c(names.P2P):
        if subcategory == c(names.P2P_BI_WRITE):
            return ("ze_peer-bidir-write-",)
        if subcategory == c(names.P2P_BI_READ):
            return ("ze_peer-bidir-read-",)
        return ("ze_peer-",)
    if category == c(names.MEMORY_BW):
        return ("ze_peak-global_bw",) if subcategory == c(names.D2D) else ("ze_peak-transfer_bw",)
    if category == c(names.GEMM):
        return (f"gemm-{subcategory}-",)
    if category == c(names.CCL):
        return (f"1ccl-{subcategory}",)
    return ()


# The tool that prints each category's figures (for the reasons of a bare detail log).
_TOOL_OF_CATEGORY = {
    canonical_field(names.P2P): "ze_peer",
    canonical_field(names.MEMORY_BW): "ze_peak",
    canonical_field(names.GEMM): "matrix_mul_mkl",
    canonical_field(names.CCL): "1ccl_benchmark",
}
BARE_LOG_NOTE = (
    "missing from the detail log: Intel's script stops at the first step that fails "
    "(set -e), so the run ended before this figure"
)


def missing_figures(
    reference: Reference,
    judgements: Sequence[Judgement],
    steps: Sequence[StepResult],
    *,
    bare_log_problems: Sequence[ParseProblem] | None = None,
) -> list[MissingFigure]:
    """The reference rows without any measured figure, with why (see :class:`MissingFigure`).

    ``bare_log_problems``: the run is a bare ``benchmark_detail_log.txt`` (no step records)
    with these parse problems. A figure missing from such a log is a FAIL: the original
    script runs under ``set -e``, so a missing section means the run died there."""
    measured = {canonical_key(j.metric.key) for j in judgements}
    missing = []
    for entry in reference:
        if entry.value is None or canonical_key(entry.key) in measured:
            continue
        if bare_log_problems is not None:
            missing.append(_missing_from_log(entry, bare_log_problems))
            continue
        prefixes = _steps_for(*canonical_key(entry.key)[:2])
        # Unidirectional P2P comes from the plain `ze_peer -s S -d D` runs only.
        mine = [
            s
            for s in steps
            if prefixes
            and s.name.lower().startswith(prefixes)
            and not (prefixes == ("ze_peer-",) and "-bidir-" in s.name)
        ]
        ran = [s for s in mine if not s.skipped_reason]
        if ran:
            verdict = Status.FAIL
            what = []
            for s in ran:
                if s.timed_out:
                    state = "timed out"
                elif s.exit_code != 0:
                    state = s.error or f"exit {s.exit_code}"
                else:
                    state = "; ".join(s.parse_problems[:2]) or "no such figure in its output"
                what.append(f"{s.name}: {state}")
            note = "no figure: " + " / ".join(what[:3]) + (" ..." if len(what) > 3 else "")
        elif mine:
            verdict = Status.SKIP
            note = f"not measured: {mine[0].name} {mine[0].skipped_reason}"
        else:
            verdict = Status.SKIP
            note = "not measured: no step of this run prints it"
        unit = _unit_of(entry)
        missing.append(
            MissingFigure(
                entry.category,
                entry.subcategory,
                entry.size,
                entry.value,
                entry.text,
                unit,
                verdict,
                note,
            )
        )
    return missing


def _unit_of(entry: Any) -> str:
    return names.UNIT_TOPS if canonical_field(entry.category) == names.GEMM else names.UNIT_GBPS


def _missing_from_log(entry: Any, problems: Sequence[ParseProblem]) -> MissingFigure:
    tool = _TOOL_OF_CATEGORY.get(canonical_field(entry.category), "")
    said = [p.message for p in problems if p.tool == tool][:2]
    note = BARE_LOG_NOTE + (f"; {tool}: " + " / ".join(said) if said else "")
    return MissingFigure(
        entry.category, entry.subcategory, entry.size, entry.value, entry.text,
        _unit_of(entry), Status.FAIL, note,
    )  # fmt: skip


_RANK = {status: rank for rank, status in enumerate(VERDICT_ORDER)}


def _devices_label(js: Sequence[Judgement]) -> str:
    """A row grouped across devices: the ones not passing by name, then how many in all."""
    labels = list(dict.fromkeys(j.metric.devices for j in js))
    bad = list(dict.fromkeys(
        j.metric.devices for j in js if j.verdict in (Status.FAIL, Status.UNSTABLE, Status.WARN)
    ))  # fmt: skip
    if not bad:
        return f"{len(labels)} devices or pairs"
    shown = ", ".join(bad[:6]) + (f" (+{len(bad) - 6})" if len(bad) > 6 else "")
    return f"not passing: {shown} (of {len(labels)})"


def metric_rows(judgements: Sequence[Judgement], *, by_devices: bool = True) -> list[MetricRow]:
    """Judgements grouped by (key, devices, unit), or (key, unit), in order of appearance."""
    groups: dict[tuple[str, ...], list[Judgement]] = {}
    for j in judgements:
        m = j.metric
        # grouped across devices, pairs of different topology classes stay apart
        key = (m.category, m.subcategory, m.size, m.unit, m.devices if by_devices else j.group)
        group = groups.get(key)
        if group is None:
            groups[key] = [j]
        else:
            group.append(j)
    rows = []
    for js in groups.values():
        values = [j.metric.value for j in js]
        verdicts: dict[str, int] = {}
        worst = js[0]
        for j in js:
            verdicts[j.verdict] = verdicts.get(j.verdict, 0) + 1
            if _RANK[j.verdict] < _RANK[worst.verdict]:
                worst = j
        labels = {j.metric.devices for j in js} if not by_devices else set()
        devices = js[0].metric.devices if by_devices or len(labels) == 1 else _devices_label(js)
        rows.append(
            MetricRow(
                js[0],
                devices,
                worst,
                len(js),
                sum(values) / len(values),
                min(values),
                max(values),
                verdicts,
            )
        )
    return rows
