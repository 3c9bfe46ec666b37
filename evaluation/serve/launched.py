"""``--launch docker``: start Intel's vLLM image, wait until it serves, stop it afterwards.

The command line comes from launch.py (one place); its output (the container id) and any
failure are reported, and the container is stopped whatever happens to the sweep.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
from multiarc.evaluation.serve.launch import LaunchOptions, docker_command, stop_command

from multiarc.errors import EnvironmentNotReady


@contextmanager
def launched(opts: LaunchOptions, url: str, timeout: float,
             say: Callable[[str], None]) -> Iterator[None]:
    if shutil.which("docker") is None:
        raise EnvironmentNotReady("--launch docker: docker is not installed here",
                                  "install a container engine, or start the server yourself "
                                  "and give its --url")
    argv = docker_command(opts)
    say("launching: " + " ".join(argv))
    started = subprocess.run(argv, capture_output=True, text=True)
    if started.returncode != 0:
        raise EnvironmentNotReady(f"--launch docker: docker run failed: "
                                  f"{(started.stderr or started.stdout).strip()[:300]}",
                                  "check the image name and that /dev/dri is present")
    try:
        _wait_ready(url, timeout, say)
        yield
    finally:
        subprocess.run(stop_command(opts), capture_output=True, text=True)
        say(f"stopped the container {opts.name}")


def _wait_ready(url: str, timeout: float, say: Callable[[str], None]) -> None:
    end = time.monotonic() + timeout
    last_note = 0.0
    while time.monotonic() < end:
        try:
            if httpx.get(url + "/v1/models", timeout=5.0).status_code == 200:
                say("the server is ready")
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() - last_note > 30:
            say(f"waiting for {url}/v1/models (loading the model) ...")
            last_note = time.monotonic()
        time.sleep(2.0)
    raise EnvironmentNotReady(f"--launch docker: {url} did not serve within {timeout:g} s",
                              "see `docker logs` of the container; raise --launch-timeout")
