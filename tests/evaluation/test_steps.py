"""Step planning: the original's command lines, in its order; --devices/--pairs expansions."""

from __future__ import annotations

from pathlib import Path

import pytest
from multiarc.evaluation.steps import (
    MIN_TIMEOUT_S,
    TIMEOUTS_S,
    log_name,
    parse_devices,
    parse_pairs,
    plan_steps,
)

from multiarc.errors import InputError
from tests.fixtures.original_steps import original_commands

RUN = Path("/results/20250101_000000")

# platform_basic_evaluation.sh, command by command (tools' names without their folders).
ORIGINAL = original_commands(str(RUN))


def commands(steps) -> list[str]:
    return [" ".join(s.argv) for s in steps]


def test_default_plan_is_the_original_command_for_command() -> None:
    steps = plan_steps(gpu_count=4, run_dir=RUN)
    assert commands(steps) == ORIGINAL
    assert len({s.name for s in steps}) == len(steps)


def test_one_gpu_has_no_p2p_steps() -> None:
    steps = plan_steps(gpu_count=1, run_dir=RUN)
    assert not [s for s in steps if s.tool == "ze_peer"]
    assert commands(steps) == [c for c in ORIGINAL if not c.startswith("ze_peer")]


def test_only_global_bw_needs_the_spv_kernels() -> None:
    steps = plan_steps(gpu_count=2, run_dir=RUN)
    assert [s.name for s in steps if s.needs_spv] == ["ze_peak-global_bw"]


def test_pairs_all_is_every_ordered_pair() -> None:
    pairs = parse_pairs("all", 4)
    assert len(pairs) == 12
    assert len(set(pairs)) == 12
    assert all(s != d for s, d in pairs)
    steps = plan_steps(gpu_count=4, run_dir=RUN, pairs=pairs, skip_ccl=True)
    peer = [s for s in steps if s.tool == "ze_peer"]
    assert len(peer) == 36
    assert "ze_peer -s 3 -d 2" in commands(peer)
    assert "ze_peer -o read -t transfer_bw -s 2 -d 3 -b" in commands(peer)
    assert len({s.name for s in steps}) == len(steps)


def test_devices_all_repeats_ze_peak_and_gemm_per_gpu() -> None:
    devices = parse_devices("all", 4)
    assert devices == [0, 1, 2, 3]
    steps = plan_steps(gpu_count=4, run_dir=RUN, devices=devices, skip_ccl=True)
    cmds = commands(steps)
    for n in range(4):
        assert f"ze_peak -d {n} -t transfer_bw" in cmds
        assert f"ze_peak -d {n} -t global_bw" in cmds
        assert f"matrix_mul_mkl int8 -m 40960 -n 40960 -k 40960 -c {n}" in cmds
    # transfer_bw runs for every GPU before global_bw, as in the original's order
    kinds = [s.kind for s in steps if s.tool == "ze_peak"]
    assert kinds == ["ze_peak_transfer"] * 4 + ["ze_peak_global"] * 4
    assert [s.devices for s in steps if s.kind == "gemm"] == ["0", "1", "2", "3"]


def test_device_and_pair_lists() -> None:
    assert parse_devices(None, 4) is None
    assert parse_devices("2,0,2", 4) == [2, 0]
    assert parse_pairs(None, 4) == [(0, 1)]
    assert parse_pairs("0-1, 2-3", 4) == [(0, 1), (2, 3)]


@pytest.mark.parametrize("value", ["x", "0;1", "-1", "1.5"])
def test_bad_devices_are_usage_errors(value: str) -> None:
    with pytest.raises(InputError, match="--devices"):
        parse_devices(value, 4)


@pytest.mark.parametrize("value", ["0", "1-1", "0-1-2", "a-b", "0-1,"])
def test_bad_pairs_are_usage_errors(value: str) -> None:
    with pytest.raises(InputError, match="--pairs"):
        parse_pairs(value, 4)


def test_timeouts_scale_with_a_floor() -> None:
    normal = {s.name: s.timeout_s for s in plan_steps(gpu_count=2, run_dir=RUN)}
    assert normal["ze_peak-transfer_bw"] == TIMEOUTS_S["ze_peak"]
    assert normal["gemm-int8-c0"] == TIMEOUTS_S["gemm"]
    tiny = plan_steps(gpu_count=2, run_dir=RUN, timeout_scale=0.0001)
    assert all(s.timeout_s == MIN_TIMEOUT_S for s in tiny)
    slow = {s.name: s.timeout_s for s in plan_steps(gpu_count=2, run_dir=RUN, timeout_scale=2)}
    assert slow["ze_peer-0-1"] == 2 * TIMEOUTS_S["ze_peer"]


def test_skip_ccl_and_ccl_csv_names() -> None:
    assert not [s for s in plan_steps(gpu_count=2, run_dir=RUN, skip_ccl=True) if s.kind == "ccl"]
    ccl = [s for s in plan_steps(gpu_count=2, run_dir=RUN) if s.kind == "ccl"]
    assert [(s.ccl_op, s.csv_name) for s in ccl] == [
        ("allreduce", "allreduce_outplace_128M.csv"),
        ("allgather", "allgather_outplace_128M.csv"),
        ("alltoall", "alltoall_outplace_128M.csv"),
    ]


def test_log_names_sort_in_run_order() -> None:
    assert log_name(3, 12, "ze_peer-0-1") == "steps/03-ze_peer-0-1.log"
    assert log_name(7, 150, "a b/c") == "steps/007-a_b_c.log"
    names = [log_name(i, 120, "x") for i in range(1, 121)]
    assert names == sorted(names)
