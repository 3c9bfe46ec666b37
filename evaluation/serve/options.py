"""What a serving sweep is asked to do: the command line as one object, and its parsers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from multiarc.errors import InputError

ENDPOINTS = ("auto", "chat", "completions")
# SLO keys: a latency and a statistic, e.g. ttft_p90; values in s, ms or us.
SLO_LATENCIES = ("ttft", "tpot", "itl", "e2e")
SLO_STATS = ("mean", "p50", "p90", "p99")
_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class ServeOptions:
    url: str = "http://127.0.0.1:8000"
    model: str | None = None  # default: the server's first model
    batch_sizes: tuple[int, ...] = DEFAULT_BATCHES
    input_len: int = 1024
    output_len: int = 512
    requests_per_batch: int | None = None  # None: one round of `batch` requests
    timeout_per_batch: float = 1200.0
    endpoint: str = "auto"
    api_key: str | None = None
    reference: Path | None = None
    slo: dict[str, float] = field(default_factory=dict)  # "ttft_p90" -> seconds
    tolerance: float = 0.10
    wait_restart: float = 0.0  # seconds to wait for a dead server to come back; 0: stop
    request_timeout: float = 600.0  # one stream: no byte for this long is a failure
    output: Path = Path("results")
    seed: int = 0


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"--batch-sizes {text!r}: not a list of numbers",
                         "give e.g. --batch-sizes 1,2,4,8") from None
    if not sizes or any(s < 1 or s > 4096 for s in sizes):
        raise InputError(f"--batch-sizes {text!r}: each size must be 1 .. 4096",
                         "give e.g. --batch-sizes 1,2,4,8")
    return tuple(sorted(set(sizes)))


def powers_of_two(max_batch: int) -> tuple[int, ...]:
    if max_batch < 1:
        raise InputError(f"--max-batch {max_batch}: must be at least 1", "e.g. --max-batch 256")
    sizes, n = [], 1
    while n <= max_batch:
        sizes.append(n)
        n *= 2
    return tuple(sizes)


def parse_slo(text: str | None) -> dict[str, float]:
    """``ttft_p90=2s,tpot_p90=100ms`` -> {"ttft_p90": 2.0, "tpot_p90": 0.1}."""
    if not text:
        return {}
    hint = ("give KEY=VALUE pairs such as ttft_p90=2s,tpot_p90=100ms; keys: "
            f"{'|'.join(SLO_LATENCIES)} + _{'|'.join(SLO_STATS)}, units s, ms, us")
    limits: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        latency, _, stat = key.partition("_")
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|ms|us)", value.strip())
        if not sep or latency not in SLO_LATENCIES or stat not in SLO_STATS or not match:
            raise InputError(f"--slo {part.strip()!r} is not understood", hint)
        limits[key] = float(match.group(1)) * _UNITS[match.group(2)]
    return limits
