"""The sweep's files in the run folder: serve_sweep.csv (the original batch_size_sweep.py's
columns first), serve_sweep.json, serve_sweep.png (its two panels, plus TTFT and TPOT p90)
and report.html (the serving section)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from multiarc.evaluation.serve.sweep import Point, Sweep

# batch_size_throughput.csv of the original script: batch size, total output tokens/s,
# output tokens/s per request. Then everything else.
ORIGINAL_COLUMNS = ("batch_size", "total_throughput", "throughput_per_request")
LATENCIES = ("ttft", "tpot", "itl", "e2e")
STATS = ("mean", "p50", "p90", "p99")
SERVER_COLUMNS = ("max_running", "max_waiting", "max_kv_cache_usage",
                  "prompt_tokens_total", "generation_tokens_total", "num_preemptions_total")


def point_row(p: Point) -> dict[str, Any]:
    f = p.figures
    row: dict[str, Any] = {
        "batch_size": p.batch, "total_throughput": round(f.total_throughput, 3),
        "throughput_per_request": round(f.throughput_per_request, 3),
        "status": p.status, "reason": p.reason, "succeeded": f.succeeded, "failed": f.failed,
        "input_throughput": round(f.input_throughput, 3), "output_tokens": f.output_tokens,
        "input_tokens": f.input_tokens, "wall_s": round(p.wall_s, 3),
        "goodput": None if p.goodput is None else round(p.goodput, 3),
        "reference_throughput": p.reference,
    }
    for latency in LATENCIES:
        for stat in STATS:
            value = f.latency.get(latency, {}).get(stat)
            row[f"{latency}_{stat}_ms"] = None if value is None else round(value * 1000, 3)
    server = p.server.as_dict()
    for column in SERVER_COLUMNS:
        row[f"server_{column}"] = server.get(column)
    for column, per_gpu in p.gpus.peaks.items():
        name = column.split(" (")[0].lower().replace(" ", "_")
        row[f"gpu_max_{name}"] = max(per_gpu.values()) if per_gpu else None
    return row


def best_within_slo(sweep: Sweep) -> Point | None:
    ok = [p for p in sweep.points if p.slo_broken == [] and p.status != "FAIL"]
    return max(ok, key=lambda p: p.batch) if ok else None


def to_dict(sweep: Sweep, meta: dict[str, Any]) -> dict[str, Any]:
    best = best_within_slo(sweep)
    return {
        "meta": meta, "server": sweep.info.as_dict(), "prompts": sweep.prompt_note,
        "stopped": sweep.stopped,
        "best_within_slo": None if best is None else {"batch_size": best.batch,
                                                      "goodput": best.goodput},
        "points": [point_row(p) | {"failure_reasons": p.figures.reasons,
                                   "slo_broken": p.slo_broken,
                                   "tokens_from": p.figures.tokens_from,
                                   "gpu_telemetry": p.gpus.as_dict()}
                   for p in sweep.points],
    }


def write_csv(path: Path, sweep: Sweep) -> None:
    rows = [point_row(p) for p in sweep.points]
    columns = list(dict.fromkeys(c for row in rows for c in row)) or list(ORIGINAL_COLUMNS)
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def write_png(path: Path, sweep: Sweep) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [p for p in sweep.points if p.figures.succeeded]
    x = [p.batch for p in done]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), dpi=100)
    panels = (
        (axes[0][0], [p.figures.total_throughput for p in done], "total throughput (tok/s)"),
        (axes[0][1], [p.figures.throughput_per_request for p in done],
         "throughput per request (tok/s)"),
        (axes[1][0], [_ms(p, "ttft") for p in done], "TTFT p90 (ms)"),
        (axes[1][1], [_ms(p, "tpot") for p in done], "TPOT p90 (ms)"),
    )
    for ax, values, title in panels:
        ax.plot(x, values, marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(b) for b in x])
        ax.minorticks_off()
        ax.set_xlabel("batch size (concurrent requests)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{sweep.info.model}: serving sweep ({sweep.info.endpoint})")
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def _ms(p: Point, latency: str) -> float:
    value = p.figures.latency.get(latency, {}).get("p90")
    return float("nan") if value is None else value * 1000


def write_all(folder: Path, sweep: Sweep, meta: dict[str, Any]) -> dict[str, Any]:
    data = to_dict(sweep, meta)
    (folder / "serve_sweep.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    write_csv(folder / "serve_sweep.csv", sweep)
    write_png(folder / "serve_sweep.png", sweep)
    from multiarc.evaluation.serve.html import write_html

    write_html(folder / "report.html", data)
    return data
