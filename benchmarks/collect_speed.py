"""Wall time and archive size: multiarc-collect-sysinfo vs the plain method of the original.

The plain method is what Intel's collect_sysinfo.sh does: run the commands one after the
other, each into its own file, then ``tar -cf`` and ``xz -9``. It is written here as a bash
script (with ``|| true`` after each command: the original's ``set -e`` would stop at the
first failing command, e.g. dmidecode without /dev/mem, and leave no archive to measure).

Two settings:

(a) this bare machine, the original's eight steps (governor, lscpu, lspci -tv, lspci -vvv,
    dmesg, the dri tree, free -h, dmidecode, dpkg -l | grep libze) against a full
    multiarc-collect-sysinfo run. Goal: no more than 0.5 s slower.
(b) a simulated large GPU host: fake tools first on PATH with realistic output sizes and
    latencies (8 GPUs behind PCIe switches in lspci -vvv, a 10 MB dmesg, sycl-ls 2 s,
    xpu-smi discovery 1 s, xpu-smi diag -l 1 5 s, dmidecode 0.3 s). The plain method runs
    exactly the commands multiarc-collect-sysinfo runs (taken from its collectors), in
    sequence, and copies the same files and folders (install logs, state, last results).
    Goal: at least 3x faster, archive no larger. multiarc's archive holds more than the
    plain one (summary.txt, manifest.json with the sha256 of every member, ~6.5 KB of xz
    here; stderr files; the members it generates), so the size goal is judged on the same
    bytes: multiarc's archive against its own tar stream through ``xz -9`` (what its
    parallel compression, in separate streams and blocks, must not cost). The sizes as
    written are printed too.

Run: ``.venv/bin/python benchmarks/collect_speed.py [--repeat N] [--keep DIR]``.
Exit status 0 when both goals are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from multiarc.collect.collectors import all_collectors  # noqa: E402
from multiarc.collect.context import Context  # noqa: E402
from multiarc.collect.spec import Command, CopyFile, CopyTree  # noqa: E402

from tests.fixtures.fake_gpu_host import make_gpu_host  # noqa: E402

BARE_SLOWER_GOAL_S = 0.5
GPU_HOST_SPEEDUP_GOAL = 3.0

# The original's steps, as collect_sysinfo.sh writes them (file name, shell command).
ORIGINAL_STEPS: tuple[tuple[str, str], ...] = (
    ("scaling_governor.txt", "cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
    ("lscpu.txt", "lscpu"),
    ("lspci_tree.txt", "lspci -tv"),
    ("lspci_verbose.txt", "lspci -vvv"),
    ("dmesg.txt", "dmesg"),
    ("dri_tree.txt", "tree /sys/kernel/debug/dri/"),
    ("memory.txt", "free -h"),
    ("dmidecode.txt", "dmidecode"),
    ("libze_version.txt", "dpkg -l | grep libze"),
)


@dataclass
class Run:
    seconds: float
    archive_bytes: int
    cpu_seconds: float = 0.0  # user + system time of the method's processes
    tar_bytes: int = 0  # the archive's tar stream, uncompressed
    # multiarc's own tar stream put through the plain method's compressor (xz -9, one
    # stream): the size its archive is held to, the same bytes compressed both ways
    plain_xz_bytes: int = 0


def tar_bytes(archive: Path) -> int:
    """The uncompressed size of an .xz file, from its index (nothing is decompressed)."""
    out = subprocess.run(["xz", "--robot", "--list", str(archive)], capture_output=True,
                         text=True, check=True).stdout
    totals = next(line.split("\t") for line in out.splitlines() if line.startswith("totals"))
    return int(totals[4])


def plain_xz_bytes(archive: Path) -> int:
    """The archive's own tar stream through ``xz -9``, as the plain method compresses."""
    unpack = subprocess.Popen(["xz", "-dc", str(archive)], stdout=subprocess.PIPE)
    packed = subprocess.run(["xz", "-9", "-c"], stdin=unpack.stdout, capture_output=True,
                            check=True).stdout
    assert unpack.stdout is not None
    unpack.stdout.close()
    if unpack.wait() != 0:
        raise RuntimeError(f"xz -d failed on {archive}")
    return len(packed)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------- the two methods


