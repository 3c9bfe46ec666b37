"""--performance-mode sets CPU governors and locks GPU frequencies, and always restores them
(normal end, exception, Ctrl-C and SIGTERM of a running `basic`). Writes go to a copied root;
xpu-smi is the recording's shim, whose calls are logged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.evaluation.cli import main
from multiarc.evaluation.perfmode import PerformanceMode
from multiarc.evaluation.replay import Replay, load_recording
from multiarc.evaluation.replay_shim import CALL_LOG_ENV

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
CPUS = 8


def governors(root: Path) -> list[str]:
    return [
        (root / f"sys/devices/system/cpu/cpu{n}/cpufreq/scaling_governor").read_text().strip()
        for n in range(CPUS)
    ]


def biases(root: Path) -> list[str]:
    return [
        (root / f"sys/devices/system/cpu/cpu{n}/power/energy_perf_bias").read_text().strip()
        for n in range(CPUS)
    ]


def frequency_calls(log: Path) -> list[list[str]]:
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [c["args"] for c in calls if "--frequencyrange" in c["args"]]


def test_set_then_restore(copied_recording, tmp_path: Path) -> None:
    root = copied_recording("b60x4") / "root"
    log = tmp_path / "calls.jsonl"
    with Replay(load_recording(RECORDINGS / "b60x4")) as replay:
        env = {**replay.environ(), CALL_LOG_ENV: str(log)}
        with PerformanceMode(root=root, env=env, gpus=[0, 2]) as perf:
            assert governors(root) == ["performance"] * CPUS
            assert biases(root) == ["0"] * CPUS
            assert frequency_calls(log) == [
                ["config", "-d", "0", "-t", "0", "--frequencyrange", "2400,2400"],
                ["config", "-d", "2", "-t", "0", "--frequencyrange", "2400,2400"],
            ]
    assert governors(root) == ["powersave"] * CPUS
    assert biases(root) == ["6"] * CPUS
    assert frequency_calls(log)[2:] == [
        ["config", "-d", "2", "-t", "0", "--frequencyrange", "400,2400"],
        ["config", "-d", "0", "-t", "0", "--frequencyrange", "400,2400"],
    ]
    assert perf.problems == []
    assert any("powersave -> performance on 8 of 8 CPUs" in c for c in perf.changes)


def test_restored_after_an_exception(copied_recording) -> None:
    root = copied_recording("b60x2") / "root"
    with (
        Replay(load_recording(RECORDINGS / "b60x2")) as replay,
        pytest.raises(RuntimeError),
        PerformanceMode(root, replay.environ(), [0]),
    ):
        assert governors(root)[0] == "performance"
        raise RuntimeError("benchmark blew up")
    assert governors(root) == ["powersave"] * CPUS


def test_unknown_gpu_is_a_problem_not_a_crash(copied_recording) -> None:
    root = copied_recording("b60x2") / "root"
    with (
        Replay(load_recording(RECORDINGS / "b60x2")) as replay,
        PerformanceMode(root, replay.environ(), [7]) as perf,
    ):
        pass
    assert any("GPU 7: frequency range not readable" in p for p in perf.problems)
    assert governors(root) == ["powersave"] * CPUS


def test_not_root_on_a_real_host_is_environment_not_ready(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(
        main, ["basic", "--performance-mode", "--output", str(tmp_path / "out")]
    )
    assert result.exit_code == 3, result.output
    assert "needs root" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_basic_restores_everything(
    copied_recording, tmp_path: Path, sig: signal.Signals
) -> None:
    """Signal a real `basic --performance-mode` while the faults recording's ze_peak hangs."""
    root = copied_recording("b60x4") / "root"
    log = tmp_path / "calls.jsonl"
    env = {**os.environ, CALL_LOG_ENV: str(log)}
    argv = [
        str(Path(sys.executable).parent / "multiarc-eval"),
        "basic",
        "--replay",
        str(RECORDINGS / "b60x4-faults"),
        "--performance-mode",
        "--perf-root",
        str(root),
        "--output",
        str(tmp_path / "out"),
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        hanging = False
        while time.monotonic() < deadline and not hanging:
            time.sleep(0.1)
            calls = log.read_text() if log.exists() else ""
            hanging = '"transfer_bw"' in calls  # the hanging step has started
        assert hanging, "basic never reached the hanging step"
        assert governors(root) == ["performance"] * CPUS
        time.sleep(0.3)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = output.decode(errors="replace")
    assert proc.returncode == 130, text
    assert governors(root) == ["powersave"] * CPUS
    assert biases(root) == ["6"] * CPUS
    restores = [c for c in frequency_calls(log) if c[-1] == "400,2400"]
    assert sorted(c[2] for c in restores) == ["0", "1", "2", "3"]
    steps = json.loads(next((tmp_path / "out").glob("*/steps.json")).read_text())
    assert {s["name"]: s["skipped_reason"] for s in steps}["gemm-int8-c0"] == (
        "not run: interrupted"
    )


@pytest.mark.parametrize(
    ("host", "exit_code"),
    [("b60x2", 0), ("b60x4-faults", 1)],  # a clean run; one with a hung and a crashed tool
)
def test_basic_restores_after_success_and_failure(
    copied_recording, tmp_path: Path, host: str, exit_code: int
) -> None:
    """`basic --performance-mode` through the CLI: set before the first benchmark, restored
    after the last one whatever the run's outcome, and recorded in meta.json."""
    root = copied_recording(host) / "root"
    log = tmp_path / "calls.jsonl"
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "basic",
            "--replay",
            str(RECORDINGS / host),
            "--performance-mode",
            "--perf-root",
            str(root),
            "--output",
            str(out),
            "--skip-ccl",
            "--timeout-scale",
            "0.004",
        ],
        env={CALL_LOG_ENV: str(log)},
        catch_exceptions=False,
    )
    assert result.exit_code == exit_code, result.output
    assert governors(root) == ["powersave"] * CPUS and biases(root) == ["6"] * CPUS
    gpus = 2 if host == "b60x2" else 4
    calls = frequency_calls(log)
    locked = [c for c in calls if c[-1] == "2400,2400"]
    restored = [c for c in calls if c[-1] == "400,2400"]
    assert (
        sorted(c[2] for c in locked)
        == sorted(c[2] for c in restored)
        == [str(n) for n in range(gpus)]
    )
    assert calls.index(locked[-1]) < calls.index(restored[0])  # all locked, then all restored
    # The benchmarks ran in between: the first tool call after locking, the last before restoring.
    tools = [json.loads(line) for line in log.read_text().splitlines()]
    order = [c["tool"] if "--frequencyrange" not in c["args"] else c["args"][-1] for c in tools]
    assert order.index("2400,2400") < order.index("ze_peak") < order.index("400,2400")
    meta = json.loads(next(out.glob("*/meta.json")).read_text())
    assert meta["performance_mode"] and meta["performance_problems"] == []
    assert any("performance" in change for change in meta["performance_changes"])
    assert "performance mode:" in result.output
