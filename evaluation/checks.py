"""Device and system checks of ``multiarc-eval quick`` (and the start of ``basic``).

Two halves: :func:`gather_facts` runs the few read-only tools (``lspci``, ``sycl-ls``,
``xpu-smi discovery``, ``dmesg``) and reads the probes under ``root``; the checks are pure
functions of those :class:`Facts`, each returning one
:class:`~multiarc.evaluation.model.CheckResult` with a one-line reason and what to do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from multiarc.collect import probes
from multiarc.evaluation.model import CheckResult, Status
from multiarc.evaluation.parsers.dmesg import KernelLog, parse_dmesg
from multiarc.evaluation.parsers.lspci import PciDetail, parse_lspci_nn, parse_lspci_vvv
from multiarc.evaluation.parsers.sycl_ls import count_level_zero_gpus, parse_sycl_ls
from multiarc.evaluation.parsers.xpu_smi import parse_discovery

from multiarc import devices, paths
from multiarc.kernel_params import required_value

from .runner import ToolRun, run_command

FACT_TIMEOUT_S = 60.0

# The commands the checks read, by fact name.
FACT_COMMANDS: dict[str, list[str]] = {
    "lspci_nn": ["lspci", "-nn", "-D"],
    "lspci_vvv": ["lspci", "-D", "-nn", "-vvv"],
    "lspci_tv": ["lspci", "-tv"],
    "sycl_ls": ["sycl-ls"],
    "xpu_discovery": ["xpu-smi", "discovery"],
    "dmesg": ["dmesg"],
}

IDLE_LINK_GTS = 2.5  # what an idle B60 link reports (ASPM/link power management)


@dataclass
class Facts:
    """Everything the checks look at; tool outputs are None when the tool did not run."""

    root: Path
    tools: dict[str, ToolRun] = field(default_factory=dict)
    sysfs_gpus: list[probes.PciDevice] = field(default_factory=list)
    cmdline: list[str] = field(default_factory=list)
    kernel: str = ""
    target_kernel: str | None = None  # what multiarc-install installed, from its state file
    setvars_present: bool = False
    oneapi_version: str | None = None
    environ: dict[str, str] = field(default_factory=dict)

    def output(self, fact: str) -> str | None:
        """The tool's output when it ran and exited 0, else None."""
        run = self.tools.get(fact)
        return run.output if run is not None and run.ok else None


def _target_kernel(root: Path) -> str | None:
    state_file = root / str(paths.STATE_FILE).lstrip("/")
    try:
        data = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    value = data.get("target_kernel") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def gather_facts(root: Path, env: Mapping[str, str]) -> Facts:
    """Run the read-only tools (in parallel, each with a timeout) and read the probes."""
    facts = Facts(root=root, environ=dict(env))
    with ThreadPoolExecutor(max_workers=len(FACT_COMMANDS)) as pool:
        futures = {
            name: pool.submit(run_command, argv, env=env, timeout_s=FACT_TIMEOUT_S)
            for name, argv in FACT_COMMANDS.items()
        }
        facts.tools = {name: future.result() for name, future in futures.items()}
    read_probes(facts, root)
    return facts


def read_probes(facts: Facts, root: Path) -> None:
    """The facts read from files under ``root`` (a fleet host's fetched copy too)."""
    facts.sysfs_gpus = probes.intel_gpus(root)
    facts.cmdline = probes.kernel_cmdline(root)
    facts.kernel = probes.kernel_release(root)
    facts.target_kernel = _target_kernel(root)
    facts.setvars_present = (root / str(paths.ONEAPI_SETVARS).lstrip("/")).is_file()
    facts.oneapi_version = probes.oneapi_version(root)


# ----------------------------------------------------------------------------- helpers


def lspci_gpu_bdfs(facts: Facts) -> list[str] | None:
    text = facts.output("lspci_nn")
    if text is None:
        return None
    return [d.bdf for d in parse_lspci_nn(text).records if d.is_supported_gpu]


def level_zero_gpu_count(facts: Facts) -> int | None:
    text = facts.output("sycl_ls")
    if text is None:
        return None
    return count_level_zero_gpus(parse_sycl_ls(text).records)


def xpu_smi_gpu_count(facts: Facts) -> int | None:
    text = facts.output("xpu_discovery")
    if text is None:
        return None
    return len(parse_discovery(text).records)


