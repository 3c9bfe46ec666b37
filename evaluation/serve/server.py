"""What the server is and how it is configured, found before the sweep.

- the model and ``max_model_len`` from ``/v1/models``;
- the endpoint: ``auto`` tries ``/v1/completions`` and uses chat completions on a 404
  (Intel's image answered 404 there on some releases), and says which one;
- whether ``/tokenize`` exists (exact prompt lengths);
- the startup arguments where they can be seen: the command line of the process listening
  on the port when the server runs on this machine, and vLLM's ``cache_config_info``.
  ``--enforce-eager`` (10-30x slower) and prefix caching are warned about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import psutil
from multiarc.evaluation.serve import metrics
from multiarc.evaluation.serve.options import ServeOptions

from multiarc.errors import EnvironmentNotReady, InputError

COMPLETIONS = "/v1/completions"
CHAT = "/v1/chat/completions"


@dataclass
class ServerInfo:
    model: str
    max_model_len: int | None
    endpoint: str  # "completions" or "chat"
    endpoint_note: str
    tokenize: bool
    version: str | None = None
    args: list[str] | None = None  # the server's command line, when visible here
    enforce_eager: bool | None = None
    prefix_caching: bool | None = None
    warnings: list[str] = field(default_factory=list)
    local: bool = False  # served from this machine: its GPUs' telemetry can be read here

    @property
    def path(self) -> str:
        return CHAT if self.endpoint == "chat" else COMPLETIONS

    def as_dict(self) -> dict[str, object]:
        return {"model": self.model, "max_model_len": self.max_model_len,
                "endpoint": self.endpoint, "endpoint_note": self.endpoint_note,
                "tokenize": self.tokenize, "version": self.version, "args": self.args,
                "enforce_eager": self.enforce_eager, "prefix_caching": self.prefix_caching,
                "warnings": self.warnings, "local": self.local}


LOOPBACK = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in LOOPBACK


def _local_command_line(url: str) -> list[str] | None:
    """The command line of the local process listening on the URL's port, if any."""
    parts = urlsplit(url)
    if not is_local(url):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return None
            try:
                return psutil.Process(conn.pid).cmdline()
            except psutil.Error:
                return None
    return None


async def _models(client: httpx.AsyncClient, opts: ServeOptions) -> tuple[str, int | None]:
    try:
        response = await client.get("/v1/models", timeout=10.0)
    except httpx.HTTPError as exc:
        raise EnvironmentNotReady(
            f"no OpenAI-compatible server answers at {opts.url} ({type(exc).__name__})",
            "start it first (vllm serve ...), or give its address with --url") from None
    if response.status_code in (401, 403):
        raise InputError(f"{opts.url} refused the API key (HTTP {response.status_code})",
                         "give the server's key with --api-key or OPENAI_API_KEY")
    try:
        data = response.json().get("data") or []
    except (ValueError, AttributeError):
        data = []
    if response.status_code != 200 or not data:
        raise EnvironmentNotReady(f"{opts.url}/v1/models lists no model "
                                  f"(HTTP {response.status_code})",
                                  "check that the server finished loading its model")
    models = {str(m.get("id")): m for m in data if isinstance(m, dict)}
    name = opts.model or next(iter(models))
    if name not in models:
        raise InputError(f"--model {name!r} is not served at {opts.url}",
                         f"served: {', '.join(models)}")
    limit = models[name].get("max_model_len")
    return name, limit if isinstance(limit, int) else None


async def _endpoint(client: httpx.AsyncClient, opts: ServeOptions, model: str) -> tuple[str, str]:
    if opts.endpoint != "auto":
        return opts.endpoint, f"{opts.endpoint} (asked with --endpoint)"
    probe = {"model": model, "prompt": "hello", "max_tokens": 1}
    try:
        response = await client.post(COMPLETIONS, json=probe, timeout=60.0)
    except httpx.HTTPError:
        return "completions", "completions (the probe got no answer; assumed)"
    if response.status_code == 404:
        return "chat", "chat completions (/v1/completions answered 404)"
    return "completions", "completions (/v1/completions answers)"


async def _has_tokenize(client: httpx.AsyncClient, model: str) -> bool:
    try:
        response = await client.post("/tokenize", json={"model": model, "prompt": "hello"},
                                     timeout=10.0)
        return response.status_code == 200 and "tokens" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


async def probe(client: httpx.AsyncClient, opts: ServeOptions) -> ServerInfo:
    model, limit = await _models(client, opts)
    endpoint, note = await _endpoint(client, opts, model)
    info = ServerInfo(model, limit, endpoint, note, await _has_tokenize(client, model),
                      local=is_local(opts.url))
    try:
        version = await client.get("/version", timeout=5.0)
        info.version = version.json().get("version") if version.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        info.version = None
    info.args = _local_command_line(opts.url)
    if info.args is not None:
        info.enforce_eager = "--enforce-eager" in info.args
        if "--no-enable-prefix-caching" in info.args:
            info.prefix_caching = False
        elif "--enable-prefix-caching" in info.args:
            info.prefix_caching = True
    try:
        text = (await client.get("/metrics", timeout=5.0)).text
        labels = metrics.info_labels(text)
    except (httpx.HTTPError, ValueError):
        labels = {}
    if info.prefix_caching is None and "enable_prefix_caching" in labels:
        info.prefix_caching = labels["enable_prefix_caching"].lower() == "true"
    _warn(info, opts)
    return info


def _warn(info: ServerInfo, opts: ServeOptions) -> None:
    if info.enforce_eager:
        info.warnings.append("the server runs with --enforce-eager: CUDA/XPU graphs are off, "
                             "typically 10-30x slower than compiled mode")
    if info.prefix_caching:
        info.warnings.append("prefix caching is on: the prompts here are random and distinct, "
                             "so a cache hit would only flatter repeated runs; serve with "
                             "--no-enable-prefix-caching to measure without it")
    if info.max_model_len is not None and opts.input_len + opts.output_len > info.max_model_len:
        info.warnings.append(f"--input-len {opts.input_len} + --output-len {opts.output_len} "
                             f"exceeds the server's max_model_len {info.max_model_len}: "
                             "requests will be refused")
