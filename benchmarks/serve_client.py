"""The serving client measured: its own cost, and its agreement with `vllm bench serve`.

(a) overhead: CPU time of multiarc's streaming client per streamed token, against a local
    server that streams as fast as it can (in its own process);
(b) headroom: the TTFT it measures against a server with a fixed 50 ms first token and
    10 ms between tokens, at 1 .. 256 concurrent streams: the concurrency from which the
    client's own CPU adds more than 5 % to the TTFT;
(c) agreement: median TTFT and TPOT of `multiarc-eval serve` and of `vllm bench serve`, run
    side by side against the same real vLLM server (tests/serving/vllm_server.py), at
    batch sizes 1 .. 64. Goal: within 5 %.

Run: .venv/bin/python benchmarks/serve_client.py [--only a|b|c] [--batches 1,4,16,64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from multiarc.evaluation.serve.client import RequestSpec, stream_request  # noqa: E402

from tests.serving import fake_server, vllm_server  # noqa: E402

GOAL = 0.05


def _serve_forever(behaviour: fake_server.Behaviour, queue: multiprocessing.Queue) -> None:
    with fake_server.serving(behaviour) as url:
        queue.put(url)
        while True:
            time.sleep(3600)


def _fake(behaviour: fake_server.Behaviour) -> tuple[multiprocessing.Process, str]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_serve_forever, args=(behaviour, queue), daemon=True)
    proc.start()
    return proc, queue.get(timeout=10)


async def _streams(url: str, n: int, tokens: int) -> list[float]:
    spec = RequestSpec("/v1/completions", {"model": "fake", "prompt": "x", "stream": True,
                                           "max_tokens": tokens}, chat=False)
    async with httpx.AsyncClient(base_url=url, timeout=60.0,
                                 limits=httpx.Limits(max_connections=None)) as client:
        results = await asyncio.gather(*(stream_request(client, spec) for _ in range(n)))
    return [r.ttft for r in results if r.ttft is not None]


def overhead() -> None:
    proc, url = _fake(fake_server.Behaviour())
    try:
        tokens, streams = 2000, 8
        cpu = time.process_time()
        asyncio.run(_streams(url, streams, tokens))
        cpu = time.process_time() - cpu
    finally:
        proc.terminate()
    print(f"(a) client CPU per streamed token: {cpu / (tokens * streams) * 1e6:.1f} us "
          f"({streams} streams x {tokens} tokens, {cpu:.2f} s CPU)")


def headroom() -> None:
    proc, url = _fake(fake_server.Behaviour(first_delay=0.05, token_delay=0.01))
    try:
        base = None
        asyncio.run(_streams(url, 4, 5))  # warm up
        print("(b) TTFT against a server with a fixed 50 ms first token (the server is "
              "a Python process too: part of any rise is its own):")
        for n in (1, 4, 16, 64, 128, 256):
            ttft = statistics.median(asyncio.run(_streams(url, n, 20)))
            base = base or ttft
            mark = "" if ttft <= base * (1 + GOAL) else "  <- the client adds more than 5 %"
            print(f"    {n:4d} streams: TTFT median {ttft * 1000:7.1f} ms{mark}")
    finally:
        proc.terminate()


def _prompts(batch: int) -> int:
    """One burst of ``batch`` requests on both sides: the sweep's batch semantics (B sent at
    once). vllm bench's --max-concurrency with more prompts than that refills as requests
    end, which staggers the prefills and lowers TTFT: another workload, not another
    client."""
    return batch


def _bench(venv: Path, server: vllm_server.Server, batch: int, inp: int, out: int) -> dict:
    proc = subprocess.run(
        [str(venv / "bin/vllm"), "bench", "serve", "--base-url", server.url, "--model",
         server.model, "--dataset-name", "random", "--random-input-len", str(inp),
         "--random-output-len", str(out), "--num-prompts", str(_prompts(batch)),
         "--max-concurrency", str(batch), "--ignore-eos", "--disable-tqdm"],
        capture_output=True, text=True, timeout=900, check=True)
    found = {}
    for k in ("TTFT", "TPOT"):
        match = re.search(rf"Median {k} \(ms\):\s+([\d.]+)", proc.stdout)
        assert match, proc.stdout[-1500:]
        found[k] = float(match.group(1))
    return found


def _ours(server: vllm_server.Server, batch: int, inp: int, out: int, work: Path) -> dict:
    subprocess.run([sys.executable, "-m", "multiarc.evaluation", "serve", "--url", server.url,
                    "--batch-sizes", str(batch), "--input-len", str(inp), "--output-len",
                    str(out), "--requests-per-batch", str(_prompts(batch)),
                    "--output", str(work)], check=True, capture_output=True)
    run = sorted(work.iterdir())[-1]
    point = json.loads((run / "serve_sweep.json").read_text())["points"][0]
    return {"TTFT": point["ttft_p50_ms"], "TPOT": point["tpot_p50_ms"]}


def agreement(batches: list[int], repeat: int) -> None:
    """Alternating runs (theirs, ours, theirs, ...), the median of each side's medians:
    on 2 shared CPUs single runs differ by about 30 % among themselves, and now and then a
    run is several times slower (another process takes the CPUs), so several are needed."""
    venv = vllm_server.vllm_venv()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = vllm_server.make_model(work / "model")
        server = vllm_server.start(venv, model, work)
        try:
            print(f"(c) median TTFT / TPOT in ms, multiarc vs vllm bench serve, same server, "
                  f"128 in / 64 out, median of {repeat} alternating runs each:")
            for batch in batches:
                theirs, ours = [], []
                for _ in range(repeat):
                    theirs.append(_bench(venv, server, batch, 128, 64))
                    ours.append(_ours(server, batch, 128, 64, work / f"r{batch}"))
                cells = []
                for k in ("TTFT", "TPOT"):
                    a = statistics.median(o[k] for o in ours)
                    b = statistics.median(t[k] for t in theirs)
                    runs = " ".join(f"{t[k]:.1f}" for t in theirs)
                    mine = " ".join(f"{o[k]:.1f}" for o in ours)
                    ok = "ok" if b and abs(a / b - 1) <= GOAL else "differs"
                    ratio = f"{a / b:.2f}x" if b else "n/a"
                    cells.append(f"{k} {a:7.1f} vs {b:7.1f} ({ratio} {ok}; runs: ours {mine}, "
                                 f"vllm's {runs})")
                print(f"    batch {batch:3d}: " + "; ".join(cells))
        finally:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("a", "b", "c"))
    parser.add_argument("--batches", default="1,4,16,64")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.only in (None, "a"):
        overhead()
    if args.only in (None, "b"):
        headroom()
    if args.only in (None, "c"):
        agreement([int(b) for b in args.batches.split(",")], args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