def kernel_log(facts: Facts) -> KernelLog | None:
    text = facts.output("dmesg")
    if text is None:
        return None
    records = parse_dmesg(text).records
    return records[0] if records else None


def _gpu_details(facts: Facts) -> dict[str, PciDetail]:
    text = facts.output("lspci_vvv")
    if text is None:
        return {}
    return {d.bdf: d for d in parse_lspci_vvv(text).records if d.is_supported_gpu()}


def _gts(value: str | None) -> float | None:
    """``"32.0 GT/s PCIe"`` -> 32.0; None for "Unknown" or nothing."""
    match = re.match(r"^\s*([\d.]+)\s*GT/s", value or "")
    return float(match.group(1)) if match else None


def _why(run: ToolRun | None) -> str:
    if run is None:
        return "not run"
    if run.error:
        return run.error
    return f"exit {run.exit_code}"


def gpu_model(facts: Facts) -> devices.GpuModel | None:
    """The evaluated GPUs' model (the first supported GPU found on the bus)."""
    for gpu in facts.sysfs_gpus:
        model = devices.lookup(gpu.device_id)
        if model is not None:
            return model
    text = facts.output("lspci_nn")
    if text:
        for d in parse_lspci_nn(text).records:
            if d.is_supported_gpu:
                return devices.lookup(d.device_id)
    return None


def software_gpu_count(facts: Facts) -> int:
    """GPUs the software stack sees (Level Zero, else xpu-smi, else bound to xe, else lspci)."""
    for count in (level_zero_gpu_count(facts), xpu_smi_gpu_count(facts)):
        if count is not None:
            return count
    bound = [g for g in facts.sysfs_gpus if g.driver == "xe"]
    if bound:
        return len(bound)
    return len(lspci_gpu_bdfs(facts) or [])


# ----------------------------------------------------------------------------- checks


def check_gpu_count(facts: Facts) -> CheckResult:
    """lspci, sysfs (xe bound), sycl-ls (Level Zero) and xpu-smi must see the same GPUs."""
    on_bus = lspci_gpu_bdfs(facts)
    bound = sorted(g.bdf for g in facts.sysfs_gpus if g.driver == "xe")
    unbound = sorted(g.bdf for g in facts.sysfs_gpus if g.driver != "xe")
    counts: dict[str, int | None] = {
        "lspci": None if on_bus is None else len(on_bus),
        "xe (sysfs)": len(bound) if facts.sysfs_gpus or on_bus is not None else None,
        "sycl-ls": level_zero_gpu_count(facts),
        "xpu-smi": xpu_smi_gpu_count(facts),
    }
    shown = ", ".join(f"{k} {'n/a' if v is None else v}" for k, v in counts.items())
    details: dict[str, object] = {"counts": counts, "xe_bound": bound, "not_bound": unbound}
    known = {k: v for k, v in counts.items() if v is not None}
    missing = [k for k, v in counts.items() if v is None]
    if not known or max(known.values()) == 0:
        return CheckResult(
            "gpu-count",
            Status.FAIL,
            f"no supported Intel GPU found ({shown})",
            "check the cards are seated and powered; lspci -nn | grep 8086",
            details,
        )
    most = max(known.values())
    behind = [k for k, v in known.items() if v < most]
    if not behind:
        if missing:
            why = "; ".join(
                f"{k}: {_why(facts.tools.get(_fact_of(k)))}" for k in missing if _fact_of(k)
            )
            return CheckResult(
                "gpu-count",
                Status.WARN,
                f"{most} GPUs were counted ({shown}); {why}",
                "install/enable the missing tool (oneAPI setvars.sh for sycl-ls, "
                "xpu-smi package) to cross-check",
                details,
            )
        return CheckResult(
            "gpu-count", Status.PASS, f"{most} GPUs seen by all ({shown})", details=details
        )
    reason = f"sources disagree: {shown}"
    hints: list[str] = []
    log = kernel_log(facts)
    if counts["xe (sysfs)"] is not None and counts["xe (sysfs)"] < most:
        errors = []
        if log is not None:
            errors = [e for e in log.errors if e.bdf in unbound]
        if errors:
            first = {e.bdf: e.message for e in errors}
            where = "; ".join(f"{bdf}: {msg}" for bdf, msg in first.items())
            hints.append(f"xe failed to probe {', '.join(unbound)} (dmesg: {where})")
        else:
            hints.append(
                f"xe is not bound to {', '.join(unbound) or 'some GPUs'}: "
                "see `dmesg | grep xe` (firmware, probe errors)"
            )
    elif counts["sycl-ls"] is not None and counts["sycl-ls"] < most:
        mask = facts.environ.get("ZE_AFFINITY_MASK") or facts.environ.get("ONEAPI_DEVICE_SELECTOR")
        hints.append(
            "Level Zero sees fewer GPUs than the driver: "
            + (f"ZE_AFFINITY_MASK/ONEAPI_DEVICE_SELECTOR is set ({mask}); " if mask else "")
            + "check the compute runtime (libze-intel-gpu1) and membership of the "
            "render group"
        )
    elif counts["xpu-smi"] is not None and counts["xpu-smi"] < most:
        hints.append(
            "xpu-smi sees fewer GPUs: restart xpum (systemctl restart xpum) or "
            "check the xpu-smi version matches the driver"
        )
    if not hints:
        hints.append(f"{', '.join(behind)} see fewer GPUs than the others")
    return CheckResult("gpu-count", Status.FAIL, reason, "; ".join(hints), details)


