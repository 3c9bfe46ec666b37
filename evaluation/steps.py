"""The steps of ``multiarc-eval basic``: Intel's platform_basic_evaluation.sh, in its order.

Command lines are the original's (``ze_peer -s 0 -d 1``, ``ze_peak -t transfer_bw``,
``matrix_mul_mkl int8 -m 40960 -n 40960 -k 40960 -c 0``, ``mpirun -np 2
/usr/bin/1ccl_benchmark ... -o OUT.csv``); ``--devices`` and ``--pairs`` repeat the per-GPU
and per-pair steps. Planning is pure: it only builds :class:`StepSpec` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from multiarc.evaluation import metric_names as names

from multiarc import paths
from multiarc.errors import InputError

# Environment the original exports before the benchmarks (without it ze_peak's D2D
# figures are implausibly high: compressed buffers are read, not memory).
BENCHMARK_ENV = {"NEOReadDebugKeys": "1", "RenderCompressedBuffersEnabled": "0"}

XPU_SMI_DUMP_METRICS = "0,1,2,3,4,5,18,19,20"
GEMM_ARGS = ("int8", "-m", "40960", "-n", "40960", "-k", "40960")
CCL_ARGS = ("-a", "gpu", "-m", "usm", "-u", "device", "-e", "in_order")
CCL_SIZES = ("-i", "50", "-w", "20", "-f", "512", "-t", "67108864")
CCL_TAIL = ("-j", "off", "-p", "0", "-d", "float16", "-q", "0")

# Default timeouts in seconds, per tool run (scaled by --timeout-scale). A healthy B60 host
# needs a fraction of each; a hung tool is killed when its time is up.
TIMEOUTS_S: dict[str, float] = {
    "sycl-ls": 60,
    "xpu-smi": 60,
    "ze_peer": 600,  # the default run sweeps bandwidth and latency, both directions
    "ze_peer_bw": 300,
    "ze_peak": 300,
    "gemm": 1200,  # 40960^3 int8: data set-up and verification dominate
    "ccl": 600,
}
MIN_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class StepSpec:
    """One tool run: what to call, how long it may take, how to read its output."""

    name: str  # "ze_peer-bidir-write-0-1": unique within a plan
    argv: tuple[str, ...]  # argv[0] is the tool's name, resolved on PATH when run
    timeout_s: float
    kind: str = ""  # extract.STEP_KINDS kind, or "sycl-ls"/"xpu-smi-discovery"/"xpu-smi-dump"
    devices: str = ""  # "0", "0->1": which GPU(s) the figures belong to
    needs_spv: bool = False  # ze_peak: run where the .spv kernels are
    ccl_op: str = ""  # oneCCL collective
    csv_name: str = ""  # oneCCL -o file, in the run folder
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def tool(self) -> str:
        return self.argv[0]


def parse_devices(value: str | None, gpu_count: int) -> list[int] | None:
    """``--devices``: None (the original: device 0 only, no -d), "all", or "0,2"."""
    if value is None or value == "":
        return None
    if value.strip().lower() == "all":
        return list(range(max(gpu_count, 1)))
    found: list[int] = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit():
            raise InputError(
                f"--devices {value!r}: expected 'all' or GPU numbers like 0 or 0,1",
                "GPU numbers are Level Zero indices, as sycl-ls lists them",
            )
        if int(part) not in found:
            found.append(int(part))
    return found


_PAIR = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_pairs(value: str | None, gpu_count: int) -> list[tuple[int, int]]:
    """``--pairs``: "0-1" (the original, default), "0-1,2-3", or "all" (every ordered pair)."""
    if value is None or value == "":
        value = "0-1"
    if value.strip().lower() == "all":
        return [(s, d) for s in range(gpu_count) for d in range(gpu_count) if s != d]
    pairs: list[tuple[int, int]] = []
    for part in value.split(","):
        match = _PAIR.match(part)
        if not match or match[1] == match[2]:
            raise InputError(
                f"--pairs {value!r}: expected 'all' or pairs like 0-1 or 0-1,2-3",
                "a pair is SOURCE-DESTINATION, two different GPU numbers",
            )
        pair = (int(match[1]), int(match[2]))
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def _timeout(kind: str, scale: float) -> float:
    return max(MIN_TIMEOUT_S, TIMEOUTS_S[kind] * scale)


def ccl_csv_name(op: str) -> str:
    """The original's CSV name for one collective."""
    return f"{op}_outplace_128M.csv"


