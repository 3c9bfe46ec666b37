"""Prompts of exactly the asked input length, distinct from each other.

With the server's ``/tokenize`` (vLLM), a long random text is tokenized once and each
prompt is a different window of ``input_len`` of its token ids: sent as ids to
``/v1/completions`` (exact), or detokenized for chat completions (the chat template adds
its own few tokens; the real count comes back in ``usage``). Without ``/tokenize`` the
prompts are ``input_len`` random words, and the run says that the lengths are estimates
(random text is about 2 characters a token, so word counts are the better guess).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import httpx
from multiarc.evaluation.serve.client import RequestSpec
from multiarc.evaluation.serve.server import ServerInfo

_WORDS = (
    "platform", "engineer", "server", "memory", "bandwidth", "kernel", "driver", "firmware",
    "compute", "latency", "tensor", "matrix", "switch", "lane", "socket", "thread", "cache",
    "token", "batch", "stream", "report", "verdict", "node", "rack", "graph", "vector",
    "signal", "power", "clock", "queue", "device", "buffer", "packet", "model", "layer",
)  # fmt: skip


@dataclass
class PromptSet:
    prompts: list[Any]  # token id lists (completions) or texts
    exact: bool
    note: str


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) + str(rng.randrange(100)) for _ in range(words))


async def build(client: httpx.AsyncClient, info: ServerInfo, count: int, input_len: int,
                seed: int = 0) -> PromptSet:
    rng = random.Random(seed)
    if info.tokenize:
        ids = await _ids(client, info, _text(rng, input_len + 8 * count + 64))
        if ids is not None and len(ids) >= input_len + count:
            step = max(1, (len(ids) - input_len) // max(count, 1))
            windows = [ids[i * step: i * step + input_len] for i in range(count)]
            if info.endpoint == "completions":
                return PromptSet(windows, True, "exact: token ids of the server's tokenizer")
            texts = [await _detokenize(client, info, w) for w in windows]
            if all(t is not None for t in texts):
                return PromptSet(texts, True, "exact before the chat template: windows of "
                                 "the server's tokens (the template adds a few)")
    texts = [_text(rng, input_len) for _ in range(count)]
    return PromptSet(texts, False, "estimated: the server has no /tokenize, so prompts are "
                     f"{input_len} random words; the real lengths are in the results")


async def _ids(client: httpx.AsyncClient, info: ServerInfo, text: str) -> list[int] | None:
    try:
        response = await client.post("/tokenize", json={"model": info.model, "prompt": text,
                                                        "add_special_tokens": False})
        tokens = response.json().get("tokens")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return [int(t) for t in tokens] if isinstance(tokens, list) else None


async def _detokenize(client: httpx.AsyncClient, info: ServerInfo, ids: list[int]) -> str | None:
    try:
        response = await client.post("/detokenize", json={"model": info.model, "tokens": ids})
        text = response.json().get("prompt")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return text if isinstance(text, str) else None


def request(info: ServerInfo, prompt: Any, output_len: int) -> RequestSpec:
    """The streaming request for one prompt: usage in the stream, exact output length."""
    common: dict[str, Any] = {
        "model": info.model, "max_tokens": output_len, "stream": True,
        "stream_options": {"include_usage": True}, "ignore_eos": True, "temperature": 0.0,
    }
    if info.endpoint == "chat":
        return RequestSpec(info.path, {**common, "messages": [
            {"role": "user", "content": prompt}]}, chat=True)
    return RequestSpec(info.path, {**common, "prompt": prompt}, chat=False)
