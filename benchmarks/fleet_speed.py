"""Wall time of ``multiarc-eval basic --inventory`` on one node and on four, side by side.

Four fresh nodes: copies of the cached Debian trixie image, each served by its own chrooted
sshd on its own loopback address (tests/integration/rootfs.py), each replaying the same
recording of a healthy 4-GPU host (``multiarc_replay``), so every node does the same work.
Runs alternate (1 node, 4 nodes, 1 node, ...) so that both see the same machine; the
median of ``--repeat`` runs of each is compared.

Printed: the wall time of each size, the ratio 4 nodes / 1 node against the goal (<= 1.5x),
the machine's busy CPU time during each run (every node shares this machine's CPUs, unlike
a rack's: where the 4-node run keeps every CPU busy, the machine, not the tool, sets the
ratio),
and where the time goes, from the fleet report's own timing: the playbook (every host in
parallel), the tools on each node (node.json), and the controller's work per host
(unpacking, parsing, judging and the host's reports, overlapped with the playbook: each
host is judged as soon as its results arrive) and Ansible's around the tools (connection,
shipping the module and recording, fetching the run folder); what is left after the
playbook (the last host's judging, the fleet report).

Run as root: ``.venv/bin/python benchmarks/fleet_speed.py [--repeat N] [--forks N]``.
Exit status 0 when the goal is met, 1 otherwise, 3 when the harness is unavailable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.integration.rootfs import (  # noqa: E402
    HarnessUnavailable,
    Node,
    build_image,
    make_key,
    require_harness,
    unpack_image,
)

RATIO_GOAL = 1.5
RECORDING = REPO_ROOT / "tests" / "recordings" / "b60x4"
EVAL = str(Path(sys.executable).parent / "multiarc-eval")
NODE_COUNT = 4


def inventory(nodes: list[Node], path: Path) -> Path:
    lines = ["[rack]"] + [f"{n.inventory_line()} multiarc_replay={RECORDING}" for n in nodes]
    path.write_text("\n".join(lines) + "\n")
    return path


def busy_cpu_s() -> float:
    """CPU-seconds this machine has spent busy since boot, every process (nodes included)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def one_run(inv: Path, out: Path, forks: int, tmp: Path) -> dict[str, Any]:
    """One fleet evaluation; its wall time and the fleet report's timing."""
    command = [EVAL, "basic", "--inventory", str(inv), "--output", str(out), "--forks",
               str(forks), "--devices", "all", "--skip-ccl"]  # fmt: skip
    started, busy = time.monotonic(), busy_cpu_s()
    done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TMPDIR": str(tmp)})  # fmt: skip
    wall, busy = time.monotonic() - started, busy_cpu_s() - busy
    if done.returncode not in (0, 1):
        raise RuntimeError(f"multiarc-eval exit {done.returncode}: {done.stderr[-800:]}")
    (run,) = out.iterdir()
    report = json.loads((run / "fleet_report.json").read_text())
    shutil.rmtree(out)
    hosts = report["hosts"]
    if any(h["status"] != "done" for h in hosts):
        raise RuntimeError(f"a host did not finish: {[h['reason'] for h in hosts]}")
    return {"wall_s": wall, "busy_cpu_s": busy, "timing": report.get("timing", {}),
            "hosts": {h["host"]: h.get("timing", {}) for h in hosts}}  # fmt: skip


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def summarize(label: str, runs: list[dict[str, Any]]) -> float:
    wall = _median([r["wall_s"] for r in runs])
    playbook = _median([r["timing"].get("playbook_s", 0.0) for r in runs])
    after = _median([r["timing"].get("after_playbook_s", 0.0) for r in runs])
    tools = [t.get("node_tools_s", 0.0) for r in runs for t in r["hosts"].values()]
    ctrl = [t.get("controller_s", 0.0) for r in runs for t in r["hosts"].values()]
    ansible = [r["timing"].get("playbook_s", 0.0) - t.get("node_tools_s", 0.0)
               for r in runs for t in r["hosts"].values()]  # fmt: skip
    busy = _median([r["busy_cpu_s"] for r in runs])
    cpus = os.cpu_count() or 1
    print(f"  {label:<8} wall {wall:6.1f} s   playbook {playbook:5.1f} s   after it "
          f"(judging left, fleet report) {after:5.1f} s")  # fmt: skip
    print(f"           CPU busy {busy:5.1f} CPU-s of {wall * cpus:5.1f} on {cpus} CPU(s) "
          f"({100 * busy / (wall * cpus):3.0f} %): no run here is faster than "
          f"{busy / cpus:5.1f} s")  # fmt: skip
    print(f"           per host: tools on the node {_median(tools):5.1f} s, Ansible around "
          f"them {_median(ansible):5.1f} s, controller (parse, judge, reports) "
          f"{_median(ctrl):5.2f} s")  # fmt: skip
    return wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each size")
    parser.add_argument("--forks", type=int, default=5, help="Ansible's forks")
    parser.add_argument("--json", type=Path, help="also write every run as JSON here")
    args = parser.parse_args(argv)
    try:
        require_harness()
    except HarnessUnavailable as err:
        print(f"fleet_speed: cannot run here: {err}", file=sys.stderr)
        return 3
    image = build_image()
    workdir = Path(tempfile.mkdtemp(prefix="ma-bench-fleet-", dir="/tmp"))
    nodes: list[Node] = []
    try:
        (workdir / "tmp").mkdir()
        lower = unpack_image(image, workdir / "lower")
        key = make_key(workdir)
        for number in range(NODE_COUNT):
            folder = workdir / f"node{number + 1}"
            folder.mkdir()
            nodes.append(Node(f"node{number + 1}", lower, folder, key, f"127.0.0.{number + 2}"))
        with ThreadPoolExecutor(max_workers=NODE_COUNT) as pool:
            list(pool.map(Node.start, nodes))
        one = inventory(nodes[:1], workdir / "one.ini")
        four = inventory(nodes, workdir / "four.ini")
        runs: dict[str, list[dict[str, Any]]] = {"1 node": [], "4 nodes": []}
        for number in range(args.repeat):
            for label, inv in (("1 node", one), ("4 nodes", four)):
                run = one_run(inv, workdir / "out", args.forks, workdir / "tmp")
                runs[label].append(run)
                print(f"run {number + 1}, {label}: {run['wall_s']:.1f} s", flush=True)
        print(f"\nmultiarc-eval basic --replay over SSH, forks {args.forks}, median of "
              f"{args.repeat} (recording {RECORDING.name} on every node):")  # fmt: skip
        single = summarize("1 node", runs["1 node"])
        fleet = summarize("4 nodes", runs["4 nodes"])
        ratio = fleet / single
        met = ratio <= RATIO_GOAL
        print(f"  ratio 4 nodes / 1 node {ratio:5.2f}x   goal <= {RATIO_GOAL}x   "
              f"{'MET' if met else 'MISSED'}")  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps(runs, indent=2))
        return 0 if met else 1
    finally:
        for node in reversed(nodes):
            node.stop()
        from multiarc.installer.driver import close_ssh_masters

        close_ssh_masters(workdir / "tmp")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
