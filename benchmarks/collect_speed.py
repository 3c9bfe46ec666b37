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
    Goal: at least 3x faster, archive no larger.

Run: ``.venv/bin/python benchmarks/collect_speed.py [--repeat N] [--keep DIR]``.
Exit status 0 when both goals are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from multiarc.collect.collectors import all_collectors
from multiarc.collect.context import Context
from multiarc.collect.spec import Command, CopyFile, CopyTree

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
        return Run(seconds, archive.stat().st_size, _children_cpu() - cpu)


def collect_command() -> list[str]:
    script = Path(sys.executable).with_name("multiarc-collect-sysinfo")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from multiarc.collect.cli import main; main()"]


def run_multiarc(env: dict[str, str], keep: Path | None = None) -> Run:
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
        return Run(seconds, archive.stat().st_size, cpu)


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
                steps.append((name, f"find {shlex.quote(str(item.path))} -type f -exec cat {{}} +"))
    return steps


# ----------------------------------------------------------------------------- the fake GPU host


def _lspci_vvv_8_gpus() -> str:
    """lspci -vvv of a 2-socket server: 4 root ports, each a PCIe switch with 2 B60s."""
    rng = random.Random(7)
    blocks: list[str] = []
    chipset = textwrap.dedent("""\
        {bdf} System peripheral: Intel Corporation Ice Lake Device {dev:04x}
        \tSubsystem: Intel Corporation Device 0000
        \tControl: I/O- Mem- BusMaster- SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- SERR-
        \tStatus: Cap+ 66MHz- UDF- FastB2B- ParErr- DEVSEL=fast >TAbort- <TAbort- <MAbort-
        \tNUMA node: {numa}
        \tCapabilities: [40] Express (v2) Root Complex Integrated Endpoint, MSI 00
        \t\tDevCap:	MaxPayload 128 bytes, PhantFunc 0
        \t\t\tExtTag- RBE- FLReset- TEE-IO-
        \t\tDevCtl:	CorrErr- NonFatalErr- FatalErr- UnsupReq-
        \t\t\tRlxdOrd- ExtTag- PhantFunc- AuxPwr- NoSnoop-
        \t\t\tMaxPayload 128 bytes, MaxReadReq 128 bytes
        \t\tDevSta:	CorrErr- NonFatalErr- FatalErr- UnsupReq- AuxPwr- TransPend-
        \t\tDevCap2: Completion Timeout: Not Supported, TimeoutDis- NROPrPrP- LTR-
        \t\tDevCtl2: Completion Timeout: 50us to 50ms, TimeoutDis- LTR- 10BitTagReq- OBFF Disabled,
        \tCapabilities: [e0] Power Management version 3
        \t\tFlags: PMEClk- DSI- D1- D2- AuxCurrent=0mA PME(D0-,D1-,D2-,D3hot-,D3cold-)
        \t\tStatus: D0 NoSoftRst+ PME-Enable- DSel=0 DScale=0 PME-
        \tCapabilities: [100 v0] Vendor Specific Information: ID=0000 Rev=0 Len=00c <?>
        \tKernel driver in use: {driver}

        """)
    link = (
        "\t\tLnkCap:\tPort #{port}, Speed 32GT/s, Width x16, ASPM L1, Exit Latency L1 <4us\n"
        "\t\t\tClockPM- Surprise- LLActRep+ BwNot+ ASPMOptComp+\n"
        "\t\tLnkCtl:\tASPM Disabled; RCB 64 bytes, Disabled- CommClk+\n"
        "\t\tLnkSta:\tSpeed {speed}GT/s, Width x{width}\n"
        "\t\t\tTrErr- Train- SlotClk+ DLActive+ BWMgmt- ABWMgmt-\n"
    )
    bridge = (
        "{bdf} PCI bridge: {name} (rev b0) (prog-if 00 [Normal decode])\n"
        "\tControl: I/O+ Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- "
        "SERR+ FastB2B- DisINTx+\n"
        "\tBus: primary={pri:02x}, secondary={sec:02x}, subordinate={sub:02x}, "
        "sec-latency=0\n"
        "\tMemory behind bridge: {mem:08x}-{memend:08x} [size=32M] [32-bit]\n"
        "\tPrefetchable memory behind bridge: 0000{pref:04x}00000000-0000{pref:04x}"
        "ffffffff [size=32G] [64-bit]\n"
        "\tCapabilities: [40] Express (v2) {kind}, IntMsgNum 0\n"
        + link
        + "\tCapabilities: [100 v1] Advanced Error Reporting\n"
        "\t\tUESta:\tDLP- SDES- TLP- FCP- CmpltTO- CmpltAbrt- UnxCmplt- RxOF- MalfTLP-\n"
        "\t\tUEMsk:\tDLP- SDES- TLP- FCP- CmpltTO- CmpltAbrt+ UnxCmplt+ RxOF- MalfTLP-\n"
        "\t\tCESta:\tRxErr- BadTLP- BadDLLP- Rollover- Timeout- AdvNonFatalErr-\n"
        "\tCapabilities: [300 v1] Secondary PCI Express\n"
        "\tCapabilities: [a30 v1] Physical Layer 16.0 GT/s <?>\n"
        "\tCapabilities: [b30 v1] Physical Layer 32.0 GT/s <?>\n"
        "\tKernel driver in use: pcieport\n\n"
    )
    gpu = (
        "{bdf} VGA compatible controller: Intel Corporation Battlemage G21 [Arc Pro B60] "
        "[8086:e211] (prog-if 00 [VGA controller])\n"
        "\tSubsystem: Intel Corporation Device [8086:1100]\n"
        "\tControl: I/O- Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- "
        "SERR- FastB2B- DisINTx+\n"
        "\tInterrupt: pin ? routed to IRQ {irq}\n\tNUMA node: {numa}\n"
        "\tRegion 0: Memory at {mem:08x} (64-bit, non-prefetchable) [size=16M]\n"
        "\tRegion 2: Memory at {pref:04x}00000000 (64-bit, prefetchable) [size=32G]\n"
        "\tExpansion ROM at {memend:08x} [disabled] [size=2M]\n"
        "\tCapabilities: [40] Vendor Specific Information: Len=0c <?>\n"
        "\tCapabilities: [70] Express (v2) Endpoint, IntMsgNum 0\n"
        + link
        + "\tCapabilities: [ac] MSI: Enable+ Count=1/1 Maskable+ 64bit+\n"
        "\tCapabilities: [d0] Power Management version 3\n"
        "\tCapabilities: [100 v1] Alternative Routing-ID Interpretation (ARI)\n"
        "\tCapabilities: [110 v1] Null\n"
        "\tCapabilities: [200 v1] Address Translation Service (ATS)\n"
        "\tCapabilities: [420 v1] Physical Resizable BAR\n"
        "\t\tBAR 2: current size: 32GB, supported: 256MB 512MB 1GB 2GB 4GB 8GB 16GB 32GB\n"
        "\tCapabilities: [400 v1] Latency Tolerance Reporting\n"
        "\tKernel driver in use: xe\n\tKernel modules: xe\n\n"
    )
    for n in range(160):  # integrated devices of two sockets
        bus = 0x00 if n < 80 else 0x80
        bdf = f"{bus + n // 32:02x}:{n % 32:02x}.{rng.randrange(8)}"
        blocks.append(
            chipset.format(
                bdf=bdf,
                dev=rng.randrange(0x3400, 0x3500),
                numa=0 if n < 80 else 1,
                driver=rng.choice(["ioatdma", "i10nm_edac", "skx_uncore"]),
            )
        )
    switch = "Broadcom / LSI PEX890xx PCIe Gen 5 Switch"
    for port, root in enumerate((0x15, 0x55, 0x95, 0xD5)):
        numa = 0 if root < 0x80 else 1
        up, down = root + 1, root + 2
        g1, g2 = root + 3, root + 6
        pref = 0x60 + port * 0x10
        common = {"mem": 0x9E000000 + port * 0x4000000, "memend": 0x9FFFFFFF, "pref": pref}
        blocks.append(
            bridge.format(
                bdf=f"{root:02x}:01.0",
                name="Intel Corporation Device 352a",
                pri=root,
                sec=up,
                sub=g2,
                kind="Root Port (Slot+)",
                port=0,
                speed=32,
                width=16,
                **common,
            )
        )
        blocks.append(
            bridge.format(
                bdf=f"{up:02x}:00.0",
                name=switch,
                pri=up,
                sec=down,
                sub=g2,
                kind="Upstream Port",
                port=0,
                speed=32,
                width=16,
                **common,
            )
        )
        for i, g in enumerate((g1, g2)):
            blocks.append(
                bridge.format(
                    bdf=f"{down:02x}:{i * 4:02x}.0",
                    name=switch,
                    pri=down,
                    sec=g,
                    sub=g,
                    kind="Downstream Port (Slot+)",
                    port=i,
                    speed=32,
                    width=8,
                    **common,
                )
            )
            blocks.append(
                gpu.format(
                    bdf=f"{g:02x}:00.0",
                    irq=180 + 2 * port + i,
                    numa=numa,
                    port=0,
                    speed=32,
                    width=8,
                    **common,
                )
            )
    return "".join(blocks)


