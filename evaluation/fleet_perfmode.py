"""``--performance-mode`` on a fleet: what the playbook sends each node, what it said.

The node runs the controller's own :mod:`.perfmode` around its steps (sent as a zip by
:mod:`.node_code`): the same settings, the same restore, its xpu-smi output kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fleet_run import FleetOptions


def perf_gpus(opts: FleetOptions, plans: dict[str, Any]) -> dict[str, list[int]]:
    """The GPUs performance mode locks, by GPU count: those evaluated (as on one host)."""
    from .steps import parse_devices

    return {
        count: parse_devices(opts.devices, int(count)) or list(range(int(count))) for count in plans
    }


def add_performance(extravars: dict[str, Any], opts: FleetOptions, plans: dict[str, Any]) -> None:
    """With --performance-mode, the playbook's variables for it: the GPUs to lock (in the
    module's options) and the code that does it."""
    from .node_code import perfmode_data

    if opts.performance_mode:
        extravars["multiarc_perf_code"] = perfmode_data()
        extravars["multiarc_eval"]["performance"] = {"gpus": perf_gpus(opts, plans)}


def said_performance(result: dict[str, Any]) -> list[str]:
    """What the node's performance mode did, in a line or a few (problems each)."""
    perf = result.get("performance")
    if not isinstance(perf, dict):
        return []
    changes = [str(c) for c in perf.get("changes") or []]
    restored = [c for c in changes if "restored" in c]
    lines = [
        f"performance mode: {len(changes) - len(restored)} setting(s) changed"
        + (", restored afterwards" if restored else "")
    ]
    return lines + [f"performance mode: {p}" for p in perf.get("problems") or []]
