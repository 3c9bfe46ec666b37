"""``--launch docker``: Intel's vLLM image with the seed's flags, built in one place.

Not run here (no container engine on these machines); the command line is unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE = "intel/llm-scaler-vllm:latest"


@dataclass(frozen=True)
class LaunchOptions:
    model: str  # a path under /llm/models inside the container, or a Hugging Face id
    tensor_parallel: int = 1
    max_model_len: int = 8192
    port: int = 8000
    image: str = IMAGE
    models_dir: str = "/llm/models"  # mounted from the host
    name: str = "multiarc-vllm"


def docker_command(opts: LaunchOptions) -> list[str]:
    """``docker run`` of the serving image: the GPUs, host networking, a large /dev/shm,
    and vLLM's flags: no --enforce-eager (it costs 10-30x), the batching limits of the
    seed configuration."""
    return [
        "docker", "run", "-d", "--rm", "--name", opts.name, "--net=host",
        "--device=/dev/dri", "--shm-size", "32g", "-v", f"{opts.models_dir}:{opts.models_dir}",
        "--entrypoint", "vllm", opts.image, "serve", opts.model,
        "--tensor-parallel-size", str(opts.tensor_parallel),
        "--max-model-len", str(opts.max_model_len),
        "--gpu-memory-utilization", "0.9", "--block-size", "64",
        "--max-num-batched-tokens", "8192", "--port", str(opts.port),
        "--host", "127.0.0.1",
    ]


def stop_command(opts: LaunchOptions) -> list[str]:
    return ["docker", "stop", opts.name]
