"""A small OpenAI-style streaming server for the client's unit tests (the real vLLM server
is in vllm_server.py). Its behaviour is set per test: completions 404 (chat only, as on
some of Intel's images), no usage in the stream, bytes that are not UTF-8, a stream cut off
mid-token, an error answer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    completions_404: bool = False
    usage: bool = True
    bad_utf8: bool = False
    cut_after: int | None = None  # close the connection after this many chunks
    status: int = 200
    error_message: str = "This model's maximum context length is 2048 tokens"
    first_delay: float = 0.0  # seconds before the first chunk (a server's prefill)
    token_delay: float = 0.0  # seconds between chunks
    tail_delay: float = 0.0  # seconds after the last token, before usage and [DONE]
    empty_text: int = 0  # the first chunks carry a token but no text yet (partial bytes)
    requests: list[dict[str, object]] = field(default_factory=list)


def _handler(b: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: object) -> None:
            pass

        def _json(self, code: int, data: object) -> None:
            body = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._json(200, {"data": [{"id": "fake", "max_model_len": 2048}]})
            elif self.path == "/health":
                self._json(200, {})
            elif self.path == "/metrics":
                body = b"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 0\n"
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            payload = json.loads(self.rfile.read(length) or b"{}")
            chat = self.path == "/v1/chat/completions"
            if self.path not in ("/v1/completions", "/v1/chat/completions") or (
                    not chat and b.completions_404):
                self._json(404, {"error": {"message": "Not Found"}})
                return
            b.requests.append({"path": self.path, **payload})
            if b.status != 200:
                self._json(b.status, {"error": {"message": b.error_message, "code": b.status}})
                return
            if not payload.get("stream"):
                self._json(200, {"choices": [{"text": "x"}]})
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            if chat:  # the role comes first, without a token
                role = {"choices": [{"delta": {"role": "assistant", "content": ""}}]}
                self.wfile.write(b"data: " + json.dumps(role).encode() + b"\n\n")
            n = int(payload.get("max_tokens", 4))
            time.sleep(b.first_delay)
            for i in range(n):
                if i and b.token_delay:
                    time.sleep(b.token_delay)
                if b.cut_after is not None and i == b.cut_after:
                    self.wfile.write(b'data: {"choices": [{"text": "\xe2\x82')  # mid-token
                    self.wfile.flush()
                    self.connection.close()
                    return
                word = "" if i < b.empty_text else "tok"
                chunk = ({"choices": [{"delta": {"content": word}}]} if chat
                         else {"choices": [{"text": word}]})
                line = b"data: " + json.dumps(chunk).encode() + b"\n\n"
                if b.bad_utf8 and i == 1:
                    line = b'data: {"choices": [{"text": "\xff\xfe bad"}]}\n\n'
                self.wfile.write(line)
                self.wfile.flush()
            time.sleep(b.tail_delay)
            if b.usage:
                usage = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": n}}
                self.wfile.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


@contextmanager
def serving(behaviour: Behaviour) -> Iterator[str]:
    ThreadingHTTPServer.request_queue_size = 1024  # 256 streams connect at once
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(behaviour))
    server.daemon_threads = True
    server.handle_error = lambda *_: None  # type: ignore[method-assign]  # a client gone
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def serve_on(port: int, token_delay: float = 0.0) -> None:
    """Serve on 127.0.0.1:PORT until killed (a stand-in server in its own process)."""
    ThreadingHTTPServer.request_queue_size = 1024
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port),
                                 _handler(Behaviour(token_delay=token_delay)))
    server.serve_forever()


if __name__ == "__main__":
    import sys

    serve_on(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
