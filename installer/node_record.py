"""What each node says it has installed: ``/var/lib/multiarc/node-state.json`` on the node.

The playbook's last task writes it (bundle version and sha256, target kernel, the kernel
parameters the grub role applied with the inventory's overrides, container or not), so
``--verify`` checks every node against what was installed there — not against the
controller's memory of its last run, which may be of another node or another bundle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiarc import paths


@dataclass
class NodeRecord:
    host: str
    bundle_version: str = ""
    bundle_sha256: str = ""
    target_kernel: str = ""
    cmdline_params: list[str] = field(default_factory=list)
    container: bool | None = None
    problem: str = ""  # why there is no usable record (unreachable, never installed, unreadable)
    data: dict[str, Any] = field(default_factory=dict)  # the whole record (trial_boot, ...)

    @classmethod
    def parse(cls, host: str, text: str) -> NodeRecord:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("bundle_version"), str):
            return cls(host, problem=f"{paths.NODE_STATE_FILE} is unreadable")
        params = data.get("cmdline_params")
        return cls(
            host,
            bundle_version=data["bundle_version"],
            bundle_sha256=str(data.get("bundle_sha256") or ""),
            target_kernel=str(data.get("target_kernel") or ""),
            cmdline_params=[str(p) for p in params] if isinstance(params, list) else [],
            container=data.get("container") if isinstance(data.get("container"), bool) else None,
            data=data,
        )


def node_host(inventory: Path | None, name: str) -> Any:
    """A testinfra host for one node: local:// without an inventory, else ansible://NAME."""
    import testinfra

    if inventory is None:
        return testinfra.get_host("local://")
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=str(inventory))


def read_records(inventory: Path | None, hosts: list[str]) -> list[NodeRecord]:
    """Each host's record, read over the same connection the checks use (testinfra)."""
    records = []
    for name in hosts:
        try:
            host = node_host(inventory, name)
            record_file = host.file(str(paths.NODE_STATE_FILE))
            if not record_file.exists:
                missing = f"no multiarc install recorded ({paths.NODE_STATE_FILE})"
                records.append(NodeRecord(name, problem=missing))
                continue
            records.append(NodeRecord.parse(name, record_file.content_string))
        except Exception as err:  # testinfra/ansible raise many kinds for a host it cannot reach
            first = str(err).strip().splitlines()[:1] or [type(err).__name__]
            records.append(NodeRecord(name, problem=f"unreachable: {first[0][:200]}"))
    return records
