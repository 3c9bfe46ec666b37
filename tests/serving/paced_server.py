"""A paced OpenAI-style completions server: every stream's first token is sent a fixed time
after its request arrived, each next token a fixed gap later, on an absolute schedule, and
the times it really sent them are kept. Two clients run against it measure the same
server, so what differs between their figures is the clients; the kept times are the truth
they are both compared with.

It runs with the Python of the vLLM venv (aiohttp is vLLM's own dependency), in its own
process:  <vllm venv>/bin/python tests/serving/paced_server.py PORT FIRST_S GAP_S

- POST /v1/completions (stream, usage in the stream as vLLM sends it);
- GET /v1/models, /health, /metrics (empty), POST /tokenize answers 404 like a server
  without it;
- GET /paced/truth: per finished stream, its tokens, the server-side TTFT (request read to
  first token written) and TPOT (first to last token written, per token after the first);
- POST /paced/reset forgets them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from aiohttp import web

MODEL = "paced"


class Pace:
    def __init__(self, first: float, gap: float) -> None:
        self.first, self.gap = first, gap
        self.truth: list[dict[str, float]] = []

    async def completions(self, request: web.Request) -> web.StreamResponse:
        arrived = time.perf_counter()
        payload = await request.json()
        tokens = int(payload.get("max_tokens") or 16)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        written: list[float] = []
        for i in range(tokens):
            due = arrived + self.first + i * self.gap
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            chunk = {"id": "cmpl-paced", "object": "text_completion", "model": MODEL,
                     "choices": [{"index": 0, "text": " tok", "logprobs": None,
                                  "finish_reason": None if i < tokens - 1 else "length"}]}
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            written.append(time.perf_counter())
        usage = {"id": "cmpl-paced", "object": "text_completion", "model": MODEL,
                 "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": tokens,
                                          "total_tokens": tokens + 1}}
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        self.truth.append({
            "tokens": tokens, "ttft": written[0] - arrived,
            "tpot": (written[-1] - written[0]) / (tokens - 1) if tokens > 1 else 0.0})
        return response

    async def models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": MODEL, "object": "model", "max_model_len": 4096}]})

    async def health(self, _request: web.Request) -> web.Response:
        return web.Response(text="")

    async def metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text="")

    async def not_here(self, _request: web.Request) -> web.Response:
        return web.json_response({"detail": "Not Found"}, status=404)

    async def get_truth(self, _request: web.Request) -> web.Response:
        return web.json_response(self.truth)

    async def reset(self, _request: web.Request) -> web.Response:
        self.truth = []
        return web.json_response({})


def app(first: float, gap: float) -> web.Application:
    pace = Pace(first, gap)
    application = web.Application()
    application.add_routes([
        web.post("/v1/completions", pace.completions),
        web.get("/v1/models", pace.models),
        web.get("/health", pace.health),
        web.get("/metrics", pace.metrics),
        web.post("/tokenize", pace.not_here),
        web.post("/v1/chat/completions", pace.not_here),
        web.get("/paced/truth", pace.get_truth),
        web.post("/paced/reset", pace.reset),
    ])
    return application


if __name__ == "__main__":
    port, first_s, gap_s = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    web.run_app(app(first_s, gap_s), host="127.0.0.1", port=port, print=None,
                backlog=1024, access_log=None)
