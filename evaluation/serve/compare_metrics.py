"""A serving sweep as metrics, so ``multiarc-eval compare`` judges two serving runs the way
it judges two evaluations: per batch size, output tokens/s (higher is better) and the p90
of TTFT, TPOT and ITL in ms (lower is better)."""

from __future__ import annotations

from typing import Any

from multiarc.evaluation.model import Metric

CATEGORY = "serving"
FIGURES = (
    ("total_throughput", "output throughput", "tok/s"),
    ("ttft_p90_ms", "TTFT p90", "ms"),
    ("tpot_p90_ms", "TPOT p90", "ms"),
    ("itl_p90_ms", "ITL p90", "ms"),
)


def serving_metrics(data: dict[str, Any]) -> list[Metric]:
    found: list[Metric] = []
    for point in data.get("points") or []:
        if not isinstance(point, dict) or not point.get("succeeded"):
            continue
        for column, label, unit in FIGURES:
            value = point.get(column)
            if isinstance(value, int | float):
                found.append(Metric(CATEGORY, label, f"batch {point.get('batch_size')}",
                                    float(value), unit))
    return found
