"""One streaming request, timed as the user sees it (aiohttp, asyncio).

The streams go through aiohttp, as ``vllm bench serve``'s do: against a paced server that
sends every first token exactly 100 ms after the request, httpx's own cost per request
added 20 ms to the median TTFT at 16 concurrent streams and 75 ms at 64, aiohttp's 9 and
30 ms (benchmarks/serve_client.py). The untimed calls (models, tokenize, metrics) use httpx.

Server-sent events are read as bytes and split into lines by hand, so bytes that are not
valid UTF-8 (a server that crashed mid-token) never raise: they are replaced. The times:
TTFT is the first chunk that carries a token (as ``vllm bench serve`` counts), ITL the gaps
between such chunks, TPOT the span from the first to the last of them per token after the
first, E2E the end of the stream. Token counts come from the server's own
``usage`` (``stream_options``); when the server sends none, the token chunks are counted
(one token each in vLLM) and the result says so.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

_ERROR_BODY = 4096


@dataclass(frozen=True)
class RequestSpec:
    path: str  # "/v1/completions" or "/v1/chat/completions"
    payload: dict[str, Any]
    chat: bool


@dataclass
class RequestResult:
    ok: bool = False
    error: str | None = None
    transport_error: bool = False  # refused, reset or cut off: the server may be dead
    status: int | None = None
    ttft: float | None = None
    last_token: float | None = None  # seconds from the start to the last token's chunk
    itl: list[float] = field(default_factory=list)
    e2e: float = 0.0  # to the end of the stream (usage and [DONE] included)
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    tokens_from: str = "usage"  # or "chunks"
    content_chunks: int = 0

    @property
    def tpot(self) -> float | None:
        """Time per output token after the first: from the first token's chunk to the last
        one's (the usage chunk and [DONE] that follow are not decoding)."""
        if self.ttft is None or not self.output_tokens or self.output_tokens < 2:
            return None
        last = self.e2e if self.last_token is None else self.last_token
        return (last - self.ttft) / (self.output_tokens - 1)


def _message(body: bytes) -> str:
    text = body[:_ERROR_BODY].decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])[:300]
    return text.strip()[:300]


def _is_token(chunk: dict[str, Any], chat: bool) -> bool:
    """A chunk that carries a generated token. Its text may be empty: the server holds back
    bytes that do not make a whole character yet (byte-level tokens), so counting only
    chunks with text would report the first token late. Chat's first chunk, which only
    names the role, carries no token."""
    choices = chunk.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return False
    if not chat:
        return "text" in choices[0]
    delta = choices[0].get("delta")
    return isinstance(delta, dict) and "role" not in delta and (
        "content" in delta or "reasoning_content" in delta)


class _Stream:
    """The state of one stream while its events arrive."""

    def __init__(self, result: RequestResult, chat: bool, start: float) -> None:
        self.result, self.chat, self.start = result, chat, start
        self.last: float | None = None
        self.done = False

    def event(self, data: bytes) -> None:
        if data.strip() == b"[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(data.decode("utf-8", errors="replace"))
        except ValueError:
            return  # not JSON: ignored (never a crash)
        if not isinstance(chunk, dict):
            return
        if "error" in chunk:  # vLLM reports a failure in-band (HTTP 200 already sent)
            self.result.error = f"server error in the stream: {_message(data)}"
            self.result.transport_error = True
            return
        now = time.perf_counter()
        if _is_token(chunk, self.chat):
            self.result.content_chunks += 1
            if self.result.ttft is None:
                self.result.ttft = now - self.start
            elif self.last is not None:
                self.result.itl.append(now - self.last)
            self.last = now
            self.result.last_token = now - self.start
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.result.prompt_tokens = usage.get("prompt_tokens")
            self.result.output_tokens = usage.get("completion_tokens")


def _timeout_of(session: aiohttp.ClientSession) -> str:
    read = session.timeout.sock_read or session.timeout.total
    return f"no answer for {read:g} s" if read else "no answer"


async def stream_request(session: aiohttp.ClientSession, base_url: str,
                         spec: RequestSpec) -> RequestResult:
    """POST one streaming request to ``base_url`` + the spec's path through ``session``."""
    result = RequestResult()
    start = time.perf_counter()
    stream = _Stream(result, spec.chat, start)
    try:
        async with session.post(base_url.rstrip("/") + spec.path, json=spec.payload) as response:
            result.status = response.status
            if response.status != 200:
                body = await response.content.read(_ERROR_BODY)
                result.error = f"HTTP {response.status}: {_message(body)}"
                result.e2e = time.perf_counter() - start
                return result
            buffer = b""
            async for piece in response.content.iter_any():
                buffer += piece
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.startswith(b"data:"):
                        stream.event(line[5:].strip())
            if buffer.startswith(b"data:"):
                stream.event(buffer[5:].strip())
    except aiohttp.ClientConnectorError as exc:
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        result.error = "connection refused" if refused else f"cannot connect: {exc}"[:300]
        result.transport_error = True
    except TimeoutError:
        result.error, result.transport_error = _timeout_of(session), True
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
            aiohttp.ClientOSError) as exc:
        result.error = f"connection reset ({type(exc).__name__})"
        result.transport_error = True
    except aiohttp.ClientError as exc:
        result.error = f"connection failed ({type(exc).__name__}: {exc})"[:300]
        result.transport_error = True
    result.e2e = time.perf_counter() - start
    if result.error is None and not stream.done:
        result.error = f"stream cut off after {result.content_chunks} chunk(s)"
        result.transport_error = True
    if result.output_tokens is None:
        result.output_tokens = result.content_chunks
        result.tokens_from = "chunks"
    result.ok = result.error is None
    return result


def session(headers: dict[str, str], read_timeout: float) -> aiohttp.ClientSession:
    """The session the streams share: no limit on connections (a batch of 256 opens 256),
    ``read_timeout`` seconds at most between two reads of a stream."""
    return aiohttp.ClientSession(
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=read_timeout),
        connector=aiohttp.TCPConnector(limit=0, force_close=False))