def plain_script(steps: list[tuple[str, str]], workdir: Path) -> str:
    """The original's method as a bash script: each step into a file, then tar, then xz -9."""
    lines = [
        "#!/bin/bash",
        "set -uo pipefail",
        f"cd {shlex.quote(str(workdir))}",
        'OUTDIR="sysinfo_$(date +%Y%m%d_%H%M%S)"',
        'mkdir -p "$OUTDIR"',
    ]
    for name, command in steps:
        lines.append(f'{command} > "$OUTDIR/{name}" 2>/dev/null || true')
    lines += ['tar -cf "$OUTDIR.tar" "$OUTDIR"', 'xz -9 "$OUTDIR.tar"']
    return "\n".join(lines) + "\n"


def run_plain(steps: list[tuple[str, str]], env: dict[str, str]) -> Run:
    with tempfile.TemporaryDirectory(prefix="plain-") as tmp:
        work = Path(tmp)
        script = work / "collect.sh"
        script.write_text(plain_script(steps, work))
        cpu = _children_cpu()
        start = time.perf_counter()
        subprocess.run(
            ["bash", str(script)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - start
        (archive,) = work.glob("*.tar.xz")
        return Run(seconds, archive.stat().st_size, _children_cpu() - cpu, tar_bytes(archive))


def collect_command() -> list[str]:
    script = Path(sys.executable).with_name("multiarc-collect-sysinfo")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from multiarc.collect.cli import main; main()"]


def run_multiarc(env: dict[str, str], keep: Path | None = None, same_content: bool = False) -> Run:
    """One run; ``same_content``: also its tar stream through ``xz -9`` (not timed)."""
    with tempfile.TemporaryDirectory(prefix="multiarc-") as tmp:
        out = Path(tmp)
        cpu = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(
            [*collect_command(), "--output", str(out)],
            env=env,
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        seconds = time.perf_counter() - start
        cpu = _children_cpu() - cpu
        archive = Path(proc.stdout.strip().splitlines()[-1].split()[0])
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(archive, keep / archive.name)
        run = Run(seconds, archive.stat().st_size, cpu)
        if archive.name.endswith(".tar.xz"):
            run.tar_bytes = tar_bytes(archive)
            if same_content:
                run.plain_xz_bytes = plain_xz_bytes(archive)
        return run


def same_commands_as_multiarc(env: dict[str, str]) -> list[tuple[str, str]]:
    """Every command and copied file of multiarc-collect-sysinfo, as plain shell steps."""
    old_path = os.environ["PATH"]
    os.environ["PATH"] = env["PATH"]  # the GPU count (per-GPU commands) is read the same way
    try:
        ctx = Context(environ=env)
        collectors = all_collectors(ctx)
    finally:
        os.environ["PATH"] = old_path
    steps: list[tuple[str, str]] = []
    for collector in collectors:
        for item in collector.items:
            name = item.name.replace("/", "_")
            if isinstance(item, Command):
                steps.append((name, shlex.join(item.argv)))
            elif isinstance(item, CopyFile):
                steps.append((name, f"cat {shlex.quote(str(item.path))}"))
            elif isinstance(item, CopyTree):  # the same files (install logs, last results...)
                # the same files: dpkg.log* of /var/log, not all of /var/log
                depth = "" if item.recursive else " -maxdepth 1"
                steps.append((name, f"find {shlex.quote(str(item.path))}{depth} -type f"
                              f" -name {shlex.quote(item.pattern)} -exec cat {{}} +"))
    return steps


# ----------------------------------------------------------------------------- report


def _median(runs: list[Run]) -> Run:
    def mid(field: str) -> int:
        return int(statistics.median(getattr(r, field) for r in runs))

    seconds = statistics.median(r.seconds for r in runs)
    return Run(seconds, mid("archive_bytes"), statistics.median(r.cpu_seconds for r in runs),
               mid("tar_bytes"), mid("plain_xz_bytes"))


def _list(runs: list[Run]) -> str:
    return " ".join(f"{r.seconds:.2f}" for r in runs)


def measure(
    label: str,
    plain_steps: list[tuple[str, str]],
    env: dict[str, str],
    repeat: int,
    keep: Path | None,
    same_content: bool = False,
) -> tuple[Run, Run]:
    plain, ours = [], []
    for _ in range(repeat):  # alternate, so both see the same machine load
        plain.append(run_plain(plain_steps, env))
        ours.append(run_multiarc(env, keep, same_content))
    p, o = _median(plain), _median(ours)
    print(f"{label}")
    print(
        f"  plain (sequential, tar, xz -9): {p.seconds:7.3f} s wall  {p.cpu_seconds:6.2f} s CPU"
        f"  {p.archive_bytes:>10,} bytes  ({len(plain_steps)} steps)"
    )
    print(
        f"  multiarc-collect-sysinfo      : {o.seconds:7.3f} s wall  {o.cpu_seconds:6.2f} s CPU"
        f"  {o.archive_bytes:>10,} bytes"
    )
    print(f"  all runs, wall s: plain {_list(plain)}; multiarc {_list(ours)}")
    return p, o


def measured_env() -> dict[str, str]:
    """The environment of both methods: this one, but with Python's bytecode caches on.

    A pip-installed multiarc starts from compiled bytecode; with PYTHONDONTWRITEBYTECODE
    (set in some shells and CI images) every run would compile its sources again, ~0.1 s
    that no installed copy pays and the plain bash method does not have."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (median)")
    parser.add_argument("--keep", type=Path, help="copy multiarc's archives into this folder")
    parser.add_argument("--only", choices=("a", "b"), help="run one setting only")
    args = parser.parse_args()
    env = measured_env()
    run_multiarc(env)  # not timed: Python writes the tool's bytecode caches, as pip would
    load = os.getloadavg()[0]
    print(f"median of {args.repeat} run(s) each, {os.cpu_count()} CPUs, load {load:.2f}\n")

    ok_a = ok_b = True
    if args.only != "b":
        ok_a = bare_machine(env, args.repeat, args.keep)
    if args.only != "a":
        ok_b = gpu_host(env, args.repeat, args.keep)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (the 2-core CI machine is shared)")
    return 0 if ok_a and ok_b else 1


def _package_logs_bytes() -> int:
    """The size of this machine's apt and dpkg logs, which multiarc collects and the
    original does not: most of (a)'s archive and of its compression time."""
    logs = [*Path("/var/log").glob("dpkg.log*"), *Path("/var/log/apt").glob("*.log*")]
    return sum(p.stat().st_size for p in logs if p.is_file())


def bare_machine(env: dict[str, str], repeat: int, keep: Path | None) -> bool:
    print(f"this machine's apt and dpkg logs: {_package_logs_bytes() / 1024:,.0f} KiB"
          " (collected by multiarc only: most of its archive here)")
    p, o = measure(
        "(a) this bare machine, the original's eight steps",
        list(ORIGINAL_STEPS),
        env,
        repeat,
        keep,
    )
    slower = o.seconds - p.seconds
    ok_a = slower <= BARE_SLOWER_GOAL_S
    print(
        f"  ratio plain/multiarc time {p.seconds / o.seconds:.2f}x; multiarc is "
        f"{slower:+.3f} s vs plain (goal <= +{BARE_SLOWER_GOAL_S} s): "
        f"{'met' if ok_a else 'MISSED'}\n"
    )
    return ok_a


def gpu_host(env: dict[str, str], repeat: int, keep: Path | None) -> bool:
    with tempfile.TemporaryDirectory(prefix="gpuhost-") as tmp:
        bin_dir = make_gpu_host(Path(tmp))
        gpu_env = dict(env, PATH=f"{bin_dir}{os.pathsep}{env['PATH']}")
        steps = same_commands_as_multiarc(gpu_env)
        p, o = measure(
            "(b) simulated 8-GPU host, the same commands as multiarc",
            steps,
            gpu_env,
            repeat,
            keep,
            same_content=True,
        )
        speedup = p.seconds / o.seconds
        ok_time = speedup >= GPU_HOST_SPEEDUP_GOAL
        ok_size = o.archive_bytes <= o.plain_xz_bytes
        print(
            f"  ratio plain/multiarc time {speedup:.2f}x (goal >= {GPU_HOST_SPEEDUP_GOAL}x): "
            f"{'met' if ok_time else 'MISSED'}\n"
            f"  archive size, the same bytes compressed both ways: multiarc "
            f"{o.archive_bytes:,} B, its own tar stream through xz -9 {o.plain_xz_bytes:,} B, "
            f"ratio {o.archive_bytes / o.plain_xz_bytes:.4f} (goal <= 1): "
            f"{'met' if ok_size else 'MISSED'}\n"
            f"  as written: multiarc/plain {o.archive_bytes / p.archive_bytes:.4f}; multiarc's"
            f" tar stream holds {o.tar_bytes - p.tar_bytes:+,} B of its own (summary.txt,"
            f" manifest.json with every member's sha256, stderr files, generated members)"
        )
        ok_b = ok_time and ok_size
        eight = run_plain(list(ORIGINAL_STEPS), gpu_env)
        print(
            f"  (for scale: the original's eight steps alone here: {eight.seconds:.3f} s, "
            f"{eight.archive_bytes:,} bytes)"
        )
    return ok_b


if __name__ == "__main__":
    sys.exit(main())
