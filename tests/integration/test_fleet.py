"""``multiarc-eval basic --inventory`` over real SSH: four loopback nodes and one that is gone.

Four debootstrapped roots, started in parallel, each served by its own chrooted sshd on its
own loopback address (127.0.0.2 to .5); each replays the recording its inventory variable
``multiarc_replay`` names (two healthy, one slow GPU, one degraded link) with the shim on
the node's PATH; a fifth host has no listener. One run finds the slow GPU and the degraded
link by host and GPU and reports the unreachable host; a second run is stopped with Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.rootfs import Node, free_port
from tests.integration.sites import REPO_ROOT, Harness

pytestmark = pytest.mark.integration

RECORDINGS = REPO_ROOT / "tests" / "recordings"
NODES = {
    "healthy1": "b60x4",
    "healthy2": "b60x4",
    "slowgpu": "b60x4-slow-gpu",
    "badlink": "b60x4-degraded-link",
}
EVAL = str(Path(sys.executable).parent / "multiarc-eval")


@pytest.fixture(scope="module")
def fleet(harness: Harness) -> Iterator[Path]:
    """The inventory of four running nodes plus an unreachable host."""
    nodes = []
    for number, name in enumerate(NODES, start=2):
        folder = harness.workdir / f"fleet-{name}"
        folder.mkdir()
        node = Node(name, harness.lower, folder, harness.key, f"127.0.0.{number}")
        harness.nodes.append(node)  # stopped by the harness, also when a test fails
        nodes.append(node)
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        list(pool.map(Node.start, nodes))
    lines = ["[rack]"]
    lines += [f"{n.inventory_line()} multiarc_replay={RECORDINGS / NODES[n.name]}" for n in nodes]
    dead = free_port("127.0.0.6")
    lines.append(f"gone ansible_host=127.0.0.6 ansible_port={dead} ansible_user=root")
    inventory = harness.workdir / "fleet.ini"
    inventory.write_text("\n".join(lines) + "\n")
    yield inventory


def _command(inventory: Path, out: Path) -> list[str]:
    return [
        EVAL, "basic", "--inventory", str(inventory), "--output", str(out), "--forks", "5",
        "--devices", "all", "--skip-ccl", "--timeout-scale", "0.2",
    ]  # fmt: skip


def _env(harness: Harness) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(harness.tmp)}


def test_fleet_report_names_the_odd_ones_out(harness: Harness, fleet: Path) -> None:
    out = harness.workdir / "fleet-results"
    done = subprocess.run(
        _command(fleet, out), capture_output=True, text=True, timeout=600, env=_env(harness)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (run,) = out.iterdir()
    report = json.loads((run / "fleet_report.json").read_text())
    hosts = {h["host"]: h for h in report["hosts"]}
    assert hosts["gone"]["verdict"] == "UNREACHABLE", hosts["gone"]
    for name in NODES:
        assert hosts[name]["status"] == "done", hosts[name]
        assert (run / "hosts" / name / "report.json").is_file()
    assert hosts["healthy1"]["verdict"] in ("PASS", "WARN")
    found = {(o["host"], o["gpu"]) for o in report["outliers"]}
    assert ("slowgpu", "2 (0000:98:00.0)") in found
    assert ("badlink", "1 (0000:1b:00.0)") in found
    assert not any(h.startswith("healthy") for h, _ in found)
    assert report["drift"] == []


def test_ctrl_c_stops_every_host_and_exits_130(harness: Harness, fleet: Path) -> None:
    out = harness.workdir / "fleet-interrupted"
    proc = subprocess.Popen(
        _command(fleet, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(harness),
    )  # fmt: skip
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    (run,) = out.iterdir()
    report = json.loads((run / "fleet_report.json").read_text())
    assert report["interrupted"] is True
    assert {h["host"] for h in report["hosts"]} == {*NODES, "gone"}
