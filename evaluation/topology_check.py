"""The ``topology`` check: which GPU pairs share a switch, a root complex or a socket.

Reads the facts the other checks gathered (sysfs, ``lspci -tv``, ``xpu-smi discovery``)
and builds the :class:`~multiarc.evaluation.topology.Topology` the P2P verdicts use. PASS
names the classes; WARN when sysfs and lspci disagree or the tree cannot be read (P2P
pairs are then all judged against Intel's same-board reference, as the original does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from multiarc.evaluation.model import CheckResult, Status
from multiarc.evaluation.parsers.xpu_smi import parse_discovery
from multiarc.evaluation.topology import GpuInput, Topology, build_topology

if TYPE_CHECKING:
    from multiarc.evaluation.checks import Facts


def gpu_inputs(facts: Facts) -> list[GpuInput]:
    """Level Zero index, PCI address and NUMA node of every GPU the stack sees."""
    numa = {g.bdf: g.numa_node for g in facts.sysfs_gpus}
    text = facts.output("xpu_discovery")
    if text:
        listed = [d for d in parse_discovery(text).records if d.bdf]
        if listed:
            return [GpuInput(d.device_id, d.bdf, numa.get(d.bdf)) for d in listed]
    bound = sorted(g.bdf for g in facts.sysfs_gpus if g.driver == "xe")
    return [GpuInput(i, bdf, numa.get(bdf)) for i, bdf in enumerate(bound)]


def topology(facts: Facts) -> Topology:
    return build_topology(facts.root, gpu_inputs(facts), facts.output("lspci_tv"))


def check_topology(facts: Facts) -> CheckResult:
    inputs = gpu_inputs(facts)
    topo = build_topology(facts.root, inputs, facts.output("lspci_tv"))
    details = topo.to_dict()
    if len(inputs) < 2:
        return CheckResult("topology", Status.PASS, "fewer than two GPUs: no P2P pairs",
                           details=details)  # fmt: skip
    if len(topo.gpus) < len(inputs):
        return CheckResult(
            "topology", Status.WARN,
            "the PCIe tree of every GPU could not be read (sysfs, lspci -tv)",
            "P2P pairs are judged against the same-board reference, as the original does",
            details,
        )  # fmt: skip
    disagree = [n for n in topo.notes if "says" in n]
    if disagree:
        return CheckResult("topology", Status.WARN, "; ".join(disagree),
                           "check the PCIe tree (lspci -tv) and the slots", details)  # fmt: skip
    return CheckResult("topology", Status.PASS, f"{topo.describe()} ({topo.source})",
                       details=details)  # fmt: skip