def _dmesg_10mb() -> str:
    """10 MB of kernel log: boot, 8 xe GPUs with firmware lines, then days of chatter."""
    rng = random.Random(11)
    lines = [
        "[    0.000000] Linux version 6.14.0-1006-intel (buildd@lcy02-amd64-071) "
        "#6-Ubuntu SMP PREEMPT_DYNAMIC",
        "[    0.000000] Command line: BOOT_IMAGE=/vmlinuz-6.14.0-1006-intel ro quiet splash "
        "intel_iommu=off",
    ]
    t = 1.0
    for bus in (0x18, 0x1B, 0x58, 0x5B, 0x98, 0x9B, 0xD8, 0xDB):
        for msg in (
            "[drm] Found battlemage (device ID e211) discrete display version 14.01",
            "[drm] Finished loading DMC firmware i915/bmg_dmc.bin (v2.6)",
            "[drm] GT0: Using GuC firmware from xe/bmg_guc_70.bin version 70.44.1",
            "[drm] GT1: Using HuC firmware from xe/bmg_huc.bin version 8.2.10",
        ):
            t += rng.random() / 10
            lines.append(f"[{t:12.6f}] xe 0000:{bus:02x}:00.0: {msg}")
    templates = (
        'audit: type=1400 audit({a}.{b}:{c}): apparmor="DENIED" operation="open" '
        'class="file" profile="snap.lxd" name="/proc/{c}/mounts" pid={c} comm="lxd"',
        "xe 0000:{bus:02x}:00.0: [drm] GT0: Engine reset: engine_class=ccs, logical_mask: "
        "0x1, guc_id={c}",
        "perf: interrupt took too long ({a} > {b}), lowering kernel.perf_event_max_sample_rate "
        "to {c}",
        "e1000e 0000:00:1f.6 eno{b}: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: None",
        "EXT4-fs (nvme0n1p2): re-mounted {a:08x}-{b:04x}. Quota mode: none.",
        "usb 1-{b}: new high-speed USB device number {c} using xhci_hcd",
        "xe 0000:{bus:02x}:00.0: [drm] *ERROR* GT1: GuC mmio request {a:#x}: no reply {b:#x}",
        "mce: [Hardware Error]: Machine check events logged (count {c})",
    )
    size = sum(len(line) + 1 for line in lines)
    while size < 10 * 2**20:
        t += rng.expovariate(2.0)
        line = f"[{t:12.6f}] " + rng.choice(templates).format(
            a=rng.randrange(10**9),
            b=rng.randrange(1000),
            c=rng.randrange(100000),
            bus=rng.choice((0x18, 0x1B, 0x58, 0x5B, 0x98, 0x9B, 0xD8, 0xDB)),
        )
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n"


