"""The evaluation's data model: checks, steps, metrics and verdicts.

Shared by the runner (which produces them), the comparison (which judges metrics against
the reference) and the report writers (which render them). Plain dataclasses, JSON-able
through ``to_dict``.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"
    INFO = "INFO"  # a figure with nothing to judge it against
    UNSTABLE = "UNSTABLE"  # FAILed, then passed on a repeat (confirm.py): exit 1 like FAIL


@dataclass
class CheckResult:
    """One device/system check of ``multiarc-eval quick``."""

    name: str  # e.g. "gpu-count", "pcie-link", "iommu"
    status: Status
    reason: str  # one line: what was found
    hint: str = ""  # one line: what to do (empty on PASS)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ParseProblem:
    """What a parser could not read; parsers return these instead of raising."""

    tool: str
    message: str
    line: int | None = None  # 1-based line in the parsed text, where known

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.tool}: {self.message}{where}"


@dataclass
class StepResult:
    """One tool invocation of ``multiarc-eval basic``."""

    name: str  # e.g. "ze_peer-bidir-write-0-1"
    argv: list[str]
    exit_code: int | None  # None when it never ran or was killed
    duration_s: float
    log_path: str  # raw log, relative to the run folder
    timed_out: bool = False
    skipped_reason: str = ""
    error: str = ""  # why it failed to start / crashed, one line
    parse_problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. "GPU busy: pid 4242 (...)"
    conditions: dict[str, Any] = field(default_factory=dict)  # e.g. {"gpu_holders": [...]}

    @property
    def ok(self) -> bool:
        return not self.skipped_reason and not self.timed_out and self.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


SETVARS_STEP = "setvars"  # recorded as a step (the original logs it), not counted as one


def benchmark_steps(steps: list[StepResult]) -> list[StepResult]:
    """The planned steps, as progress counts them ("[3/21]"): not the setvars record."""
    return [s for s in steps if s.name != SETVARS_STEP]


@dataclass(frozen=True)
class Metric:
    """One measured figure, keyed like Intel's reference_perf.csv."""

    category: str  # "p2p", "GPU memory bandwidth", "gemm", "1ccl"
    subcategory: str  # "Unidirectional Write", "H2D", "int8", "allreduce"
    size: str  # "Data/Packet Size": "128 MB", "float16", "128MB" or ""
    value: float
    unit: str  # "GB/s", "TOPS", "us"
    devices: str = ""  # "0->1", "0<->1", "0" ... where the figure is per device or pair
    step: str = ""  # StepResult.name it came from

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.category, self.subcategory, self.size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Judgement:
    """A metric compared with its reference and the device's theoretical peak."""

    metric: Metric
    verdict: Status
    reference: float | None = None
    ratio: float | None = None  # measured / reference
    pct_of_peak: float | None = None  # 0..100+, where the peak is known
    note: str = ""  # e.g. why a figure is physically impossible
    group: str = ""  # the class of GPU pair of a P2P figure ("same switch", ...), see topology
    peer_median: float | None = None  # the median of its peers (same key and class)
    peers: int = 0  # how many peers that median is of
    by_peers: bool = False  # no reference for its class: judged against its peers alone
    repeats: list[float] = field(default_factory=list)  # its figures on repeat (confirm.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.metric.to_dict(),
            "verdict": str(self.verdict),
            "reference": self.reference,
            "ratio": self.ratio,
            "pct_of_peak": self.pct_of_peak,
            "note": self.note,
            "topology": self.group,
            "peer_median": self.peer_median,
            "peers": self.peers,
            "repeats": list(self.repeats),
        }
