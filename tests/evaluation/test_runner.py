"""The tool runner: timeouts kill whole process groups, crashes and garbage are recorded,
one bad step never stops the rest, Ctrl-C marks the rest not run."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from multiarc.evaluation.replay import Replay, load_recording
from multiarc.evaluation.run_writer import RunFolder
from multiarc.evaluation.runner import capture_setvars, execute_steps, run_command
from multiarc.evaluation.steps import StepSpec, plan_steps

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_timeout_kills_the_tool_and_everything_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pidfile}; echo started; wait"
    started = time.monotonic()
    run = run_command(
        ["bash", "-c", script], env=dict(os.environ), timeout_s=1.0, log_path=tmp_path / "log"
    )
    assert time.monotonic() - started < 8
    assert run.timed_out and run.exit_code is None
    assert "timed out after 1 s" in run.error
    assert run.output == "started\n" == (tmp_path / "log").read_text()
    assert not alive(int(pidfile.read_text()))


def test_missing_tool_is_recorded_not_raised(tmp_path: Path) -> None:
    run = run_command(["no-such-tool-here"], env={"PATH": str(tmp_path)}, timeout_s=5)
    assert run.exit_code is None and not run.ok
    assert "no-such-tool-here: command not found" in run.error


def test_exit_code_and_merged_output(tmp_path: Path) -> None:
    run = run_command(
        ["bash", "-c", "echo out; echo err >&2; exit 3"], env=dict(os.environ), timeout_s=5
    )
    assert run.exit_code == 3 and not run.ok
    assert run.output == "out\nerr\n"


def test_setvars_environment_is_captured_once() -> None:
    setvars = RECORDINGS / "b60x4/root/opt/intel/oneapi/setvars.sh"
    env = {k: v for k, v in os.environ.items() if k != "SETVARS_COMPLETED"}
    captured, run = capture_setvars(setvars, env)
    assert run.ok
    assert ":: oneAPI environment initialized ::" in run.output
    assert captured is not None
    assert captured["SETVARS_COMPLETED"] == "1"
    assert captured["ONEAPI_ROOT"] == str(setvars.parent)
    assert captured["PATH"] == env["PATH"]
    assert "SHLVL" not in captured


def test_failing_setvars_gives_no_environment(tmp_path: Path) -> None:
    broken = tmp_path / "setvars.sh"
    broken.write_text("echo 'cannot initialize'; return 2\n")
    captured, run = capture_setvars(broken, dict(os.environ))
    assert captured is None
    assert "cannot initialize" in run.output and "failed" in run.error


def faults_plan(run_dir: Path) -> list[StepSpec]:
    return plan_steps(gpu_count=4, run_dir=run_dir, timeout_scale=0.004)  # ze_peak: 1.2 s


def test_faults_recording_every_step_runs_and_each_fault_is_recorded(tmp_path: Path) -> None:
    rec = load_recording(RECORDINGS / "b60x4-faults")
    run = RunFolder.create(tmp_path)
    with Replay(rec) as replay:
        outcomes, interrupted = execute_steps(
            faults_plan(run.path), env=replay.environ(), run=run, root=rec.root
        )
    assert not interrupted
    results = {o.result.name: o for o in outcomes}
    assert len(results) == 12

    hang = results["ze_peak-transfer_bw"].result
    assert hang.timed_out and hang.exit_code is None and not hang.ok
    assert "timed out" in hang.error

    crash = results["gemm-int8-c0"]
    assert crash.result.exit_code == -signal.SIGSEGV and "SIGSEGV" in crash.result.error
    assert crash.metrics == []
    log = (run.path / crash.result.log_path).read_text()
    assert log.rstrip().endswith("-> Warmup...")

    garbage = results["xpu-smi-dump"]
    assert garbage.result.exit_code == 0
    assert garbage.result.parse_problems and garbage.problems

    # after the hang and the crash, the rest ran normally and gave figures
    for name in ("ze_peak-global_bw", "1ccl-allreduce", "1ccl-allgather", "1ccl-alltoall"):
        assert results[name].result.ok, name
        assert results[name].metrics, name
    reduce_128 = [m for m in results["1ccl-allreduce"].metrics if m.size == "128MB"]
    assert [m.value for m in reduce_128] == pytest.approx([12.6884], abs=1e-3)
    assert (run.path / "allreduce_outplace_128M.csv").is_file()


def test_detail_log_holds_every_output_in_order(tmp_path: Path) -> None:
    rec = load_recording(RECORDINGS / "b60x2")
    run = RunFolder.create(tmp_path)
    with Replay(rec) as replay:
        specs = plan_steps(gpu_count=2, run_dir=run.path, skip_ccl=True)
        outcomes, _ = execute_steps(specs, env=replay.environ(), run=run, root=rec.root)
    joined = "".join((run.path / o.result.log_path).read_text() for o in outcomes)
    assert run.detail_log.read_text() == joined
    assert [o.result.log_path for o in outcomes] == [
        f"steps/{i:02d}-{s.name}.log" for i, s in enumerate(specs, start=1)
    ]


def test_ctrl_c_kills_the_running_tool_and_marks_the_rest_not_run(tmp_path: Path) -> None:
    rec = load_recording(RECORDINGS / "b60x4-faults")
    run = RunFolder.create(tmp_path)
    specs = plan_steps(gpu_count=4, run_dir=run.path)  # real timeouts: the hang would last
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    with Replay(rec) as replay:
        timer.start()
        try:
            started = time.monotonic()
            outcomes, interrupted = execute_steps(
                specs, env=replay.environ(), run=run, root=rec.root
            )
        finally:
            timer.cancel()
    assert interrupted
    assert time.monotonic() - started < 20
    status = {o.result.name: o.result for o in outcomes}
    assert len(status) == len(specs)
    assert status["ze_peer-0-1"].ok
    assert "interrupted" in status["ze_peak-transfer_bw"].error
    for name in ("ze_peak-global_bw", "gemm-int8-c0", "1ccl-alltoall"):
        assert status[name].skipped_reason == "not run: interrupted"
    # what ran before the interrupt is kept
    assert "Bandwidth Read : Device( 0 )<->Device( 1 )" in run.detail_log.read_text()


def test_a_tool_that_never_started_has_no_parse_noise(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path)
    spec = StepSpec("gemm-int8-c0", ("matrix_mul_mkl", "int8"), 5, kind="gemm")
    outcomes, _ = execute_steps([spec], env={"PATH": str(tmp_path)}, run=run)
    result = outcomes[0].result
    assert result.exit_code is None and "command not found" in result.error
    assert result.parse_problems == [] and outcomes[0].metrics == []
