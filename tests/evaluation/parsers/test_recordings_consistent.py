"""The recordings describe consistent hosts, and every call the evaluation makes is recorded.

A small matcher here follows tests/recordings/README.md (first matching entry wins; `args`
exact, else `args_regex` searched in the arguments joined by spaces; `{{group}}` filled in)
so these tests check the recordings themselves, independently of the replay shims.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from multiarc.evaluation.extract import metrics_from_ccl_csv, metrics_from_step
from multiarc.evaluation.parsers.dmesg import parse_dmesg
from multiarc.evaluation.parsers.gemm import parse_gemm
from multiarc.evaluation.parsers.lspci import parse_lspci_nn, parse_lspci_vvv, supported_gpus
from multiarc.evaluation.parsers.sycl_ls import count_level_zero_gpus, parse_sycl_ls
from multiarc.evaluation.parsers.xpu_smi import (
    parse_config,
    parse_config_change,
    parse_discovery,
    parse_discovery_json,
    parse_dump,
)
from multiarc.evaluation.parsers.ze_peak import parse_global_bw, parse_transfer_bw
from multiarc.evaluation.parsers.ze_peer import parse_ze_peer
from parser_recordings import RECORDINGS

from multiarc import devices

HOSTS = sorted(p.name for p in RECORDINGS.iterdir() if (p / "host.json").is_file()
               and p.name.startswith("b60"))
HEALTHY = ("b60x4", "b60x2")
CCL_ARGS = ("-np 2 /usr/bin/1ccl_benchmark -a gpu -m usm -u device -e in_order -l {op} -i 50 "
            "-w 20 -f 512 -t 67108864 -j off -p 0 -d float16 -q 0 -o {out}")
GEMM_ARGS = "int8 -m 40960 -n 40960 -k 40960 -c {c}"


@dataclass
class Call:
    stdout: str
    stderr: str
    exit: int
    fault: str | None
    writes: dict[str, str]


def _fill(text: str, groups: dict[str, str | None]) -> str:
    for name, value in groups.items():
        text = text.replace("{{" + name + "}}", value or "")
    return text


def call(host: str, tool: str, args: str) -> Call:
    base = RECORDINGS / host
    argv = args.split()
    for entry in json.loads((base / "host.json").read_text())["commands"]:
        if entry["tool"] != tool:
            continue
        groups: dict[str, str | None] = {}
        if "args" in entry:
            if entry["args"] != argv:
                continue
        else:
            match = re.search(entry["args_regex"], " ".join(argv))
            if match is None:
                continue
            groups = match.groupdict()
        out, err = (_fill((base / entry[key]).read_text(), groups) if key in entry else ""
                    for key in ("stdout", "stderr"))
        writes = {groups[group] or "": (base / path).read_text()
                  for group, path in entry.get("writes", {}).items()}
        return Call(out, err, entry.get("exit", 0), entry.get("fault"), writes)
    raise AssertionError(f"{host}: no recording for {tool} {args}")


def host_json(host: str) -> dict:
    return json.loads((RECORDINGS / host / "host.json").read_text())


@pytest.mark.parametrize("host", HOSTS)
def test_host_json_is_well_formed(host: str) -> None:
    doc = host_json(host)
    base = (RECORDINGS / host).resolve()
    assert "RECORDING" in doc["description"] and doc["recording"] is True
    for entry in doc["commands"]:
        assert set(entry) <= {"tool", "args", "args_regex", "stdout", "stderr", "exit", "delay_s",
                              "writes", "fault", "sequence"}, entry
        for step in entry.get("sequence", []):  # a fluttering answer: partial entries
            assert set(step) <= {"stdout", "stderr", "exit", "delay_s", "fault"}, step
            assert (base / step.get("stdout", entry.get("stdout", ""))).is_file()
        assert ("args" in entry) != ("args_regex" in entry), entry
        groups = set(re.compile(entry["args_regex"]).groupindex) if "args_regex" in entry else set()
        assert entry.get("fault") in (None, "hang", "crash", "garbage")
        assert "stdout" in entry or entry.get("fault") in ("hang", "garbage"), entry
        for key in ("stdout", "stderr"):
            if key in entry:
                path = (base / entry[key]).resolve()
                assert path.is_file() and base in path.parents, entry[key]
                used = set(re.findall(r"\{\{(\w+)\}\}", path.read_text()))
                assert used <= groups, f"{entry[key]} uses {used - groups}"
        for group, path in entry.get("writes", {}).items():
            assert group in groups and (base / path).is_file()


@pytest.mark.parametrize("host", HOSTS)
def test_gpu_counts_agree_with_the_tools(host: str) -> None:
    doc = host_json(host)
    lspci = supported_gpus(parse_lspci_nn(call(host, "lspci", "-nn -D").stdout).records)
    assert len(lspci) == doc["gpus_on_bus"]
    sycl = parse_sycl_ls(call(host, "sycl-ls", "").stdout)
    assert count_level_zero_gpus(sycl.records) == doc["gpus"]
    table = parse_discovery(call(host, "xpu-smi", "discovery").stdout).records
    js = parse_discovery_json(call(host, "xpu-smi", "discovery -j").stdout).records
    assert [d.bdf for d in table] == [d.bdf for d in js] == doc["gpu_bdfs"]
    plain = call(host, "lspci", "").stdout  # what the original script counts
    counted = [line for line in plain.splitlines() if "e211" in line or "e210" in line]
    assert len(counted) == len(lspci)


@pytest.mark.parametrize("host", HOSTS)
def test_sysfs_slice_matches_lspci(host: str) -> None:
    root = RECORDINGS / host / "root"
    detail = {d.bdf: d for d in parse_lspci_vvv(call(host, "lspci", "-D -nn -vvv").stdout).records}
    pci = root / "sys/bus/pci/devices"
    gpus = [d for d in sorted(pci.iterdir()) if devices.is_supported_gpu(
        (d / "vendor").read_text().strip(), (d / "device").read_text().strip())]
    assert [g.name for g in gpus] == [b for b, d in detail.items() if d.is_supported_gpu()]
    bound = [g.name for g in gpus if (g / "driver").is_symlink()]
    assert bound == host_json(host)["gpu_bdfs"]
    for g in gpus:
        d = detail[g.name]
        assert (g / "class").read_text().strip() == "0x030000"
        speed = float((g / "current_link_speed").read_text().split()[0])
        assert speed == d.link_sta_speed_gts
        assert int((g / "current_link_width").read_text()) == d.link_sta_width
        assert float((g / "max_link_speed").read_text().split()[0]) == d.link_cap_speed_gts
        bar2 = (g / "resource").read_text().splitlines()[2].split()
        assert int(bar2[1], 16) - int(bar2[0], 16) + 1 == d.largest_bar_bytes
        if (g / "driver").is_symlink():
            assert os.path.basename(os.readlink(g / "driver")) == d.driver == "xe"
    cards = {}
    for card in (root / "sys/class/drm").glob("card*"):
        target = (card / "device").resolve()
        # as the kernel lays it out: the bus's entry links into /sys/devices/pci.../<BDF>
        assert target.is_dir() and (pci / target.name).resolve() == target
        assert target.relative_to((root / "sys/devices").resolve()).parts[0].startswith("pci")
        cards[card.name] = target.name
    for d in parse_discovery(call(host, "xpu-smi", "discovery").stdout).records:
        assert cards[Path(d.drm_device).name] == d.bdf
    assert "intel_iommu=off" in (root / "proc/cmdline").read_text().split()
    assert (root / "proc/sys/kernel/osrelease").read_text().strip() == host_json(host)["kernel"]
    assert 'VERSION_ID="25.04"' in (root / "etc/os-release").read_text()
    firmware = parse_dmesg(call(host, "dmesg", "").stdout).records[0]
    assert {f.bdf for f in firmware.firmware if f.kind == "GuC"} == set(bound)


@pytest.mark.parametrize("host", HEALTHY)
def test_the_original_scripts_calls_are_recorded_and_read_cleanly(host: str) -> None:
    assert parse_sycl_ls(call(host, "sycl-ls", "").stdout).ok
    assert parse_discovery(call(host, "xpu-smi", "discovery").stdout).ok
    assert parse_dump(call(host, "xpu-smi", "dump -m 0,1,2,3,4,5,18,19,20 -n 1").stdout).ok
    for args in ("-s 0 -d 1", "-o write -t transfer_bw -s 0 -d 1 -b",
                 "-o read -t transfer_bw -s 0 -d 1 -b"):
        result = call(host, "ze_peer", args)
        assert result.exit == 0 and parse_ze_peer(result.stdout).ok
    assert parse_transfer_bw(call(host, "ze_peak", "-t transfer_bw").stdout).ok
    assert parse_global_bw(call(host, "ze_peak", "-t global_bw").stdout).ok
    assert parse_gemm(call(host, "matrix_mul_mkl", GEMM_ARGS.format(c=0)).stdout).ok
    for op in ("allreduce", "allgather", "alltoall"):
        out = f"results/20250101_000000/{op}_outplace_128M.csv"
        result = call(host, "mpirun", CCL_ARGS.format(op=op, out=out))
        metrics, problems = metrics_from_step("ccl", result.stdout)
        assert problems == [] and metrics[-1].key == ("1ccl", op, "128MB")
        assert f"csv_filepath:    {out}" in result.stdout
        csv_metrics, csv_problems = metrics_from_ccl_csv(result.writes[out], op)
        assert csv_problems == [] and csv_metrics[-1].key == metrics[-1].key
        assert abs(csv_metrics[-1].value - metrics[-1].value) < 0.01


@pytest.mark.parametrize("host", HEALTHY)
def test_every_pair_and_every_device(host: str) -> None:
    gpus = host_json(host)["gpus"]
    uni = {}
    for s, d in itertools.permutations(range(gpus), 2):
        for args, kind in ((f"-s {s} -d {d}", "default"),
                           (f"-o write -t transfer_bw -s {s} -d {d} -b", "bidir"),
                           (f"-o read -t transfer_bw -s {s} -d {d}", "uni")):
            result = call(host, "ze_peer", args)
            metrics, problems = metrics_from_step("ze_peer", result.stdout, all_sizes=False)
            assert problems == [] and metrics, (args, problems)
            assert {m.devices.replace("<->", "-").replace("->", "-").replace("<-", "-")
                    for m in metrics} == {f"{s}-{d}"}
            if kind == "default":
                uni[(s, d)] = next(m.value for m in metrics if m.size == "256 MB")
    for (s, d), value in uni.items():
        same_board = s // 2 == d // 2
        assert (20 < value < 27) if same_board else (15 < value < 22)
    for n in range(gpus):
        for args in (f"-d {n} -t transfer_bw", f"-t global_bw -d {n}"):
            assert parse_transfer_bw(call(host, "ze_peak", args).stdout).ok or parse_global_bw(
                call(host, "ze_peak", args).stdout).ok
        (run,) = parse_gemm(call(host, "matrix_mul_mkl", GEMM_ARGS.format(c=n)).stdout).records
        assert run.device_index == n and 110 < run.tera_ops < 160
        config = parse_config(call(host, "xpu-smi", f"config -d {n}").stdout).records
        assert config[-1].device_id == n and config[-1].max_frequency_mhz == 2400.0
        change = call(host, "xpu-smi", f"config -d {n} -t 0 --frequencyrange 2400,2400")
        assert parse_config_change(change.stdout).records[0].succeeded
    mpi_options = "-genv I_MPI_DEBUG 0 "
    prefixed = call(host, "mpirun", mpi_options + CCL_ARGS.format(op="alltoall", out="o.csv"))
    assert "# Benchmarking: alltoall" in prefixed.stdout and "o.csv" in prefixed.writes
    beyond = call(host, "ze_peer", f"-s 0 -d {gpus}")
    assert beyond.exit != 0 and "not available" in beyond.stdout
    assert call(host, "xpu-smi", f"config -d {gpus}").exit != 0


def test_the_recorded_intel_log_is_what_the_tools_printed() -> None:
    host = "b60x4"
    out = "results/20251120_101523/{op}_outplace_128M.csv"
    parts = [
        call(host, "sycl-ls", "").stdout,
        call(host, "xpu-smi", "discovery").stdout,
        call(host, "xpu-smi", "dump -m 0,1,2,3,4,5,18,19,20 -n 1").stdout,
        call(host, "ze_peer", "-s 0 -d 1").stdout,
        call(host, "ze_peer", "-o write -t transfer_bw -s 0 -d 1 -b").stdout,
        call(host, "ze_peer", "-o read -t transfer_bw -s 0 -d 1 -b").stdout,
        call(host, "ze_peak", "-t transfer_bw").stdout,
        call(host, "ze_peak", "-t global_bw").stdout,
        call(host, "matrix_mul_mkl", GEMM_ARGS.format(c=0)).stdout,
        *(call(host, "mpirun", CCL_ARGS.format(op=op, out=out.format(op=op))).stdout
          for op in ("allreduce", "allgather", "alltoall")),
    ]
    log = (RECORDINGS / host / "benchmark_detail_log.txt").read_text()
    setvars_output, sep, rest = log.partition(parts[0])
    assert sep and ":: oneAPI environment initialized ::" in setvars_output
    assert parts[0] + rest == "".join(parts)


def test_broken_recordings_break_as_described() -> None:
    truncated = call("b60x4-truncated", "ze_peer", "-s 0 -d 1")
    assert truncated.exit == 0 and not parse_ze_peer(truncated.stdout).ok
    error = call("b60x4-tool-error", "ze_peer", "-o write -t transfer_bw -s 0 -d 1 -b")
    assert error.exit == 134 and "do not have P2P capabilities" in error.stderr
    no_spv = call("b60x4-tool-error", "ze_peak", "-t global_bw")
    messages = [p.message for p in parse_global_bw(no_spv.stdout + no_spv.stderr).problems]
    assert no_spv.exit == 134 and any("ze_global_bw.spv" in m for m in messages)
    na = parse_dump(call("b60x4-na-fields", "xpu-smi", "dump -m 0,1,2,3,4,5,18,19,20 -n 1").stdout)
    assert all(r.value("GPU Power (W)") is None for r in na.records)
    d2d = parse_global_bw(call("b60x4-implausible-d2d", "ze_peak", "-t global_bw").stdout)
    assert max(r.gbps for r in d2d.records) > devices.GPU_MODELS["e211"].memory_gbps * 2
    faults = {e.get("fault") for e in host_json("b60x4-faults")["commands"]}
    assert {"hang", "crash", "garbage"} <= faults
    assert call("b60x4-faults", "ze_peak", "-t transfer_bw").fault == "hang"
    crash = call("b60x4-faults", "matrix_mul_mkl", GEMM_ARGS.format(c=0))
    assert crash.fault == "crash" and not parse_gemm(crash.stdout).ok
    fallback = call("b60x4-two-visible", "ze_peak", "-d 3 -t transfer_bw")
    problems = parse_transfer_bw(fallback.stdout).problems
    assert any("Specified device 3 is not valid" in p.message for p in problems)
    vvv = parse_lspci_vvv(call("b60x4-degraded-link", "lspci", "-D -nn -vvv").stdout).records
    slow = next(d for d in vvv if d.bdf == "0000:1b:00.0")
    assert (slow.link_sta_speed_gts, slow.link_sta_width) == (16.0, 4)
    assert slow.link_sta_speed_note == slow.link_sta_width_note == "downgraded"

    def peak_p2p(args: str) -> float:
        output = call("b60x4-degraded-link", "ze_peer", args).stdout
        return max(m.value for m in metrics_from_step("ze_peer", output)[0])

    assert peak_p2p("-s 2 -d 1") < 8 < 20 < peak_p2p("-s 2 -d 3")
    two = call("b60x4-two-visible", "ze_peer", "-s 0 -d 2")
    assert two.exit == 134 and "Only 2 devices detected" in two.stdout


@pytest.mark.parametrize("host", HEALTHY)
def test_setvars_stand_in_behaves_like_setvars(host: str) -> None:
    import subprocess

    setvars = RECORDINGS / host / "root" / "opt/intel/oneapi/setvars.sh"
    script = (f'source "{setvars}" --force; echo "ROOT=$ONEAPI_ROOT"; '
              f'source "{setvars}"; echo "rc=$?"')
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                         check=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}).stdout
    assert ":: oneAPI environment initialized ::" in out
    assert f"ROOT={setvars.parent}" in out
    assert "already been run" in out and "rc=3" in out
