"""benchmarks/collect_speed.py measures honestly: its fake 8-GPU host has the promised
outputs, its plain method makes a real archive of the same commands, and multiarc's archive
of that host is no larger (timing goals are measured by running the benchmark itself)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from multiarc.collect import probes

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "collect_speed.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("collect_speed", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["collect_speed"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_env(bench: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    bin_dir = bench.make_gpu_host(tmp_path_factory.mktemp("gpuhost"), latency=0)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def _run(argv: list[str], env: dict[str, str]) -> str:
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout


def test_fake_gpu_host_outputs(gpu_env: dict[str, str]) -> None:
    vvv = _run(["lspci", "-vvv"], gpu_env)
    assert len(re.findall(r"^\S+ VGA compatible controller: Intel", vvv, re.M)) == 8
    assert "PCI bridge" in vvv  # behind PCIe switches
    dmesg = _run(["dmesg"], gpu_env)
    assert 10 * 2**20 <= len(dmesg) < 11 * 2**20
    assert probes.firmware_versions_from_dmesg(dmesg) == {
        "guc": "70.44.1",
        "huc": "8.2.10",
        "dmc": "2.6",
    }
    assert "Serial Number" in _run(["dmidecode"], gpu_env)
    assert "Device Name" in _run(["xpu-smi", "discovery"], gpu_env)


def test_plain_method_runs_the_same_commands(bench: ModuleType, gpu_env: dict[str, str]) -> None:
    steps = dict(bench.same_commands_as_multiarc(gpu_env))
    for command in ("sycl-ls", "xpu-smi diag -l 1", "xpu-smi discovery", "dmidecode", "dmesg"):
        assert command in steps.values(), command
    assert any(c.startswith("find ") for c in steps.values())  # copied folders too
    run = bench.run_plain([("dmidecode.txt", "dmidecode"), ("x.txt", "false")], gpu_env)
    assert run.archive_bytes > 0


@pytest.mark.slow
def test_multiarc_archive_no_larger_than_plain(bench: ModuleType, gpu_env: dict[str, str]) -> None:
    """The size goal on the simulated host (xz of a 10 MB dmesg: a few seconds each): the
    archive is no larger than its own tar stream through the plain method's ``xz -9``, and
    holds everything the plain method's archive holds, plus its head and generated members."""
    plain = bench.run_plain(bench.same_commands_as_multiarc(gpu_env), gpu_env)
    ours = bench.run_multiarc(gpu_env, same_content=True)
    assert 0 < ours.archive_bytes <= ours.plain_xz_bytes, (ours, plain)
    assert ours.tar_bytes > plain.tar_bytes > 10 * 2**20, (ours, plain)


def test_plain_method_copies_the_same_files_as_multiarc(bench: ModuleType) -> None:
    """A folder copied by pattern is copied the same way by the plain method: dpkg.log* of
    /var/log, not every log under /var/log (which made the plain archive larger)."""
    steps = dict(bench.same_commands_as_multiarc(dict(os.environ)))
    same = "-maxdepth 1 -type f -name"
    assert steps["apt_dpkg-log"] == f"find /var/log {same} 'dpkg.log*' -exec cat {{}} +"
    assert steps["apt_log"] == f"find /var/log/apt {same} '*.log*' -exec cat {{}} +"
