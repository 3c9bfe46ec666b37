"""``multiarc-eval basic --inventory`` over real SSH: four loopback nodes and one that is gone.

Four debootstrapped roots, started in parallel, each served by its own chrooted sshd on its
own loopback address (127.0.0.2 to .5); each replays the recording its inventory variable
``multiarc_replay`` names (two healthy, one slow GPU, one degraded link) with the shim on
the node's PATH; a fifth host has no listener. One run finds the slow GPU and the degraded
link by host and GPU and reports the unreachable host; a second run, in performance mode,
is stopped with Ctrl-C: each node's run is stopped, restores its settings, comes home and
is removed there.
"""

from __future__ import annotations

import hashlib
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
from tests.leftovers import assert_no_playbook_left

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
        [*_command(fleet, out), "--performance-mode"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(harness),
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
    # the abort went only to the hosts that had answered, not to the unreachable one again
    assert "stopping: gone" not in stdout, stdout
    # every node's run was stopped, its settings put back, its folder removed there
    for node in (n for n in harness.nodes if n.name in NODES):
        assert not list((node.root / "tmp").glob("multiarc-eval-*")), node.name
    assert subprocess.run(["pgrep", "-f", "multiarc-eval-"], check=False).returncode == 1
    assert_no_playbook_left(fleet)
    assert {f.name for f in (run / "hosts").iterdir()} == set(NODES)  # what each measured
    for folder in (run / "hosts").iterdir():
        node_json = json.loads((folder / "node.json").read_text())
        changes = node_json["performance"]["changes"]
        assert any("GPU 0 frequency restored" in c for c in changes), changes
        governors = folder / "root/sys/devices/system/cpu"
        assert {g.read_text().strip() for g in governors.glob("cpu*/cpufreq/*governor")} == {
            "powersave"
        }


# --------------------------------------------------------------- multiarc-collect-sysinfo

COLLECT = str(Path(sys.executable).parent / "multiarc-collect-sysinfo")
PROXY_PASSWORD = "Fl33t-pw/9%40x"
SHARED_IP = "10.20.30.40"


def _plant(fleet: Path, harness: Harness) -> None:
    """Node healthy1 names healthy2 by name and address; both carry a proxy password."""
    roots = {n.name: n.root for n in harness.nodes if n.name in NODES}
    (roots["healthy1"] / "etc/hosts").write_text(
        f"127.0.0.1 localhost\n{SHARED_IP} healthy2 healthy2.corp.example\n"
    )
    (roots["healthy2"] / "etc/hosts").write_text(f"127.0.0.1 localhost\n{SHARED_IP} healthy2\n")
    for name in ("healthy1", "healthy2"):
        (roots[name] / "etc/environment").write_text(
            f'https_proxy="http://ops:{PROXY_PASSWORD}@proxy.corp.example:3128"\n'
        )


def _members(archive: Path) -> dict[str, bytes]:
    from multiarc.collect.fleet_tokens import _members as read_members

    return {n.split("/", 1)[1]: d for n, d, _m in read_members(archive)}


def _collect(
    fleet: Path, out: Path, harness: Harness, *extra: str
) -> subprocess.CompletedProcess[str]:
    command = [COLLECT, "--inventory", str(fleet), "--output", str(out), "--forks", "5", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=_env(harness))


def test_collect_fleet_fetches_checked_archives_and_names_the_missing_host(
    harness: Harness, fleet: Path
) -> None:
    _plant(fleet, harness)
    out = harness.workdir / "fleet-collect"
    done = _collect(fleet, out, harness, "--timeout", "20")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert folder.parent == out and folder.stat().st_mode & 0o077 == 0
    index = json.loads((folder / "index.json").read_text())
    hosts = {h["host"]: h for h in index["hosts"]}
    assert set(hosts) == {*NODES, "gone"}
    assert hosts["gone"]["status"] == "unreachable" and hosts["gone"]["reason"]
    for name in NODES:
        entry = hosts[name]
        assert entry["status"] == "collected", entry
        archive = folder / entry["archive"]
        assert archive.parent == folder / "hosts" / name
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == entry["sha256"]
        assert entry["sha256"] == entry["node_sha256"]  # unchanged without --redact
        assert archive.stat().st_mode & 0o777 == 0o600
        inspect = subprocess.run([COLLECT, "--inspect", str(archive)], capture_output=True,
                                 text=True, timeout=120)  # fmt: skip
        assert inspect.returncode == 0, inspect.stderr
    assert "gone" in (folder / "index.txt").read_text()
    assert not (folder / ".fetch").exists()
    for node in harness.nodes:
        if node.name in NODES:
            left = list((node.root / "tmp").glob("multiarc-collect-*"))
            assert not left, (node.name, [list(p.rglob("*")) for p in left], done.stderr)
    text = b"".join(_members(folder / hosts["healthy1"]["archive"]).values())
    assert PROXY_PASSWORD.encode() not in text and b"healthy2" in text  # not --redact


def test_collect_fleet_redacts_with_one_token_table(harness: Harness, fleet: Path) -> None:
    _plant(fleet, harness)
    out = harness.workdir / "fleet-collect-redacted"
    out.mkdir()
    table = out / "rack.map"
    done = _collect(
        fleet,
        out,
        harness,
        "--limit",
        "healthy1,healthy2",
        "--redact",
        "--domain",
        "corp.example",
        "--map",
        str(table),
        "--timeout",
        "20",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1])
    index = json.loads((folder / "index.json").read_text())
    assert index["redacted"] is True and len(index["hosts"]) == 2
    assert all(h["inventory_host"] is None for h in index["hosts"])
    mapping = json.loads(table.read_text())
    assert table.stat().st_mode & 0o777 == 0o600
    by_value = {v: k for k, v in mapping.items()}
    texts = {}
    for entry in index["hosts"]:
        assert mapping[f"<{entry['host']}>"] in ("healthy1", "healthy2")
        members = _members(folder / entry["archive"])
        texts[mapping[f"<{entry['host']}>"]] = members["system/hosts.txt"].decode()
        blob = b"".join(members.values())
        for secret in (
            b"healthy1",
            b"healthy2",
            SHARED_IP.encode(),
            PROXY_PASSWORD.encode(),
            b"corp.example",
        ):
            assert secret not in blob, (entry["host"], secret)
        check = subprocess.run([COLLECT, "--inspect", str(folder / entry["archive"])],
                               capture_output=True, text=True, timeout=120)  # fmt: skip
        assert check.returncode == 0, check.stderr
    ip_token, host_token = by_value[SHARED_IP], by_value["healthy2"]
    for name in ("healthy1", "healthy2"):  # the same address and host: the same tokens
        assert ip_token in texts[name] and host_token in texts[name], texts[name]
    assert by_value["healthy2.corp.example"] in texts["healthy1"]
    assert not list(folder.rglob("*.json.partial")) and not (folder / ".fetch").exists()


def test_collect_fleet_ctrl_c_keeps_what_came_back_and_exits_130(
    harness: Harness, fleet: Path
) -> None:
    out = harness.workdir / "fleet-collect-interrupted"
    command = [COLLECT, "--inventory", str(fleet), "--output", str(out), "--forks", "5"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(harness))  # fmt: skip
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    (folder,) = out.iterdir()
    index = json.loads((folder / "index.json").read_text())
    assert index["interrupted"] is True
    assert {h["host"] for h in index["hosts"]} == {*NODES, "gone"}
    assert all(h["status"] in ("collected", "interrupted", "unreachable") for h in index["hosts"])
    assert not (folder / ".fetch").exists()
    for node in harness.nodes:  # the collectors are stopped, their folders gone
        if node.name in NODES:
            left = list((node.root / "tmp").glob("multiarc-collect-*"))
            assert not left, (node.name, [list(p.rglob("*")) for p in left], stderr)
            assert node.ssh("pgrep -f [m]ultiarc-collect.pyz", check=False).returncode == 1
    assert_no_playbook_left(fleet)