def _dmidecode() -> str:
    blocks = ["# dmidecode 3.6\nGetting SMBIOS data from sysfs.\nSMBIOS 3.5.0 present.\n"]
    for n in range(32):  # 32 DIMMs, like a 2-socket server
        blocks.append(
            f"Handle 0x{0x1100 + n:04X}, DMI type 17, 100 bytes\nMemory Device\n"
            f"\tSize: 64 GB\n\tLocator: CPU{n // 16}_DIMM_{chr(65 + n % 8)}{n % 2}\n"
            "\tType: DDR5\n\tSpeed: 4800 MT/s\n\tManufacturer: Samsung\n"
            f"\tSerial Number: {0x80AD0000 + n:08X}\n\tPart Number: M321R8GA0BB0-CQKZJ\n"
            "\tRank: 2\n\tConfigured Memory Speed: 4800 MT/s\n\n"
        )
    return "".join(blocks) * 3


def make_gpu_host(folder: Path, latency: float = 1.0) -> Path:
    """Fake tools with realistic outputs and latencies (times ``latency``: 0 for tests that
    check contents, not time); returns the folder to put on PATH."""
    data, bin_dir = folder / "data", folder / "bin"
    data.mkdir(parents=True)
    bin_dir.mkdir()
    recordings = Path(__file__).resolve().parents[1] / "tests" / "recordings" / "b60x4" / "outputs"
    (data / "lspci-vvv.txt").write_text(_lspci_vvv_8_gpus())
    (data / "dmesg.txt").write_text(_dmesg_10mb())
    (data / "dmidecode.txt").write_text(_dmidecode())
    lspci_tv = (recordings / "lspci-tv.txt").read_text()
    (data / "lspci-tv.txt").write_text(lspci_tv * 2)
    nn = (recordings / "lspci-nn-D.txt").read_text()
    (data / "lspci-nn-D.txt").write_text(nn * 6)
    sycl = (recordings / "sycl-ls.txt").read_text()
    (data / "sycl-ls.txt").write_text(sycl * 2)
    disc = (recordings / "xpu-smi-discovery.txt").read_text()
    (data / "xpu-smi-discovery.txt").write_text(disc * 2)
    (data / "xpu-smi-discovery.json").write_text(
        (recordings / "xpu-smi-discovery.json").read_text()
    )
    (data / "diag.txt").write_text(
        "".join(f"| {g}         | Level 1: Quick diagnostics | Pass |\n" for g in range(8))
    )
    tools = {
        "lspci": f"""\
            case "$*" in
              --version) echo "lspci version 3.13.0" ;;
              -tv) sleep {0.02 * latency:g}; cat {data}/lspci-tv.txt ;;
              -vvv) sleep {0.15 * latency:g}; cat {data}/lspci-vvv.txt ;;
              *) sleep {0.05 * latency:g}; cat {data}/lspci-nn-D.txt ;;
            esac""",
        "dmesg": f"""\
            [ "$1" = --version ] && {{ echo "dmesg from util-linux 2.40.2"; exit 0; }}
            sleep {0.1 * latency:g}; cat {data}/dmesg.txt""",
        "dmidecode": f"""\
            [ "$1" = --version ] && {{ echo 3.6; exit 0; }}
            sleep {0.3 * latency:g}; cat {data}/dmidecode.txt""",
        "sycl-ls": f"sleep {2 * latency:g}; cat {data}/sycl-ls.txt",
        "xpu-smi": f"""\
            case "$*" in
              -v) sleep {0.2 * latency:g}; printf 'CLI:\\n    Version: 1.2.39.20240906\\n' ;;
              "discovery -j") sleep {1 * latency:g}; cat {data}/xpu-smi-discovery.json ;;
              discovery*) sleep {1 * latency:g}; cat {data}/xpu-smi-discovery.txt ;;
              "health -l") sleep {1 * latency:g}; echo "8 devices healthy" ;;
              "diag -l 1") sleep {5 * latency:g}; cat {data}/diag.txt ;;
              *) exit 2 ;;
            esac""",
    }
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + textwrap.dedent(body) + "\n")
        path.chmod(0o755)
    return bin_dir


