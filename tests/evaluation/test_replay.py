"""The replay shims implement host.json's semantics (tests/recordings/README.md)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from multiarc.evaluation.replay import STANDARD_TOOLS, Recording, Replay, load_recording
from multiarc.evaluation.replay_shim import CALL_LOG_ENV, NO_RECORDING_EXIT

from multiarc.errors import InputError

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def recording(name: str) -> Recording:
    return load_recording(RECORDINGS / name)


def call(replay: Replay, *argv: str, cwd: Path | None = None, **env: str):
    return subprocess.run(
        list(argv),
        env={**replay.environ(), **env},
        capture_output=True,
        cwd=cwd,
        timeout=30,
        check=False,
    )


def test_recording_info_is_read() -> None:
    rec = recording("b60x4")
    assert rec.gpus == 4
    assert rec.root == RECORDINGS / "b60x4" / "root"
    assert {"sycl-ls", "xpu-smi", "lspci", "ze_peer", "mpirun"} <= set(rec.tools)
    assert "RECORDING b60x4" in rec.banner


def test_a_folder_without_host_json_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no host\.json"):
        load_recording(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"commands": {}}',
        '{"commands": [{"args": []}]}',
        '{"commands": [{"tool": "../x"}]}',
    ],
)
def test_a_malformed_host_json_is_an_input_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "host.json").write_text(content)
    with pytest.raises(InputError):
        load_recording(tmp_path)


def test_shims_come_first_on_path_and_vanish_afterwards() -> None:
    with Replay(recording("b60x4")) as replay:
        shim_dir = replay.shim_dir
        assert shim_dir is not None
        path = replay.environ()["PATH"].split(os.pathsep)
        assert path[0] == str(shim_dir)
        for tool in STANDARD_TOOLS:
            assert shutil.which(tool, path=str(shim_dir)) == str(shim_dir / tool)
    assert not shim_dir.exists()


def test_exact_args_print_the_recorded_output(replay_b60x4: Replay) -> None:
    proc = call(replay_b60x4, "sycl-ls")
    expected = (RECORDINGS / "b60x4/outputs/sycl-ls.txt").read_bytes()
    assert proc.returncode == 0
    assert proc.stdout == expected


def test_regex_groups_fill_placeholders(replay_b60x4: Replay) -> None:
    proc = call(replay_b60x4, "ze_peer", "-s", "2", "-d", "0")
    text = proc.stdout.decode()
    assert proc.returncode == 0
    assert "Bandwidth Write : Device( 2 )->Device( 0 )" in text
    assert "{{" not in text


def test_entry_exit_code_and_stderr(replay_b60x4: Replay) -> None:
    proc = call(replay_b60x4, "ze_peer", "-s", "0", "-d", "7")
    assert proc.returncode == 134
    assert b"Only 4 devices detected" in proc.stdout
    assert b"terminate called" in proc.stderr
    gemm = call(
        replay_b60x4,
        "matrix_mul_mkl",
        "int8",
        "-m",
        "40960",
        "-n",
        "40960",
        "-k",
        "40960",
        "-c",
        "9",
    )
    assert gemm.returncode == 255
    assert gemm.stdout.strip() == b"Can't find device 9 , please check your system"


def test_unknown_call_exits_127(replay_b60x4: Replay) -> None:
    proc = call(replay_b60x4, "xpu-smi", "--bogus")
    assert proc.returncode == NO_RECORDING_EXIT
    assert proc.stderr.decode().strip() == "replay: no recording for: xpu-smi --bogus"


def test_writes_copies_the_recorded_csv_to_the_named_path(
    replay_b60x4: Replay, tmp_path: Path
) -> None:
    out = tmp_path / "allgather.csv"
    argv = [
        "mpirun",
        "-np",
        "2",
        "/usr/bin/1ccl_benchmark",
        "-a",
        "gpu",
        "-m",
        "usm",
        "-u",
        "device",
        "-e",
        "in_order",
        "-l",
        "allgather",
        "-i",
        "50",
        "-w",
        "20",
        "-f",
        "512",
        "-t",
        "67108864",
        "-j",
        "off",
        "-p",
        "0",
        "-d",
        "float16",
        "-q",
        "0",
        "-o",
        str(out),
    ]
    proc = call(replay_b60x4, *argv)
    assert proc.returncode == 0
    assert out.read_bytes() == (RECORDINGS / "b60x4/outputs/1ccl-allgather.csv").read_bytes()
    assert f"csv_filepath:    {out}" in proc.stdout.decode()


def test_crash_prints_partial_output_then_dies_by_sigsegv() -> None:
    with Replay(recording("b60x4-faults")) as replay:
        proc = call(
            replay, "matrix_mul_mkl", "int8", "-m", "40960", "-n", "40960", "-k", "40960", "-c", "0"
        )
    assert proc.returncode == -signal.SIGSEGV
    assert proc.stdout.rstrip().endswith(b"-> Warmup...")


def test_garbage_is_not_text() -> None:
    with Replay(recording("b60x4-faults")) as replay:
        proc = call(replay, "xpu-smi", "dump", "-m", "0,1,2,3,4,5,18,19,20", "-n", "1")
    assert proc.returncode == 0
    assert len(proc.stdout) >= 1024
    with pytest.raises(UnicodeDecodeError):
        proc.stdout.decode("utf-8")


def test_hang_keeps_running(tmp_path: Path) -> None:
    with Replay(recording("b60x4-faults")) as replay:
        proc = subprocess.Popen(
            ["ze_peak", "-t", "transfer_bw"],
            env=replay.environ(),
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_delay_and_call_log(tmp_path: Path) -> None:
    rec_dir = tmp_path / "rec"
    (rec_dir / "outputs").mkdir(parents=True)
    (rec_dir / "outputs" / "hello.txt").write_text("hello {{who}}\n")
    (rec_dir / "host.json").write_text(
        json.dumps(
            {
                "commands": [
                    {
                        "tool": "greet",
                        "args_regex": "^(?P<who>\\w+)$",
                        "stdout": "outputs/hello.txt",
                        "delay_s": 0.4,
                        "exit": 3,
                    },
                ]
            }
        )
    )
    log = tmp_path / "calls.jsonl"
    with Replay(load_recording(rec_dir)) as replay:
        started = time.monotonic()
        proc = call(replay, "greet", "world", **{CALL_LOG_ENV: str(log)})
        elapsed = time.monotonic() - started
    assert proc.returncode == 3
    assert proc.stdout == b"hello world\n"
    assert elapsed >= 0.4
    assert json.loads(log.read_text())["args"] == ["world"]


def test_recorded_paths_cannot_leave_the_recording(tmp_path: Path) -> None:
    rec_dir = tmp_path / "rec"
    rec_dir.mkdir()
    (tmp_path / "secret.txt").write_text("outside")
    (rec_dir / "host.json").write_text(
        json.dumps({"commands": [{"tool": "leak", "args": [], "stdout": "../secret.txt"}]})
    )
    with Replay(load_recording(rec_dir)) as replay:
        proc = call(replay, "leak")
    assert proc.returncode == NO_RECORDING_EXIT
    assert b"outside" not in proc.stdout
    assert b"leaves the recording" in proc.stderr
