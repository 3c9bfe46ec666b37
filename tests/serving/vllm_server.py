"""A real vLLM server for the serving tests and benchmarks: vLLM's CPU build (installed
once by scripts/setup-vllm.sh under ~/.cache/multiarc-tests/), serving a tiny Llama made
here (a byte-level BPE tokenizer trained with ``tokenizers`` on generated text, a config of
2 layers, random weights from ``--load-format dummy``: nothing is downloaded)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
MAX_MODEL_LEN = 2048
_WORDS = ("alpha", "beta", "gamma", "delta", "server", "token", "batch", "stream", "metric",
          "kernel", "memory", "graph", "vector", "matrix", "node", "rack", "lane", "queue")


def vllm_venv() -> Path:
    """The cached venv (made on first use: about 3 minutes)."""
    out = subprocess.run(["bash", str(ROOT / "scripts/setup-vllm.sh")], check=True,
                         capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def make_model(folder: Path) -> Path:
    """tokenizer.json, tokenizer_config.json (with a chat template) and config.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    corpus = [" ".join(rng.choice(_WORDS) + str(rng.randrange(1000)) for _ in range(40))
              for _ in range(2000)]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    trainer = trainers.BpeTrainer(vocab_size=4096, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.save(str(folder / "tokenizer.json"))
    ids = {s: tokenizer.token_to_id(s) for s in specials}
    template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
                "{% if add_generation_prompt %}<s>assistant: {% endif %}")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "pad_token": "<pad>", "chat_template": template,
        "model_max_length": MAX_MODEL_LEN}))
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
        "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4, "head_dim": 64, "max_position_embeddings": 4096,
        "vocab_size": tokenizer.get_vocab_size(), "bos_token_id": ids["<s>"],
        "eos_token_id": ids["</s>"], "pad_token_id": ids["<pad>"], "rms_norm_eps": 1e-5,
        "torch_dtype": "float32", "tie_word_embeddings": False, "rope_theta": 10000.0}))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    model: str
    log: Path
    scratch: Path | None = None  # the server's TMPDIR (its ZMQ sockets), removed at the end

    def _forget_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the process group (API server, engine core, worker), then SIGKILL."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        self.kill_hard()  # what is left of the group

    def kill_hard(self) -> None:
        """The whole server dies at once (as an out-of-memory kill would)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._forget_scratch()


def _launch(argv: list[str], workdir: Path, log: Path, env: dict[str, str], url: str,
            model: str, timeout: float) -> Server:
    # vLLM's ZMQ sockets and rendezvous files go to TMPDIR: a short folder of the server's
    # own (a socket's path has ~100 characters at most), removed with it, not /tmp itself
    scratch = Path(tempfile.mkdtemp(prefix="vllm-", dir="/tmp"))
    env = dict(env, TMPDIR=str(scratch), VLLM_RPC_BASE_PATH=str(scratch))
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True, cwd=workdir)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    server = Server(proc, url, model, log, scratch)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            server._forget_scratch()
            raise RuntimeError(f"{argv[0]} exited with {proc.returncode}: "
                               f"{log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + "/health", timeout=2.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"{argv[0]} did not answer /health within {timeout} s: {log}")


def start(venv: Path, model_dir: Path, workdir: Path, *extra: str,
          timeout: float = 180.0) -> Server:
    port = free_port()
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", VLLM_NO_USAGE_STATS="1", VLLM_LOGGING_LEVEL="WARNING")
    argv = [str(venv / "bin/vllm"), "serve", str(model_dir), "--load-format", "dummy",
            "--dtype", "float32", "--enforce-eager", "--max-model-len", str(MAX_MODEL_LEN),
            "--host", "127.0.0.1", "--port", str(port), *extra]
    return _launch(argv, workdir, workdir / f"vllm-{port}.log", env,
                   f"http://127.0.0.1:{port}", str(model_dir), timeout)


def start_paced(venv: Path, workdir: Path, first: float, gap: float) -> Server:
    """The paced stand-in (paced_server.py) with the vLLM venv's Python, in its own process:
    first token FIRST seconds after a request, then one every GAP seconds."""
    port = free_port()
    argv = [str(venv / "bin/python"), str(ROOT / "tests/serving/paced_server.py"), str(port),
            str(first), str(gap)]
    return _launch(argv, workdir, workdir / f"paced-{port}.log", dict(os.environ),
                   f"http://127.0.0.1:{port}", "paced", 30.0)


def paced_truth(server: Server) -> list[dict[str, float]]:
    """The paced server's own times of the streams finished since the last call."""
    truth: list[dict[str, float]] = httpx.get(server.url + "/paced/truth").json()
    httpx.post(server.url + "/paced/reset")
    return truth


def bench_serve(venv: Path, server: Server, tokenizer: Path, burst: int,
                lengths: tuple[int, int]) -> dict[str, float]:
    """`vllm bench serve`'s median TTFT and TPOT (ms) for one burst of ``burst`` random
    prompts of ``lengths`` (input, output) tokens sent at once (the sweep's batch
    semantics: --num-prompts and --max-concurrency both ``burst``)."""
    proc = subprocess.run(
        [str(venv / "bin/vllm"), "bench", "serve", "--base-url", server.url, "--model",
         server.model, "--tokenizer", str(tokenizer), "--dataset-name", "random",
         "--random-input-len", str(lengths[0]), "--random-output-len", str(lengths[1]),
         "--num-prompts", str(burst), "--max-concurrency", str(burst), "--ignore-eos",
         "--disable-tqdm"],
        capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"vllm bench serve exited with {proc.returncode}: "
                           f"{proc.stderr[-2000:]}")
    figures = {}
    for key in ("TTFT", "TPOT"):
        match = re.search(rf"Median {key} \(ms\):\s+([\d.]+)", proc.stdout)
        if match is None:
            raise RuntimeError(f"no median {key} in vllm bench serve's output: "
                               f"{proc.stdout[-2000:]}")
        figures[key] = float(match.group(1))
    return figures
