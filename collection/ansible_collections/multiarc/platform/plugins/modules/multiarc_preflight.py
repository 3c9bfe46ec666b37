#!/usr/bin/python
"""A run's first step on a node, in one module run: the lock, the facts, the probe."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: multiarc_preflight
short_description: Take the node's lock, gather the few facts the roles use, probe the node
description:
  - One module run instead of three (each a Python start and an SSH round trip).
  - With I(lock_owner), takes the node's multiarc-install lock at I(lock_path) first, as
    C(multiarc_node_lock) does; another controller's lock fails the module and names it.
  - Gathers the facts of I(gather_subset) with Ansible's own fact collectors, as
    C(ansible.builtin.setup) does, and returns them as C(ansible_facts).
  - Returns the I(markers) that exist (container marker files), the free space in MiB of
    the fullest filesystem holding one of I(space_paths), and the I(packages) that dpkg
    has installed and configured ("ii"), as C(name=version).
  - Reads only, apart from the lock; check mode takes no lock.
options:
  lock_path:
    type: path
    default: /var/lib/multiarc/node.lock
  lock_owner:
    description: This run's lock owner; none, no lock taken.
    type: dict
  gather_subset:
    description: >-
      Fact subsets, among those the module carries the collectors of (distribution,
      platform, virtual, service_mgr, user).
    type: list
    elements: str
    default: ["!all", "!min", distribution, platform, virtual, service_mgr, user]
  markers:
    type: list
    elements: path
    default: []
  space_paths:
    type: list
    elements: path
    default: []
  packages:
    type: list
    elements: str
    default: []
author: multiarc
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.facts import ansible_collector  # noqa: E402
from ansible.module_utils.facts.namespace import PrefixFactNamespace  # noqa: E402
from ansible.module_utils.facts.system.distribution import (  # noqa: E402
    DistributionFactCollector,
)
from ansible.module_utils.facts.system.platform import PlatformFactCollector  # noqa: E402
from ansible.module_utils.facts.system.service_mgr import ServiceMgrFactCollector  # noqa: E402
from ansible.module_utils.facts.system.user import UserFactCollector  # noqa: E402
from ansible.module_utils.facts.virtual.base import VirtualCollector  # noqa: E402
from ansible.module_utils.facts.virtual.linux import LinuxVirtualCollector  # noqa: E402
from ansible_collections.multiarc.platform.plugins.module_utils.node_lock import (  # noqa: E402
    acquire,
)

_DPKG_FORMAT = "${db:Status-Abbrev} ${Package}=${Version}\\n"


# The collectors of the subsets the roles use, and only those: importing Ansible's whole
# default_collectors makes the module's payload carry every fact collector (hardware,
# network...), which the node then unpacks and imports (~0.3 s a run here).
COLLECTORS = (
    DistributionFactCollector,
    PlatformFactCollector,
    VirtualCollector,
    LinuxVirtualCollector,
    ServiceMgrFactCollector,
    UserFactCollector,
)


def facts(module, subset):
    collector = ansible_collector.get_ansible_collector(
        all_collector_classes=list(COLLECTORS),
        namespace=PrefixFactNamespace(namespace_name="ansible", prefix="ansible_"),
        gather_subset=subset,
        minimal_gather_subset=frozenset(),
    )
    return collector.collect(module=module)


def free_mb(paths):
    """The free MiB of the fullest filesystem holding one of ``paths`` (those that exist);
    None when none exists."""
    free = []
    for path in paths:
        try:
            stat = os.statvfs(path)
        except OSError:
            continue
        free.append(stat.f_bavail * stat.f_frsize // 2**20)
    return min(free) if free else None


def installed(module, packages):
    """``name=version`` of the packages dpkg has installed and configured."""
    if not packages:
        return []
    _rc, out, _err = module.run_command(["dpkg-query", "-W", "-f=" + _DPKG_FORMAT, *packages])
    return [line[3:].strip() for line in out.splitlines() if line.startswith("ii ")]


def main():
    module = AnsibleModule(
        argument_spec={
            "lock_path": {"type": "path", "default": "/var/lib/multiarc/node.lock"},
            "lock_owner": {"type": "dict"},
            "gather_subset": {"type": "list", "elements": "str",
                              "default": ["!all", "!min", "distribution", "platform",
                                          "virtual", "service_mgr", "user"]},
            "markers": {"type": "list", "elements": "path", "default": []},
            "space_paths": {"type": "list", "elements": "path", "default": []},
            "packages": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    holder, taken_over = None, False
    if params["lock_owner"]:
        error, holder, taken_over = acquire(params["lock_path"], params["lock_owner"],
                                            module.check_mode)
        if error:
            module.fail_json(msg=error, holder=holder)
    module.exit_json(
        changed=False,
        ansible_facts=facts(module, params["gather_subset"]),
        markers=[m for m in params["markers"] if os.path.exists(m)],
        free_mb=free_mb(params["space_paths"]),
        installed_specs=installed(module, params["packages"]),
        holder=holder,
        taken_over=taken_over,
    )


if __name__ == "__main__":
    main()
