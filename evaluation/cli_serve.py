"""``multiarc-eval serve``: the LLM serving sweep against a running OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx
from multiarc.evaluation.run_writer import RUN_NAME_FORMAT, check_output_folder
from multiarc.evaluation.serve import client as client_mod
from multiarc.evaluation.serve import options as opt
from multiarc.evaluation.serve import reference, results, server, sweep
from multiarc.evaluation.serve.launch import IMAGE, LaunchOptions
from multiarc.evaluation.serve.launched import launched
from rich.console import Console

from multiarc.errors import InputError, reports_errors

EXAMPLES = """\b
Examples:
  multiarc-eval serve --url http://127.0.0.1:8000 --powers-of-2 --max-batch 256
  multiarc-eval serve --batch-sizes 1,8,32 --input-len 1024 --output-len 512 \\
      --slo ttft_p90=2s,tpot_p90=100ms --reference serve_reference.csv
  multiarc-eval serve --launch docker --launch-model /llm/models/Qwen3-8B \\
      --tensor-parallel 4 --max-model-len 8192 --powers-of-2 --max-batch 64

\b
Each batch size B sends B concurrent streaming requests (more rounds with
--requests-per-batch) of exactly --input-len prompt tokens (the server's /tokenize)
and --output-len output tokens (ignore_eos), counts tokens from the server's usage,
and scrapes /metrics meanwhile. A server that dies is a FAIL point with the reason;
what was measured before is kept. Results: results/<ts>/serve_sweep.csv (the
original batch_size_throughput.csv columns first), serve_sweep.json,
serve_sweep.png, report.html.

\b
Exit codes: 0 every point PASS or INFO (WARN allowed); 1 a point failed (requests
failed, the server died, the SLO or the reference was missed); 2 bad input;
3 no server answers at --url; 130 interrupted (what was measured is written).
"""


def _folder(output: Path) -> Path:
    base = check_output_folder(output, create=True)
    path = base / datetime.now().strftime(RUN_NAME_FORMAT)
    for n in range(2, 100):
        try:
            path.mkdir()
            return path
        except FileExistsError:
            path = base / (datetime.now().strftime(RUN_NAME_FORMAT) + f"-{n}")
    raise InputError(f"{base} holds too many runs of this second", "try again")


def _say(console: Console) -> sweep.Observer:
    def observe(event: str, point: sweep.Point) -> None:
        if event == "start":
            console.print(f"batch {point.batch}: {point.batch} concurrent stream(s) ...")
            return
        f = point.figures
        ttft = f.latency["ttft"]["p90"]
        tpot = f.latency["tpot"]["p90"]
        console.print(
            f"  [{'red' if point.status == 'FAIL' else 'green'}]{point.status}[/] "
            f"{f.total_throughput:.1f} tok/s, {f.succeeded} ok / {f.failed} failed, "
            f"TTFT p90 {'-' if ttft is None else f'{ttft * 1000:.0f} ms'}, "
            f"TPOT p90 {'-' if tpot is None else f'{tpot * 1000:.1f} ms'}"
            + (f": {point.reason}" if point.status in ("FAIL", "WARN") else ""))
    return observe


async def _run(opts: opt.ServeOptions, console: Console, folder: Path) -> int:
    headers = {"Authorization": f"Bearer {opts.api_key}"} if opts.api_key else {}
    timeout = httpx.Timeout(connect=10.0, read=opts.request_timeout, write=30.0, pool=None)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=opts.url, headers=headers, timeout=timeout,
                                 limits=limits) as client:
        info = await server.probe(client, opts)
        console.print(f"server {opts.url}: model {info.model}, endpoint {info.endpoint_note}")
        for warning in info.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        refs = (reference.load(opts.reference, info.model, opts.input_len, opts.output_len)
                if opts.reference else {})
        async with client_mod.session(headers, opts.request_timeout) as streams:
            result = await sweep.run_sweep(opts, info, sweep.Clients(client, streams), refs,
                                           _say(console))
    meta: dict[str, Any] = {"url": opts.url, "argv": sys.argv, "input_len": opts.input_len,
                            "output_len": opts.output_len, "batch_sizes": opts.batch_sizes,
                            "requests_per_batch": opts.requests_per_batch,
                            "slo": opts.slo, "tolerance": opts.tolerance,
                            "reference": str(opts.reference) if opts.reference else None}
    data = results.write_all(folder, result, meta)
    console.print(f"prompts: {result.prompt_note}")
    best = data["best_within_slo"]
    if opts.slo:
        console.print("largest batch within the SLO: " + (
            f"{best['batch_size']} (goodput {best['goodput']:.1f} tok/s)" if best else "none"))
    if result.stopped:
        console.print(f"[red]{result.stopped}[/]")
    failed = any(p.status == "FAIL" for p in result.points)
    console.print(f"results: {folder}")
    return 1 if failed else 0


@click.command("serve", epilog=EXAMPLES)
@click.option("--url", default="http://127.0.0.1:8000", show_default=True,
              help="The server's base URL (OpenAI-compatible: vLLM).")
@click.option("--model", default=None, help="Served model name (default: the server's first).")
@click.option("--batch-sizes", default=None, metavar="LIST",
              help="Comma-separated batch sizes (default 1,2,4,...,256).")
@click.option("--powers-of-2", is_flag=True, help="Batch sizes 1, 2, 4 ... up to --max-batch.")
@click.option("--max-batch", type=int, default=256, show_default=True)
@click.option("--input-len", type=click.IntRange(1, 1_000_000), default=1024, show_default=True)
@click.option("--output-len", type=click.IntRange(1, 1_000_000), default=512, show_default=True)
@click.option("--requests-per-batch", type=click.IntRange(1, 100_000), default=None,
              help="Requests per batch size (default: one round of B); more rounds of B.")
@click.option("--timeout-per-batch", type=click.FloatRange(1), default=1200.0,
              show_default=True, help="Seconds a batch size may take in all.")
@click.option("--endpoint", type=click.Choice(opt.ENDPOINTS), default="auto", show_default=True,
              help="auto: completions, or chat completions where completions answers 404.")
@click.option("--api-key", default=None, help="Bearer key (default: $OPENAI_API_KEY).")
@click.option("--reference", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="serve_reference.csv: model,gpus,input_len,output_len,"
              "batch_size,tokens_per_s.")
@click.option("--slo", default=None, metavar="KEY=VALUE,...",
              help="e.g. ttft_p90=2s,tpot_p90=100ms (ttft|tpot|itl|e2e _ mean|p50|p90|p99).")
@click.option("--tolerance", type=click.FloatRange(0, 50), default=10.0, show_default=True,
              help="Percent below the reference that still passes (WARN within twice).")
@click.option("--wait-restart", type=click.FloatRange(0), default=0.0,
              help="Seconds to wait for a dead server to come back (0: stop the sweep).")
@click.option("--request-timeout", type=click.FloatRange(1), default=600.0, show_default=True,
              help="Seconds without a byte before a stream counts as failed.")
@click.option("--launch", type=click.Choice(("docker",)), default=None,
              help="Start Intel's vLLM image first (no --enforce-eager, the seed's batching "
              "flags), wait until it serves, stop it afterwards.")
@click.option("--launch-model", default=None, metavar="PATH",
              help="With --launch: the model inside the container (under /llm/models).")
@click.option("--tensor-parallel", type=click.IntRange(1, 64), default=1, show_default=True,
              help="With --launch: GPUs per model (--tensor-parallel-size).")
@click.option("--max-model-len", type=click.IntRange(16), default=8192, show_default=True,
              help="With --launch: vLLM's --max-model-len.")
@click.option("--image", default=None, help="With --launch: the image (default Intel's).")
@click.option("--launch-timeout", type=click.FloatRange(1), default=1800.0, show_default=True,
              help="With --launch: seconds to wait for the model to load.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True)
@reports_errors
def serve(**kw: Any) -> None:
    """The LLM serving sweep: throughput and latency against batch size, on a real server."""
    if kw["batch_sizes"] and kw["powers_of_2"]:
        raise click.UsageError("give --batch-sizes or --powers-of-2, not both")
    sizes = (opt.parse_batch_sizes(kw["batch_sizes"]) if kw["batch_sizes"]
             else opt.powers_of_two(kw["max_batch"]) if kw["powers_of_2"]
             else opt.DEFAULT_BATCHES)
    options = opt.ServeOptions(
        url=kw["url"].rstrip("/"), model=kw["model"], batch_sizes=sizes,
        input_len=kw["input_len"], output_len=kw["output_len"],
        requests_per_batch=kw["requests_per_batch"], timeout_per_batch=kw["timeout_per_batch"],
        endpoint=kw["endpoint"], api_key=kw["api_key"] or os.environ.get("OPENAI_API_KEY"),
        reference=kw["reference"], slo=opt.parse_slo(kw["slo"]),
        tolerance=kw["tolerance"] / 100.0, wait_restart=kw["wait_restart"],
        request_timeout=kw["request_timeout"], output=kw["output"])
    launch_opts = _launch_options(kw, options)
    folder = _folder(options.output)
    console = Console(highlight=False, soft_wrap=True)
    try:
        if launch_opts is None:
            code = asyncio.run(_run(options, console, folder))
        else:
            with launched(launch_opts, options.url, kw["launch_timeout"], console.print):
                code = asyncio.run(_run(options, console, folder))
    except BaseException:
        if not any(folder.iterdir()):
            folder.rmdir()  # nothing measured: no empty run folder left behind
        raise
    sys.exit(code)


def _launch_options(kw: dict[str, Any], options: opt.ServeOptions) -> LaunchOptions | None:
    if kw["launch"] is None:
        if kw["launch_model"]:
            raise click.UsageError("--launch-model needs --launch docker")
        return None
    if not kw["launch_model"]:
        raise click.UsageError("--launch docker needs --launch-model PATH")
    port = urlsplit(options.url).port or 8000
    return LaunchOptions(kw["launch_model"], tensor_parallel=kw["tensor_parallel"],
                         max_model_len=kw["max_model_len"], port=port,
                         image=kw["image"] or IMAGE)


COMMANDS = [serve]
