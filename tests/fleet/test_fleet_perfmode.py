"""--performance-mode on a fleet: each node runs its steps in performance mode, with the
controller's own perfmode module sent to it, and restores every setting afterwards.

Ansible's local connection stands in for SSH (as in test_fleet_local.py); the nodes replay
recordings, so the settings are written into each node's copy of the recording's root and
the xpu-smi calls are answered from the recording.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from tests.leftovers import assert_no_playbook_left

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "tests" / "recordings"
EVAL = [sys.executable, "-m", "multiarc.evaluation"]
LOCAL = "ansible_connection=local ansible_python_interpreter=" + sys.executable


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_performance_mode_runs_on_each_node_and_is_restored(tmp_path: Path) -> None:
    inventory = tmp_path / "rack.ini"
    inventory.write_text(
        "[rack]\n"
        f"two multiarc_replay={RECORDINGS / 'b60x2'} {LOCAL}\n"
        f"four multiarc_replay={RECORDINGS / 'b60x4'} {LOCAL}\n"
    )
    before = {name: _tree_digest(RECORDINGS / name / "root") for name in ("b60x2", "b60x4")}
    out = tmp_path / "results"
    done = subprocess.run(
        [
            *EVAL, "basic", "--inventory", str(inventory), "--output", str(out),
            "--performance-mode", "--devices", "all", "--skip-ccl", "--timeout-scale", "0.2",
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "not available" not in done.stderr
    (run,) = out.iterdir()
    for host, gpus in (("two", 2), ("four", 4)):
        folder = run / "hosts" / host
        node = json.loads((folder / "node.json").read_text())
        perf = node["performance"]
        assert perf["gpus"] == list(range(gpus)) and perf["problems"] == []
        changes = perf["changes"]
        assert any("powersave -> performance on 8 of 8 CPUs" in c for c in changes), changes
        for gpu in range(gpus):
            assert f"GPU {gpu} frequency 400-2400 -> 2400-2400 MHz" in changes
            assert f"GPU {gpu} frequency restored to 400-2400 MHz" in changes
        assert "CPU settings restored (16 files)" in changes  # governor and bias, 8 CPUs
        # lock, steps, restore: every frequency change is one xpu-smi call with its raw log
        ranges = [c["argv"][-1] for c in perf["commands"] if "--frequencyrange" in c["argv"]]
        assert ranges == ["2400,2400"] * gpus + ["400,2400"] * gpus
        assert len(list((folder / "perf").glob("*-xpu-smi.log"))) == len(perf["commands"])
        assert node["steps"] and all(s["exit_code"] == 0 for s in node["steps"])
        # setvars.sh sourced on the node first, as on one host (the replay shims stay first
        # on PATH: every step above found its tool)
        assert node["setvars"]["exit_code"] == 0 and node["setvars"]["error"] == ""
        said = (folder / "steps/00-setvars.log").read_text()
        assert ":: oneAPI environment initialized ::" in said
        assert (folder / "benchmark_detail_log.txt").read_text().startswith(said)
        steps = json.loads((folder / "steps.json").read_text())
        first = steps[0] if isinstance(steps, list) else steps["steps"][0]
        assert first["name"] == "setvars" and first["log_path"] == "steps/00-setvars.log"
        # the node's copy of the probes is back to what it was; conditions say perf mode
        cpus = folder / "root" / "sys/devices/system/cpu"
        governors = {p.read_text().strip() for p in cpus.glob("cpu*/cpufreq/scaling_governor")}
        assert governors == {"powersave"}
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["conditions"]["performance_mode"] is True
        assert meta["performance_problems"] == [] and meta["performance_changes"] == changes
        assert f"{host}: performance mode: {gpus + 1} setting(s) changed" in done.stdout
    # the recordings themselves are never written
    assert before == {name: _tree_digest(RECORDINGS / name / "root") for name in before}


def test_without_the_option_nodes_get_no_performance_mode(tmp_path: Path) -> None:
    inventory = tmp_path / "rack.ini"
    inventory.write_text(f"[rack]\nn1 multiarc_replay={RECORDINGS / 'b60x2'} {LOCAL}\n")
    out = tmp_path / "results"
    done = subprocess.run(
        [*EVAL, "quick", "--inventory", str(inventory), "--output", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = out.iterdir()
    node = json.loads((run / "hosts" / "n1" / "node.json").read_text())
    assert "performance" not in node and "performance mode" not in done.stdout


def test_ctrl_c_during_the_steps_restores_the_node(tmp_path: Path) -> None:
    """The faults recording's ze_peak hangs; Ctrl-C once the GPUs are locked: the node puts
    every setting back before its run folder comes home, and the run exits 130."""
    import os
    import signal
    import time

    inventory = tmp_path / "rack.ini"
    inventory.write_text(f"[rack]\nn1 multiarc_replay={RECORDINGS / 'b60x4-faults'} {LOCAL}\n")
    node_tmp = tmp_path / "node-tmp"  # where the node's private folder is made
    node_tmp.mkdir()
    out = tmp_path / "results"
    proc = subprocess.Popen(
        [
            *EVAL, "basic", "--inventory", str(inventory), "--output", str(out),
            "--performance-mode", "--skip-ccl",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(node_tmp)},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # 4 reads and 4 locks, then the steps
        if len(list(node_tmp.glob("multiarc-eval-*/run/perf/*.log"))) >= 8 and list(
            node_tmp.glob("multiarc-eval-*/run/steps/*")
        ):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError("the node never locked its GPUs: " + str(proc.communicate()))
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    (run,) = out.iterdir()
    node = json.loads((run / "hosts" / "n1" / "node.json").read_text())
    assert node["stopped"] is True
    changes = node["performance"]["changes"]
    for gpu in range(4):
        assert f"GPU {gpu} frequency restored to 400-2400 MHz" in changes, changes
    assert "CPU settings restored (16 files)" in changes
    cpus = run / "hosts" / "n1" / "root" / "sys/devices/system/cpu"
    assert {p.read_text().strip() for p in cpus.glob("cpu*/cpufreq/scaling_governor")} == {
        "powersave"
    }
    assert not list(node_tmp.glob("multiarc-eval-*"))  # the private folder is removed
    assert_no_playbook_left(inventory)