def _fact_of(source: str) -> str:
    return {"lspci": "lspci_nn", "sycl-ls": "sycl_ls", "xpu-smi": "xpu_discovery"}.get(source, "")


@dataclass(frozen=True)
class LinkState:
    bdf: str
    speed: float | None
    width: int | None
    cap_speed: float | None
    cap_width: int | None
    source: str  # "lspci" or "sysfs"

    @property
    def text(self) -> str:
        def s(v: float | None) -> str:
            return "?" if v is None else f"{v:g}GT/s"

        return (
            f"{s(self.speed)} x{self.width or '?'} (capable {s(self.cap_speed)} "
            f"x{self.cap_width or '?'})"
        )


def link_states(facts: Facts) -> list[LinkState]:
    """Link state per GPU: lspci -vvv where it shows capabilities, else sysfs."""
    details = _gpu_details(facts)
    states: dict[str, LinkState] = {}
    for bdf, d in details.items():
        if d.link_sta_speed_gts is not None and d.link_cap_speed_gts is not None:
            states[bdf] = LinkState(
                bdf,
                d.link_sta_speed_gts,
                d.link_sta_width,
                d.link_cap_speed_gts,
                d.link_cap_width,
                "lspci",
            )
    for gpu in facts.sysfs_gpus:
        if gpu.bdf in states:
            continue
        speed, cap = _gts(gpu.current_link_speed), _gts(gpu.max_link_speed)
        if speed is None and cap is None:
            continue
        states[gpu.bdf] = LinkState(
            gpu.bdf, speed, gpu.current_link_width, cap, gpu.max_link_width, "sysfs"
        )
    return [states[k] for k in sorted(states)]


def check_pcie_link(facts: Facts) -> CheckResult:
    """Trained link vs capability; idle 2.5GT/s at full width is the known cosmetic report."""
    states = link_states(facts)
    if not states:
        return CheckResult(
            "pcie-link",
            Status.SKIP,
            "no link information (lspci -vvv hides capabilities without root, no sysfs link files)",
            "run as root to read LnkCap/LnkSta",
        )
    degraded: list[str] = []
    idle: list[str] = []
    full: list[str] = []
    for st in states:
        width_short = st.width is not None and st.cap_width is not None and st.width < st.cap_width
        speed_short = st.speed is not None and st.cap_speed is not None and st.speed < st.cap_speed
        if width_short or (speed_short and st.speed != IDLE_LINK_GTS):
            degraded.append(f"{st.bdf} {st.text}")
        elif speed_short:
            idle.append(st.bdf)
        else:
            full.append(st.bdf)
    details = {"links": [st.__dict__ for st in states]}
    if degraded:
        return CheckResult(
            "pcie-link",
            Status.FAIL,
            f"link degraded: {'; '.join(degraded)}",
            "reseat the card/riser, check slot bifurcation and the BIOS PCIe speed setting; "
            "host<->GPU and P2P bandwidth drop with the link",
            details,
        )
    if idle:
        return CheckResult(
            "pcie-link",
            Status.WARN,
            f"{', '.join(idle)} report {IDLE_LINK_GTS:g}GT/s (downgraded) at full width; "
            f"{len(full)} at full speed",
            "known cosmetic report: an idle B60 drops its link speed to save power and "
            "retrains under load; only worry if H2D/P2P figures are low",
            details,
        )
    first = states[0]
    return CheckResult(
        "pcie-link",
        Status.PASS,
        f"{len(states)} GPUs at {first.cap_speed:g}GT/s x{first.cap_width}"
        if first.cap_speed is not None
        else f"{len(states)} GPUs at full link",
        details=details,
    )


