"""``basic --confirm N`` on a fleet: the steps whose figures FAIL run again on their hosts.

When every host has been judged, the hosts with FAIL figures get one more, short playbook
run: eval.yml with ``multiarc_confirm`` (per host: its repeats, ``<step>@confirm<k>`` as in
confirm.py, and, when the host replays a recording, how often each recorded call was made,
so that the recording's later calls answer, as a real tool run again would). The repeats'
step records and raw logs join the host's run folder and the host is judged again: a
figure that passes on a repeat is UNSTABLE, one that fails again a confirmed FAIL, exactly
as on a single host.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from .confirm import CONFIRM_SUFFIX, repeat_specs
from .fleet_host import HostOutcome, unpack
from .steps import StepSpec

# a repeat's raw log: one file in steps/, never a path of the node's choosing
_LOG = re.compile(r"steps/[0-9]{1,4}-[A-Za-z0-9._-]{1,200}\.log")
_CALL = re.compile(r"[0-9a-f]{40}")


def repeats_by_host(
    outcomes: list[HostOutcome], specs: dict[str, StepSpec], rounds: int
) -> dict[str, list[StepSpec]]:
    """Each judged host's repeats (none where no figure FAILs)."""
    found: dict[str, list[StepSpec]] = {}
    for outcome in outcomes:
        if outcome.status == "done" and outcome.folder is not None and outcome.failing_steps:
            repeats = repeat_specs(list(specs.values()), outcome.failing_steps, rounds)
            if repeats:
                found[outcome.host] = repeats
    return found


def replay_calls(folder: Path) -> dict[str, int]:
    """How often each replayed call was made in the host's first run (node.json)."""
    node = json.loads((folder / "node.json").read_text())
    calls = node.get("replay_calls") or {}
    if not isinstance(calls, dict):
        return {}
    return {str(k): int(v) for k, v in calls.items() if _CALL.fullmatch(str(k))
            and isinstance(v, int) and 0 <= v <= 1000}  # fmt: skip


def merge_repeats(folder: Path, archive: Path) -> int:
    """The repeats' step records and raw logs added to the host's run folder ``folder``
    (node.json rewritten whole, atomically); how many were added."""
    scratch = unpack(archive, folder.with_name(folder.name + ".confirm"))
    try:
        node: dict[str, Any] = json.loads((folder / "node.json").read_text())
        extra = json.loads((scratch / "node.json").read_text())
        added = 0
        for record in extra.get("steps") or []:
            name, log = str(record.get("name", "")), str(record.get("log", ""))
            source, target = scratch / log, folder / log
            if CONFIRM_SUFFIX not in name or not _LOG.fullmatch(log):
                continue
            if target.exists() or source.is_symlink() or not source.is_file():
                continue
            shutil.copyfile(source, target)
            node.setdefault("steps", []).append(record)
            added += 1
        partial = folder / "node.json.partial"
        partial.write_text(json.dumps(node, indent=1))
        os.replace(partial, folder / "node.json")
        return added
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
