"""The server's Prometheus metrics while a point runs, read with prometheus_client's parser.

vLLM's names are the one place below (``VLLM``); the monitoring dashboard in
examples/monitoring is checked against the names a real server exports.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

# vLLM's metric names (samples; counters end in _total)
RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
KV_CACHE = "vllm:kv_cache_usage_perc"
PREEMPTIONS = "vllm:num_preemptions_total"
PROMPT_TOKENS = "vllm:prompt_tokens_total"
GENERATION_TOKENS = "vllm:generation_tokens_total"
SUCCESS = "vllm:request_success_total"
GAUGES = (RUNNING, WAITING, KV_CACHE)
COUNTERS = (PREEMPTIONS, PROMPT_TOKENS, GENERATION_TOKENS, SUCCESS)
CACHE_CONFIG = "vllm:cache_config_info"


def _only(text: str, names: tuple[str, ...]) -> str:
    """The sample lines of ``names``: vLLM's page is ~60 KB of histograms, and parsing all
    of it took 15-30 ms of the event loop that times the streams; these few lines ~1 ms."""
    starts = tuple(n + c for n in names for c in ("{", " "))
    return "\n".join(line for line in text.splitlines() if line.startswith(starts)) + "\n"


def parse_metrics(text: str, names: tuple[str, ...] | None = None) -> dict[str, float]:
    """Sample name -> value summed over its labels (engines, models); only the samples of
    ``names`` when given."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text if names is None else _only(text, names)):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + float(sample.value)
    return values


def info_labels(text: str, name: str = CACHE_CONFIG) -> dict[str, str]:
    """The labels of an ``*_info`` metric (e.g. vLLM's cache configuration)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return dict(sample.labels)
    return {}


@dataclass
class MetricsSummary:
    available: bool = False
    max_running: float | None = None
    max_waiting: float | None = None
    max_kv_cache: float | None = None
    deltas: dict[str, float] = field(default_factory=dict)  # counter -> increase over the point
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"available": self.available, "max_running": self.max_running,
                "max_waiting": self.max_waiting, "max_kv_cache_usage": self.max_kv_cache,
                **{k.split(":")[-1]: v for k, v in self.deltas.items()}, "note": self.note}


async def scrape(client: httpx.AsyncClient) -> dict[str, float] | None:
    try:
        response = await client.get("/metrics", timeout=5.0)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        return parse_metrics(response.text, GAUGES + COUNTERS)
    except ValueError:
        return None


class Watcher:
    """Scrapes /metrics every ``interval`` seconds while a point runs. Each scrape costs the
    server too: vLLM's API server, the process that streams the tokens, took 60-80 ms to
    answer /metrics here (CPU build, 2 CPUs), so a scrape every second, not more."""

    def __init__(self, client: httpx.AsyncClient, interval: float = 1.0) -> None:
        self.client, self.interval = client, interval
        self.first: dict[str, float] | None = None
        self.last: dict[str, float] | None = None
        self.peaks: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def _take(self, values: dict[str, float]) -> None:
        if self.first is None:
            self.first = values
        self.last = values
        for name in GAUGES:
            if name in values:
                self.peaks[name] = max(self.peaks.get(name, 0.0), values[name])

    async def start(self) -> None:
        values = await scrape(self.client)
        if values is not None:
            self._take(values)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            values = await scrape(self.client)
            if values is not None:
                self._take(values)

    async def stop(self) -> MetricsSummary:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        values = await scrape(self.client)
        if values is not None:
            self._take(values)
        if self.first is None or self.last is None:
            return MetricsSummary(note="no /metrics (or not Prometheus text)")
        deltas = {n: self.last[n] - self.first[n] for n in COUNTERS
                  if n in self.last and n in self.first}
        return MetricsSummary(True, self.peaks.get(RUNNING), self.peaks.get(WAITING),
                              self.peaks.get(KV_CACHE), deltas)