# ----------------------------------------------------------------------------- report


def _median(runs: list[Run]) -> Run:
    seconds = statistics.median(r.seconds for r in runs)
    size = int(statistics.median(r.archive_bytes for r in runs))
    return Run(seconds, size, statistics.median(r.cpu_seconds for r in runs))


def _list(runs: list[Run]) -> str:
    return " ".join(f"{r.seconds:.2f}" for r in runs)


def measure(
    label: str,
    plain_steps: list[tuple[str, str]],
    env: dict[str, str],
    repeat: int,
    keep: Path | None,
) -> tuple[Run, Run]:
    plain, ours = [], []
    for _ in range(repeat):  # alternate, so both see the same machine load
        plain.append(run_plain(plain_steps, env))
        ours.append(run_multiarc(env, keep))
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


def bare_machine(env: dict[str, str], repeat: int, keep: Path | None) -> bool:
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
        )
        speedup = p.seconds / o.seconds
        size_ratio = o.archive_bytes / p.archive_bytes
        ok_b = speedup >= GPU_HOST_SPEEDUP_GOAL and o.archive_bytes <= p.archive_bytes
        print(
            f"  ratio plain/multiarc time {speedup:.2f}x (goal >= {GPU_HOST_SPEEDUP_GOAL}x); "
            f"archive size multiarc/plain {size_ratio:.3f} (goal <= 1): "
            f"{'met' if ok_b else 'MISSED'}"
        )
        eight = run_plain(list(ORIGINAL_STEPS), gpu_env)
        print(
            f"  (for scale: the original's eight steps alone here: {eight.seconds:.3f} s, "
            f"{eight.archive_bytes:,} bytes)"
        )
    return ok_b


if __name__ == "__main__":
    sys.exit(main())
