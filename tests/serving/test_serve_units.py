"""multiarc-eval serve without vLLM: the options, the client against a small fake server
(bad bytes, cut streams, no usage, chat-only servers, error answers), the verdicts, the
launch command and the command line's errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from multiarc.evaluation.cli import main
from multiarc.evaluation.serve import launch, metrics, options, reference
from multiarc.evaluation.serve.client import RequestResult, RequestSpec, session, stream_request
from multiarc.evaluation.serve.stats import figures, meets

from multiarc.errors import InputError
from tests.serving.fake_server import Behaviour, serving


def _stream(url: str, payload: dict[str, object], chat: bool = False,
            read_timeout: float = 10.0) -> RequestResult:
    async def go() -> RequestResult:
        async with session({}, read_timeout) as streams:
            path = "/v1/chat/completions" if chat else "/v1/completions"
            return await stream_request(streams, url, RequestSpec(path, payload, chat))

    return asyncio.run(go())


def test_a_stream_is_timed_and_counted_from_usage() -> None:
    with serving(Behaviour()) as url:
        r = _stream(url, {"model": "fake", "prompt": "x", "max_tokens": 5, "stream": True})
    assert r.ok and r.output_tokens == 5 and r.prompt_tokens == 7 and r.tokens_from == "usage"
    assert r.ttft is not None and len(r.itl) == 4 and r.e2e >= r.ttft


def test_tpot_spans_the_tokens_not_the_tail_of_the_stream() -> None:
    """TPOT is decoding: from the first token's chunk to the last one's, per token after
    the first (as vLLM's own client counts it); a slow usage chunk and [DONE] after the
    last token lengthen E2E only."""
    with serving(Behaviour(token_delay=0.02, tail_delay=0.3)) as url:
        r = _stream(url, {"model": "fake", "prompt": "x", "max_tokens": 6, "stream": True})
    assert r.ok and r.ttft is not None and r.last_token is not None and r.tpot is not None
    assert 0.018 < r.tpot < 0.05  # five gaps of 20 ms, not (20 ms * 5 + 300 ms) / 5
    assert r.e2e - r.last_token >= 0.29


_PAGE = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2.0
vllm:num_requests_running_peak{engine="0",model_name="m"} 9.0
# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens_total{engine="0",model_name="m"} 500.0
vllm:prompt_tokens_created{engine="0",model_name="m"} 1.7e+09
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine="0",le="0.3",model_name="m"} 1.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="m"} 4.0
vllm:e2e_request_latency_seconds_count{engine="0",model_name="m"} 4.0
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="m"} 2.5
"""


def test_the_watcher_parses_only_its_samples_and_gets_the_same_values() -> None:
    """The sweep parses only the lines of the samples it records (the whole page of
    histograms cost the streams' event loop 15-30 ms a scrape): the same values, summed over
    engines, and a longer name that starts alike is not taken for one of them."""
    full = metrics.parse_metrics(_PAGE)
    few = metrics.parse_metrics(_PAGE, metrics.GAUGES + metrics.COUNTERS)
    assert few == {metrics.RUNNING: 5.0, metrics.PROMPT_TOKENS: 500.0}
    assert all(full[name] == value for name, value in few.items())


def test_without_usage_the_chunks_are_counted_and_said() -> None:
    with serving(Behaviour(usage=False)) as url:
        r = _stream(url, {"model": "fake", "prompt": "x", "max_tokens": 3, "stream": True})
    assert r.ok and r.output_tokens == 3 and r.tokens_from == "chunks"


def test_bytes_that_are_not_utf8_never_crash() -> None:
    with serving(Behaviour(bad_utf8=True)) as url:
        r = _stream(url, {"model": "fake", "prompt": "x", "max_tokens": 4, "stream": True})
    assert r.ok and r.output_tokens == 4


def test_a_stream_cut_mid_token_is_a_transport_failure() -> None:
    with serving(Behaviour(cut_after=2)) as url:
        r = _stream(url, {"model": "fake", "prompt": "x", "max_tokens": 8, "stream": True})
    assert not r.ok and r.transport_error
    assert r.error is not None and ("cut off" in r.error or "reset" in r.error)


def test_an_error_answer_keeps_the_servers_message() -> None:
    with serving(Behaviour(status=400)) as url:
        r = _stream(url, {"model": "fake", "prompt": "x", "max_tokens": 8, "stream": True})
    assert not r.ok and not r.transport_error and r.status == 400
    assert r.error == "HTTP 400: This model's maximum context length is 2048 tokens"


def test_a_server_that_stops_sending_is_a_timeout_named_as_such() -> None:
    with serving(Behaviour(token_delay=1.5)) as url:
        r = _stream(url, {"model": "fake", "prompt": "x", "max_tokens": 3, "stream": True},
                    read_timeout=0.5)
    assert not r.ok and r.transport_error and r.error == "no answer for 0.5 s"
    assert r.content_chunks == 1  # the first token came; the wait for the second timed out


def test_nobody_listening_is_refused() -> None:
    r = _stream("http://127.0.0.1:9", {"model": "m", "prompt": "x", "stream": True})
    assert not r.ok and r.transport_error and r.error == "connection refused"


def test_endpoint_auto_falls_back_to_chat_and_says_so(tmp_path: Path) -> None:
    behaviour = Behaviour(completions_404=True)
    with serving(behaviour) as url:
        result = CliRunner().invoke(main, ["serve", "--url", url, "--batch-sizes", "1,2",
                                           "--input-len", "16", "--output-len", "4",
                                           "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "chat completions (/v1/completions answered 404)" in result.output
    assert "estimated" in result.output  # no /tokenize: said
    (run,) = tmp_path.iterdir()
    data = json.loads((run / "serve_sweep.json").read_text())
    assert data["server"]["endpoint"] == "chat"
    assert [p["batch_size"] for p in data["points"]] == [1, 2]
    assert all(p["succeeded"] == p["batch_size"] for p in data["points"])
    header = (run / "serve_sweep.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["batch_size", "total_throughput", "throughput_per_request"]
    assert {"report.html", "serve_sweep.png"} <= {p.name for p in run.iterdir()}
    sent = [r for r in behaviour.requests if r.get("stream")]
    assert all(r["ignore_eos"] and r["stream_options"] == {"include_usage": True} for r in sent)


def test_every_request_refused_is_a_fail_point(tmp_path: Path) -> None:
    with serving(Behaviour(status=400)) as url:
        result = CliRunner().invoke(main, ["serve", "--url", url, "--batch-sizes", "2",
                                           "--input-len", "8", "--output-len", "2",
                                           "--output", str(tmp_path)])
    assert result.exit_code == 1
    assert "2 of 2 requests failed: HTTP 400: This model's maximum context length" in (
        result.output.replace("\n", " ").replace("  ", " "))


def test_no_server_is_exit_3_with_a_hint(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--url", "http://127.0.0.1:9",
                                       "--output", str(tmp_path / "r")])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: no OpenAI-compatible server answers")
    assert "hint:" in result.stderr and not list((tmp_path / "r").iterdir())


@pytest.mark.parametrize("args", [["--batch-sizes", "1,x"], ["--batch-sizes", "0"],
                                  ["--slo", "ttft=2s"], ["--slo", "ttft_p90=fast"],
                                  ["--endpoint", "rest"],
                                  ["--batch-sizes", "1", "--powers-of-2"]])
def test_bad_options_are_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(main, ["serve", "--output", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "hint: " in result.stderr
    assert "Traceback" not in result.output


def test_slo_and_batch_parsing() -> None:
    assert options.parse_slo("ttft_p90=2s,tpot_p90=100ms,e2e_p99=1500us") == {
        "ttft_p90": 2.0, "tpot_p90": 0.1, "e2e_p99": 0.0015}
    assert options.parse_batch_sizes("8,1,2,2") == (1, 2, 8)
    assert options.powers_of_two(20) == (1, 2, 4, 8, 16)
    with pytest.raises(InputError):
        options.parse_slo("ttft_p95=1s")


def test_slo_verdicts_name_what_is_broken() -> None:
    fast = RequestResult(ok=True, ttft=0.5, e2e=1.0, output_tokens=11, itl=[0.05] * 10)
    slow = RequestResult(ok=True, ttft=3.0, e2e=4.0, output_tokens=11, itl=[0.1] * 10)
    fig = figures([fast, slow], wall_s=4.0, batch=2)
    assert fig.total_throughput == pytest.approx(22 / 4.0)
    assert meets({"ttft_mean": 2.0}, fig) == ["ttft_mean 1.75 s > 2 s"] or meets(
        {"ttft_mean": 2.0}, fig) == []
    assert meets({"ttft_p90": 2.0}, fig)[0].startswith("ttft_p90 2.75 s > 2 s")
    assert meets({"tpot_p50": 0.1}, fig) == []


def test_reference_rows_of_the_run(tmp_path: Path) -> None:
    csv = tmp_path / "ref.csv"
    csv.write_text("model,gpus,input_len,output_len,batch_size,tokens_per_s\n"
                   "m,1,1024,512,1,30\nm,1,1024,512,8,200\nother,1,1024,512,8,999\n"
                   ",,1024,512,16,350\nm,1,128,512,8,1\n")
    assert reference.load(csv, "m", 1024, 512) == {1: 30.0, 8: 200.0, 16: 350.0}
    csv.write_text("model,batch_size\nm,1\n")
    with pytest.raises(InputError, match="missing columns"):
        reference.load(csv, "m", 1024, 512)


def test_the_docker_command_has_the_seed_flags_and_no_enforce_eager() -> None:
    argv = launch.docker_command(launch.LaunchOptions("/llm/models/Qwen3-8B", tensor_parallel=4,
                                                      max_model_len=8192))
    joined = " ".join(argv)
    for flag in ("--device=/dev/dri", "--shm-size 32g", "--net=host",
                 "--tensor-parallel-size 4", "--max-model-len 8192",
                 "--gpu-memory-utilization 0.9", "--block-size 64",
                 "--max-num-batched-tokens 8192"):
        assert flag in joined, flag
    assert "--enforce-eager" not in argv and argv[:2] == ["docker", "run"]


def _serving_folder(folder: Path, throughput: float, ttft_ms: float) -> Path:
    folder.mkdir()
    point = {"batch_size": 8, "succeeded": 8, "total_throughput": throughput,
             "ttft_p90_ms": ttft_ms, "tpot_p90_ms": 20.0, "itl_p90_ms": 21.0}
    (folder / "serve_sweep.json").write_text(json.dumps({"meta": {}, "points": [point]}))
    return folder


def test_compare_judges_two_serving_runs(tmp_path: Path) -> None:
    a = _serving_folder(tmp_path / "a", 1000.0, 100.0)
    same = _serving_folder(tmp_path / "same", 990.0, 102.0)
    slower = _serving_folder(tmp_path / "slower", 700.0, 180.0)
    ok = CliRunner().invoke(main, ["compare", str(a), str(same), "--format", "json"])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(main, ["compare", str(a), str(slower), "--format", "json"])
    assert bad.exit_code == 1
    rows = {(r["subcategory"], r["size"]): r["change"]
            for r in json.loads(bad.stdout)["metrics"]}
    assert rows[("output throughput", "batch 8")] == "regression"
    assert rows[("TTFT p90", "batch 8")] == "regression"


@pytest.mark.parametrize("chat", [False, True])
def test_a_token_without_text_yet_still_counts_for_ttft(chat: bool) -> None:
    """Byte-level tokens: the server holds back text until a character is whole, but the
    token arrived; chat's role-only first chunk is no token."""
    with serving(Behaviour(empty_text=3, token_delay=0.02)) as url:
        r = _stream(url, {"model": "fake", "prompt": "x", "max_tokens": 6, "stream": True},
                    chat=chat)
    assert r.ok and r.content_chunks == 6 and len(r.itl) == 5
    assert r.ttft is not None and r.ttft < 0.02  # the first chunk, not the first text


def test_gpu_telemetry_from_xpu_smi_dump_on_the_serving_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local server and xpu-smi on PATH (here replaying the b60x4 recording's dump):
    each point records every GPU's peak power, utilisation and memory."""
    dump = Path(__file__).resolve().parents[1] / "recordings/b60x4/outputs/xpu-smi-dump.txt"
    tool = tmp_path / "bin" / "xpu-smi"
    tool.parent.mkdir()
    tool.write_text(f"#!/bin/sh\ncat '{dump}'\nexec sleep 30\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}:{__import__('os').environ['PATH']}")
    with serving(Behaviour(token_delay=0.01)) as url:
        result = CliRunner().invoke(main, ["serve", "--url", url, "--batch-sizes", "2",
                                           "--input-len", "8", "--output-len", "4",
                                           "--output", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "r").iterdir()
    point = json.loads((run / "serve_sweep.json").read_text())["points"][0]
    gpus = point["gpu_telemetry"]
    assert gpus["available"] and set(gpus["max"]["GPU Power (W)"]) == {"0", "1", "2", "3"}
    assert point["gpu_max_gpu_power"] == pytest.approx(33.3)
    assert "gpu_max_gpu_power" in (run / "serve_sweep.csv").read_text().splitlines()[0]


def test_launch_docker_starts_waits_sweeps_and_stops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `docker` (no container engine here) that serves the fake server on the
    asked port: the launch runs the command built in launch.py, waits for /v1/models,
    sweeps, and stops the container even so."""
    import os
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    calls = tmp_path / "docker-calls"
    root = Path(__file__).resolve().parents[2]
    docker = tmp_path / "bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(f"""#!/bin/sh
echo "$@" >> '{calls}'
case "$1" in
  run) cd '{root}' && '{sys.executable}' -m tests.serving.fake_server {port} \\
          >/dev/null 2>&1 &
       echo $! > '{tmp_path}/pid'; echo 0123456789ab ;;
  stop) kill "$(cat '{tmp_path}/pid')" ;;
esac
""")
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{docker.parent}:{os.environ['PATH']}")
    result = CliRunner().invoke(main, [
        "serve", "--launch", "docker", "--launch-model", "/llm/models/m", "--tensor-parallel",
        "2", "--url", f"http://127.0.0.1:{port}", "--batch-sizes", "1", "--input-len", "8",
        "--output-len", "2", "--output", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    run_line, stop_line = calls.read_text().splitlines()
    assert run_line.startswith("run ") and f"--port {port}" in run_line
    assert "--tensor-parallel-size 2" in run_line and "/llm/models/m" in run_line
    assert stop_line == "stop multiarc-vllm" and "the server is ready" in result.output


def test_launch_without_docker_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["serve", "--launch", "docker", "--launch-model", "m",
                                       "--output", str(tmp_path / "r")])
    assert result.exit_code == 3 and "docker is not installed" in result.stderr


def test_wait_restart_goes_on_when_the_server_comes_back(tmp_path: Path) -> None:
    """The server dies during batch 1 and is back two seconds later: batch 1 is FAIL with
    the reason, and with --wait-restart the sweep goes on with batch 2."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[2]

    def server() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "tests.serving.fake_server", str(port),
                                 "0.05"], cwd=root)
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
                return proc
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("the stand-in server did not start")

    first = server()
    cli = subprocess.Popen([sys.executable, "-m", "multiarc.evaluation", "serve", "--url",
                            f"http://127.0.0.1:{port}", "--batch-sizes", "1,2", "--input-len",
                            "8", "--output-len", "40", "--wait-restart", "30", "--output",
                            str(tmp_path)], cwd=root, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    second = None
    try:
        assert cli.stdout is not None
        for line in cli.stdout:
            if line.startswith("batch 1:"):
                time.sleep(0.5)
                first.kill()
                first.wait()
                time.sleep(2)
                second = server()
                break
        out, err = cli.communicate(timeout=120)
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.kill()
                proc.wait()
    assert cli.returncode == 1, out + err
    (run,) = tmp_path.iterdir()
    data = json.loads((run / "serve_sweep.json").read_text())
    one, two = data["points"]
    assert one["status"] == "FAIL" and one["reason"].startswith("server died at batch 1: ")
    assert two["succeeded"] == 2 and two["status"] != "FAIL" and data["stopped"] is None
