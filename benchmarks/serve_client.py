"""The serving client measured: its own cost, and its agreement with `vllm bench serve`.

(a) overhead: CPU time of multiarc's streaming client per streamed token, against a local
    server that streams as fast as it can (in its own process);
(b) headroom: against a paced server (tests/serving/paced_server.py: every first token
    exactly 100 ms after its request, then one every 20 ms, with the times it really sent
    them kept), the TTFT the client measures minus the server's own, at 1 .. 256
    concurrent streams: the concurrency from which the client's own CPU adds more than
    5 % to the TTFT;
(c) agreement on the paced server: median TTFT and TPOT of `multiarc-eval serve` and of
    `vllm bench serve` against the same paced server, side by side, alternating, at batch
    sizes 1 .. 64, each next to the server's truth. The server's timing does not move, so
    what differs is the clients. Goal: within 5 %;
(d) agreement on a real vLLM server (tests/serving/vllm_server.py), the same comparison
    where the server itself varies from run to run.

Run: .venv/bin/python benchmarks/serve_client.py [--only a|b|c|d] [--batches 1,4,16,64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from multiarc.evaluation.serve.client import RequestSpec, session, stream_request  # noqa: E402

from tests.serving import fake_server, vllm_server  # noqa: E402

GOAL = 0.05
FIRST, GAP = 0.1, 0.02  # the paced server's first token and gap between tokens


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


async def _streams(url: str, n: int, tokens: int, model: str = "fake") -> list[float]:
    spec = RequestSpec("/v1/completions", {"model": model, "prompt": "x", "stream": True,
                                           "max_tokens": tokens}, chat=False)
    async with session({}, 60.0) as streams:
        await stream_request(streams, url, spec)  # one connection open, as both clients do
        results = await asyncio.gather(*(stream_request(streams, url, spec)
                                         for _ in range(n)))
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


def _truth(server: vllm_server.Server) -> dict[str, float]:
    kept = vllm_server.paced_truth(server)
    return {"TTFT": statistics.median(t["ttft"] for t in kept) * 1000,
            "TPOT": statistics.median(t["tpot"] for t in kept if t["tokens"] > 1) * 1000}


def headroom(venv: Path, work: Path) -> None:
    server = vllm_server.start_paced(venv, work, FIRST, GAP)
    try:
        print(f"(b) TTFT measured by multiarc's client against the paced server "
              f"({FIRST * 1000:.0f} ms first token), minus the server's own:")
        for n in (1, 4, 16, 64, 128, 256):
            vllm_server.paced_truth(server)
            ttft = statistics.median(asyncio.run(_streams(server.url, n, 20, "paced"))) * 1000
            truth = _truth(server)["TTFT"]
            added = ttft - truth
            mark = "" if added <= truth * GOAL else "  <- the client adds more than 5 %"
            print(f"    {n:4d} streams: TTFT median {ttft:7.1f} ms, server {truth:6.1f} ms, "
                  f"added {added:5.1f} ms{mark}")
    finally:
        server.stop()


def _prompts(batch: int) -> int:
    """One burst of ``batch`` requests on both sides: the sweep's batch semantics (B sent at
    once). vllm bench's --max-concurrency with more prompts than that refills as requests
    end, which staggers the prefills and lowers TTFT: another workload, not another
    client."""
    return batch


def _ours(server: vllm_server.Server, batch: int, work: Path) -> dict:
    subprocess.run([sys.executable, "-m", "multiarc.evaluation", "serve", "--url", server.url,
                    "--batch-sizes", str(batch), "--input-len", str(IN_LEN), "--output-len",
                    str(OUT_LEN), "--requests-per-batch", str(_prompts(batch)),
                    "--output", str(work)], check=True, capture_output=True)
    run = sorted(work.iterdir())[-1]
    point = json.loads((run / "serve_sweep.json").read_text())["points"][0]
    return {"TTFT": point["ttft_p50_ms"], "TPOT": point["tpot_p50_ms"]}


IN_LEN, OUT_LEN = 128, 64


def _side_by_side(venv: Path, server: vllm_server.Server, tokenizer: Path, batches: list[int],
                  repeat: int, work: Path) -> None:
    """Alternating runs (theirs, ours, theirs, ...), the median of each side's medians; on
    the paced server, each side's runs next to the server's own times of the same runs."""
    paced = server.model == "paced"
    for batch in batches:
        theirs, ours, truth_theirs, truth_ours = [], [], [], []
        for _ in range(repeat):
            if paced:
                vllm_server.paced_truth(server)
            theirs.append(vllm_server.bench_serve(venv, server, tokenizer, _prompts(batch),
                                                     (IN_LEN, OUT_LEN)))
            if paced:
                truth_theirs.append(_truth(server))
            ours.append(_ours(server, batch, work / f"r{batch}"))
            if paced:
                truth_ours.append(_truth(server))
        cells = []
        for k in ("TTFT", "TPOT"):
            a = statistics.median(o[k] for o in ours)
            b = statistics.median(t[k] for t in theirs)
            ok = "ok" if b and abs(a / b - 1) <= GOAL else "differs"
            ratio = f"{a / b:.2f}x" if b else "n/a"
            cell = f"{k} {a:6.1f} vs {b:6.1f} ({ratio} {ok}"
            if paced:
                ta = statistics.median(t[k] for t in truth_ours)
                tb = statistics.median(t[k] for t in truth_theirs)
                cell += f"; server {ta:.1f} / {tb:.1f}"
            else:
                cell += (f"; runs: ours {' '.join(f'{o[k]:.1f}' for o in ours)}, "
                         f"vllm's {' '.join(f'{t[k]:.1f}' for t in theirs)}")
            cells.append(cell + ")")
        print(f"    batch {batch:3d}: " + "; ".join(cells))


def agreement(venv: Path, work: Path, batches: list[int], repeat: int, real: bool) -> None:
    model = vllm_server.make_model(work / "model")  # vllm bench's tokenizer for its prompts
    if real:
        server = vllm_server.start(venv, model, work)
        print(f"(d) median TTFT / TPOT in ms, multiarc vs vllm bench serve, the same real vLLM "
              f"server, {IN_LEN} in / {OUT_LEN} out, median of {repeat} alternating runs:")
    else:
        server = vllm_server.start_paced(venv, work, FIRST, GAP)
        print(f"(c) median TTFT / TPOT in ms, multiarc vs vllm bench serve, the same paced "
              f"server ({FIRST * 1000:.0f} ms first token, {GAP * 1000:.0f} ms between tokens; "
              f"'server': its own times during our runs / theirs), median of {repeat} "
              f"alternating runs:")
    try:
        _side_by_side(venv, server, model, batches, repeat, work)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("a", "b", "c", "d"))
    parser.add_argument("--batches", default="1,4,16,64")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.only in (None, "a"):
        overhead()
    if args.only == "a":
        return 0
    venv = vllm_server.vllm_venv()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only in (None, "b"):
            headroom(venv, work)
        if args.only in (None, "c"):
            agreement(venv, work / "paced", batches, args.repeat, real=False)
        if args.only in (None, "d"):
            agreement(venv, work / "real", batches, args.repeat, real=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