def plan_steps(
    *,
    gpu_count: int,
    run_dir: Path,
    devices: list[int] | None = None,
    pairs: list[tuple[int, int]] | None = None,
    timeout_scale: float = 1.0,
    skip_ccl: bool = False,
    ccl_benchmark: str = str(paths.CCL_BENCHMARK),
) -> list[StepSpec]:
    """Every tool run of ``basic``, in the original's order.

    ``gpu_count`` is the number of GPUs the software stack sees (P2P needs two or more).
    ``devices`` None keeps the original's single runs (ze_peak's default device, gemm on
    ``-c 0``); a list repeats ze_peak and gemm per GPU. ``pairs`` defaults to 0->1.
    """
    scale = timeout_scale
    steps: list[StepSpec] = [
        StepSpec("sycl-ls", ("sycl-ls",), _timeout("sycl-ls", scale), kind="sycl-ls"),
        StepSpec(
            "xpu-smi-discovery",
            ("xpu-smi", "discovery"),
            _timeout("xpu-smi", scale),
            kind="xpu-smi-discovery",
        ),
        StepSpec(
            "xpu-smi-dump",
            ("xpu-smi", "dump", "-m", XPU_SMI_DUMP_METRICS, "-n", "1"),
            _timeout("xpu-smi", scale),
            kind="xpu-smi-dump",
        ),
    ]
    if gpu_count >= 2:
        for s, d in pairs if pairs is not None else [(0, 1)]:
            label = f"{s}-{d}"
            src, dst = str(s), str(d)
            steps += [
                StepSpec(
                    f"ze_peer-{label}",
                    ("ze_peer", "-s", src, "-d", dst),
                    _timeout("ze_peer", scale),
                    kind="ze_peer",
                    devices=f"{s}->{d}",
                ),
                StepSpec(
                    f"ze_peer-bidir-write-{label}",
                    ("ze_peer", "-o", "write", "-t", "transfer_bw", "-s", src, "-d", dst, "-b"),
                    _timeout("ze_peer_bw", scale),
                    kind="ze_peer",
                    devices=f"{s}<->{d}",
                ),
                StepSpec(
                    f"ze_peer-bidir-read-{label}",
                    ("ze_peer", "-o", "read", "-t", "transfer_bw", "-s", src, "-d", dst, "-b"),
                    _timeout("ze_peer_bw", scale),
                    kind="ze_peer",
                    devices=f"{s}<->{d}",
                ),
            ]
    for test, kind in (("transfer_bw", "ze_peak_transfer"), ("global_bw", "ze_peak_global")):
        if devices is None:
            steps.append(
                StepSpec(
                    f"ze_peak-{test}",
                    ("ze_peak", "-t", test),
                    _timeout("ze_peak", scale),
                    kind=kind,
                    needs_spv=kind == "ze_peak_global",
                )
            )
        else:
            steps += [
                StepSpec(
                    f"ze_peak-{test}-d{n}",
                    ("ze_peak", "-d", str(n), "-t", test),
                    _timeout("ze_peak", scale),
                    kind=kind,
                    devices=str(n),
                    needs_spv=kind == "ze_peak_global",
                )
                for n in devices
            ]
    for n in devices if devices is not None else [0]:
        steps.append(
            StepSpec(
                f"gemm-int8-c{n}",
                ("matrix_mul_mkl", *GEMM_ARGS, "-c", str(n)),
                _timeout("gemm", scale),
                kind="gemm",
                devices=str(n),
            )
        )
    if not skip_ccl:
        for op in names.CCL_OPS:
            csv_path = run_dir / ccl_csv_name(op)
            steps.append(
                StepSpec(
                    f"1ccl-{op}",
                    (
                        "mpirun",
                        "-np",
                        "2",
                        ccl_benchmark,
                        *CCL_ARGS,
                        "-l",
                        op,
                        *CCL_SIZES,
                        *CCL_TAIL,
                        "-o",
                        str(csv_path),
                    ),
                    _timeout("ccl", scale),
                    kind="ccl",
                    ccl_op=op,
                    csv_name=ccl_csv_name(op),
                )
            )
    return steps


def log_name(index: int, total: int, name: str) -> str:
    """``steps/NN-name.log`` (wider numbers when a plan has 100 steps or more)."""
    width = max(2, len(str(total)))
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    return f"steps/{index:0{width}d}-{safe}.log"
