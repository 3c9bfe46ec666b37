"""The sweep: for each batch size, that many concurrent streams (and more rounds when
``--requests-per-batch`` asks), /metrics scraped meanwhile, everything kept as it comes.

A dead server is a verdict: when streams fail with refused or reset connections (or are
cut mid-stream) and ``/health`` no longer answers, the point is FAIL "server died at batch
32: connection reset after 12 of 32 streams", the sweep stops (or waits ``--wait-restart``
seconds for the server to come back), and every point measured before is kept.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
from multiarc.evaluation.serve import metrics, prompts, telemetry
from multiarc.evaluation.serve.client import RequestResult, stream_request
from multiarc.evaluation.serve.options import ServeOptions
from multiarc.evaluation.serve.server import ServerInfo
from multiarc.evaluation.serve.stats import PointFigures, figures, meets, request_meets


@dataclass
class Point:
    batch: int
    status: str = "PASS"  # PASS, WARN, FAIL, INFO, NOT RUN
    reason: str = ""
    wall_s: float = 0.0
    requests: list[RequestResult] = field(default_factory=list)
    figures: PointFigures = field(default_factory=PointFigures)
    server: metrics.MetricsSummary = field(default_factory=metrics.MetricsSummary)
    gpus: telemetry.GpuTelemetry = field(default_factory=telemetry.GpuTelemetry)
    slo_broken: list[str] | None = None  # None: no SLO asked
    goodput: float | None = None  # output tokens/s of the requests within the SLO
    reference: float | None = None  # reference tokens/s for this batch


Observer = Callable[[str, Point], None]  # ("start" | "done", point)


@dataclass
class Clients:
    """The sweep's HTTP clients: httpx for the untimed calls (health, metrics, tokenize),
    aiohttp for the timed streams (its lower cost per request: see client.py)."""

    http: httpx.AsyncClient
    streams: aiohttp.ClientSession


@dataclass
class Sweep:
    info: ServerInfo
    prompt_note: str
    points: list[Point]
    stopped: str | None = None  # why the sweep ended early


async def _healthy(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/health", timeout=3.0)).status_code == 200
    except httpx.HTTPError:
        return False


async def _wait_back(client: httpx.AsyncClient, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if await _healthy(client):
            return True
        await asyncio.sleep(2.0)
    return False


async def _run_point(clients: Clients, info: ServerInfo, opts: ServeOptions,
                     point: Point, pool: list[Any]) -> None:
    rounds = max(1, math.ceil((opts.requests_per_batch or point.batch) / point.batch))
    watcher = metrics.Watcher(clients.http)
    await watcher.start()
    dump = telemetry.DumpWatcher(info.local)
    await dump.start()
    start = time.perf_counter()
    try:
        for r in range(rounds):
            specs = [prompts.request(info, pool[(r * point.batch + i) % len(pool)],
                                     opts.output_len) for i in range(point.batch)]
            remaining = opts.timeout_per_batch - (time.perf_counter() - start)
            tasks = [asyncio.create_task(stream_request(clients.streams, opts.url, s))
                     for s in specs]
            done, pending = await asyncio.wait(tasks, timeout=max(remaining, 0.001))
            for task in pending:
                task.cancel()
            point.requests += [t.result() for t in done]
            if pending:
                point.requests += [RequestResult(error=f"not finished within the point's "
                                                 f"{opts.timeout_per_batch:g} s")
                                   for _ in pending]
                break
            if any(x.transport_error for x in point.requests):
                break
    finally:
        point.wall_s = time.perf_counter() - start
        point.server = await watcher.stop()
        point.gpus = await dump.stop()
    point.figures = figures(point.requests, point.wall_s, point.batch)


def _judge(point: Point, opts: ServeOptions, dead: bool) -> None:
    fig = point.figures
    if dead:
        transport = next((r.error for r in point.requests if r.transport_error), "no answer")
        point.status = "FAIL"
        point.reason = (f"server died at batch {point.batch}: {transport} after "
                        f"{fig.succeeded} of {len(point.requests)} streams")
        return
    if fig.failed:
        point.status = "FAIL"
        top = max(fig.reasons.items(), key=lambda kv: kv[1])
        point.reason = f"{fig.failed} of {len(point.requests)} requests failed: {top[0]}"
        return
    if opts.slo:
        point.slo_broken = meets(opts.slo, point.figures)
        good = [r for r in point.requests if request_meets(opts.slo, r)]
        point.goodput = (sum(r.output_tokens or 0 for r in good) / point.wall_s
                         if point.wall_s else 0.0)
        if point.slo_broken:
            point.status = "FAIL"
            point.reason = "SLO: " + "; ".join(point.slo_broken)
            return
    if point.reference is not None and point.reference > 0:
        score = fig.total_throughput / point.reference
        tol = opts.tolerance
        label = (f"{fig.total_throughput:.1f} tok/s is {score:.0%} of the reference "
                 f"{point.reference:.1f}")
        point.status = "PASS" if score >= 1 - tol else "WARN" if score >= 1 - 2 * tol else "FAIL"
        point.reason = label
    elif not opts.slo:
        point.status = "INFO"
        point.reason = "no SLO and no reference for this batch size: measured only"


async def run_sweep(opts: ServeOptions, info: ServerInfo, clients: Clients,
                    references: dict[int, float], observer: Observer | None = None) -> Sweep:
    biggest = max(opts.batch_sizes)
    pool_size = max(biggest, opts.requests_per_batch or 0)
    prompt_set = await prompts.build(clients.http, info, pool_size, opts.input_len, opts.seed)
    sweep = Sweep(info, prompt_set.note, [Point(b, reference=references.get(b))
                                          for b in opts.batch_sizes])
    for index, point in enumerate(sweep.points):
        if sweep.stopped:
            point.status, point.reason = "NOT RUN", sweep.stopped
            continue
        if observer:
            observer("start", point)
        await _run_point(clients, info, opts, point, prompt_set.prompts)
        dead = (any(r.transport_error for r in point.requests)
                and not await _healthy(clients.http))
        _judge(point, opts, dead)
        if observer:
            observer("done", point)
        if dead:
            if opts.wait_restart > 0 and await _wait_back(clients.http, opts.wait_restart):
                continue
            rest = len(sweep.points) - index - 1
            sweep.stopped = f"not run: the server died at batch {point.batch}"
            if rest and opts.wait_restart > 0:
                sweep.stopped += f" and was not back within {opts.wait_restart:g} s"
    return sweep
