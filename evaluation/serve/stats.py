"""The figures of one sweep point, from its requests: latencies and throughput."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from multiarc.evaluation.serve.client import RequestResult

STATS = ("mean", "p50", "p90", "p99")


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {s: None for s in STATS}
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "p50": float(np.percentile(arr, 50)),
            "p90": float(np.percentile(arr, 90)), "p99": float(np.percentile(arr, 99))}


@dataclass
class PointFigures:
    succeeded: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # failure reason -> count
    latency: dict[str, dict[str, float | None]] = field(default_factory=dict)  # ttft/tpot/..
    output_tokens: int = 0
    input_tokens: int = 0
    total_throughput: float = 0.0  # output tokens/s over the point's wall time
    throughput_per_request: float = 0.0  # total / batch size
    input_throughput: float = 0.0
    tokens_from: str = "usage"


def figures(results: list[RequestResult], wall_s: float, batch: int) -> PointFigures:
    done = [r for r in results if r.ok]
    fig = PointFigures(succeeded=len(done), failed=len(results) - len(done))
    for r in results:
        if not r.ok and r.error:
            fig.reasons[r.error] = fig.reasons.get(r.error, 0) + 1
    fig.latency = {
        "ttft": summary([r.ttft for r in done if r.ttft is not None]),
        "tpot": summary([t for r in done if (t := r.tpot) is not None]),
        "itl": summary([gap for r in done for gap in r.itl]),
        "e2e": summary([r.e2e for r in done]),
    }
    fig.output_tokens = sum(r.output_tokens or 0 for r in done)
    fig.input_tokens = sum(r.prompt_tokens or 0 for r in done)
    if wall_s > 0:
        fig.total_throughput = fig.output_tokens / wall_s
        fig.input_throughput = fig.input_tokens / wall_s
    fig.throughput_per_request = fig.total_throughput / batch if batch else 0.0
    if any(r.tokens_from != "usage" for r in done):
        fig.tokens_from = "chunks (the server sent no usage)"
    return fig


def meets(limits: dict[str, float], fig: PointFigures) -> list[str]:
    """The SLO limits this point breaks ("ttft_p90 2.41 s > 2 s"); [] when it meets all."""
    broken = []
    for key, limit in limits.items():
        latency, stat = key.split("_", 1)
        value = fig.latency.get(latency, {}).get(stat)
        if value is None:
            broken.append(f"{key} not measured")
        elif value > limit:
            broken.append(f"{key} {value:.3g} s > {limit:.3g} s")
    return broken


def request_meets(limits: dict[str, float], r: RequestResult) -> bool:
    """One request within the per-request parts of the SLO (goodput counts these)."""
    values = {"ttft": r.ttft, "tpot": r.tpot, "e2e": r.e2e,
              "itl": max(r.itl) if r.itl else None}
    for key, limit in limits.items():
        value = values.get(key.split("_", 1)[0])
        if value is not None and value > limit:
            return False
    return r.ok
