"""What the checks read: the few read-only tools (``lspci``, ``sycl-ls``, ``xpu-smi
discovery``, ``dmesg``) run once, in parallel, and the probes under ``root``, as
:class:`Facts`; and the small readings of those facts the checks share."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from multiarc.collect import probes
from multiarc.evaluation.parsers.dmesg import KernelLog, parse_dmesg
from multiarc.evaluation.parsers.lspci import PciDetail, parse_lspci_nn, parse_lspci_vvv
from multiarc.evaluation.parsers.sycl_ls import count_level_zero_gpus, parse_sycl_ls
from multiarc.evaluation.parsers.xpu_smi import parse_discovery

from multiarc import devices, paths

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