def check_bar_size(facts: Facts) -> CheckResult:
    """The large (prefetchable) BAR must cover the card's memory: Resizable BAR enabled."""
    details = _gpu_details(facts)
    sizes: dict[str, int] = {}
    for bdf, d in details.items():
        biggest = max([d.largest_bar_bytes or 0, *(size for _, size in d.rebar_current_bytes)])
        if biggest:
            sizes[bdf] = biggest
    for gpu in facts.sysfs_gpus:
        if gpu.bdf not in sizes and gpu.bar_sizes:
            sizes[gpu.bdf] = max(gpu.bar_sizes)
    if not sizes:
        return CheckResult(
            "bar-size", Status.SKIP, "no BAR sizes readable (lspci -vvv, sysfs)", "run as root"
        )
    model = gpu_model(facts)
    need = (model.memory_gib or 0) * 1024**3 if model else 0
    gib = {bdf: size / 1024**3 for bdf, size in sizes.items()}
    small = [f"{bdf} {g:g} GiB" for bdf, g in gib.items() if need and sizes[bdf] < need]
    detail = {"bar_bytes": sizes, "needed_bytes": need}
    if small:
        return CheckResult(
            "bar-size",
            Status.FAIL,
            f"BAR smaller than the {model.memory_gib if model else '?'} GiB of GPU memory: "
            f"{', '.join(small)}",
            "enable Above 4G Decoding and Re-Size BAR Support in the BIOS",
            detail,
        )
    smallest = min(gib.values())
    return CheckResult(
        "bar-size",
        Status.PASS,
        f"largest BAR {smallest:g} GiB or more on all {len(sizes)} GPUs",
        details=detail,
    )


def check_iommu(facts: Facts) -> CheckResult:
    if not facts.cmdline:
        return CheckResult("iommu", Status.SKIP, "kernel command line not readable", "")
    wanted = f"intel_iommu={required_value('intel_iommu') or 'off'}"  # multiarc/kernel_params
    values = [p.split("=", 1)[1] for p in facts.cmdline if p.startswith("intel_iommu=")]
    hint = (
        f"multiarc-install adds it (grub role); or add {wanted} to "
        "GRUB_CMDLINE_LINUX_DEFAULT, update-grub, reboot"
    )
    if values and f"intel_iommu={values[-1]}" == wanted:
        return CheckResult("iommu", Status.PASS, f"{wanted} is active (/proc/cmdline)")
    if values:
        return CheckResult(
            "iommu",
            Status.FAIL,
            f"intel_iommu={values[-1]} is active; the validated setup runs with {wanted}",
            hint,
        )
    return CheckResult("iommu", Status.FAIL, f"{wanted} is not on the kernel command line", hint)


def check_kernel(facts: Facts) -> CheckResult:
    if not facts.kernel:
        return CheckResult("kernel", Status.SKIP, "running kernel release not readable")
    log = kernel_log(facts)
    booted = log.kernel_release if log is not None else ""
    details = {"running": facts.kernel, "target": facts.target_kernel, "dmesg": booted}
    if facts.target_kernel and facts.target_kernel != facts.kernel:
        return CheckResult(
            "kernel",
            Status.WARN,
            f"running {facts.kernel}, multiarc-install installed {facts.target_kernel}",
            "reboot into the installed kernel (it is the GRUB default)",
            details,
        )
    if facts.target_kernel:
        return CheckResult(
            "kernel", Status.PASS, f"running {facts.kernel}, the installed kernel", details=details
        )
    return CheckResult(
        "kernel",
        Status.PASS,
        f"running {facts.kernel} (no multiarc-install state to compare with)",
        details=details,
    )


def check_firmware(facts: Facts) -> CheckResult:
    """GuC/HuC (and DMC) loaded on every GPU, one version each; probe/load errors fail."""
    log = kernel_log(facts)
    if log is None:
        return CheckResult(
            "firmware",
            Status.SKIP,
            f"dmesg not readable ({_why(facts.tools.get('dmesg'))})",
            "run as root, or sysctl kernel.dmesg_restrict=0",
        )
    gpus = sorted({g.bdf for g in facts.sysfs_gpus} | set(lspci_gpu_bdfs(facts) or []))
    versions = {kind: log.versions(kind) for kind in ("GuC", "HuC", "DMC")}
    shown = ", ".join(f"{k} {'/'.join(v)}" for k, v in versions.items() if v) or "none"
    details: dict[str, object] = {"versions": versions, "errors": [e.message for e in log.errors]}
    gpu_errors = [e for e in log.errors if not gpus or e.bdf in gpus]
    if gpu_errors:
        first = "; ".join(f"{e.bdf}: {e.message}" for e in gpu_errors[:3])
        return CheckResult(
            "firmware",
            Status.FAIL,
            f"xe errors in dmesg: {first}",
            "check /lib/firmware/xe holds the bundle's bmg_guc_70/bmg_huc "
            "(multiarc-install --only firmware), update-initramfs -u, reboot",
            details,
        )
    missing = [
        bdf for bdf in gpus if not any(f.kind == "GuC" and f.bdf == bdf for f in log.firmware)
    ]
    if not versions["GuC"]:
        return CheckResult(
            "firmware",
            Status.WARN,
            "no GuC/HuC load messages in dmesg",
            "the boot messages may have rotated out; check `dmesg | grep xe`",
            details,
        )
    if missing or len(versions["GuC"]) > 1 or len(versions["HuC"]) > 1:
        why = f"GuC not reported for {', '.join(missing)}" if missing else "versions differ"
        return CheckResult(
            "firmware",
            Status.WARN,
            f"{why}: {shown}",
            "all GPUs should load the same firmware; check /lib/firmware/xe",
            details,
        )
    return CheckResult(
        "firmware", Status.PASS, f"{shown} on {len(gpus) or 'all'} GPUs", details=details
    )


def check_oneapi(facts: Facts) -> CheckResult:
    where = paths.ONEAPI_SETVARS
    if facts.setvars_present:
        version = f" (Base Toolkit {facts.oneapi_version})" if facts.oneapi_version else ""
        return CheckResult("oneapi", Status.PASS, f"{where} present{version}")
    return CheckResult(
        "oneapi",
        Status.FAIL,
        f"{where} not found",
        "install the oneAPI Base Toolkit (multiarc-install --only oneapi)",
    )


from multiarc.evaluation.topology_check import check_topology  # noqa: E402 (uses Facts)

CHECKS: tuple[Callable[[Facts], CheckResult], ...] = (
    check_gpu_count,
    check_pcie_link,
    check_bar_size,
    check_iommu,
    check_kernel,
    check_firmware,
    check_oneapi,
    check_topology,
)


def run_checks(facts: Facts) -> list[CheckResult]:
    """Every check; a check that breaks becomes a FAIL naming the bug, never a crash."""
    results = []
    for check in CHECKS:
        try:
            results.append(check(facts))
        except Exception as err:  # a bug in one check must not hide the others
            name = check.__name__.removeprefix("check_").replace("_", "-")
            results.append(
                CheckResult(
                    name,
                    Status.FAIL,
                    f"internal error in the check ({type(err).__name__}: {err})",
                    "please report this",
                )
            )
    return results


def any_failed(checks: list[CheckResult]) -> bool:
    return any(c.status == Status.FAIL for c in checks)


def environment_not_ready(facts: Facts) -> str | None:
    """Why nothing can be evaluated here (no lspci, no Intel GPU at all), or None."""
    lspci = facts.tools.get("lspci_nn")
    if lspci is not None and lspci.exit_code is None and "not found" in lspci.error:
        return "lspci is not installed (package pciutils)"
    if not lspci_gpu_bdfs(facts) and not facts.sysfs_gpus:
        return "no supported Intel GPU on this machine (lspci and sysfs show none)"
    return None
