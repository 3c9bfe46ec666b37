#!/usr/bin/python
"""One installer at a time on a node, whichever controller it comes from."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: multiarc_node_lock
short_description: Take or release the node's multiarc-install lock
description:
  - The controller's own lock keeps two runs from one state folder apart; this one keeps
    apart controllers that do not share a state folder (two laptops, two state folders on
    one machine) when they install onto the same node.
  - C(state=acquired) creates I(path) with C(O_CREAT|O_EXCL|O_NOFOLLOW), holding the
    I(owner) record. When it exists and names another controller, the module fails and
    says who holds it and since when. When it names this controller (same
    C(controller) string), the earlier run is dead (the controller holds its own lock
    while it runs), and the lock is taken over.
  - C(state=released) removes I(path) when it holds I(owner)'s C(run_id), else nothing.
  - Check mode writes nothing; it still fails when another controller holds the lock.
options:
  path:
    type: path
    default: /var/lib/multiarc/node.lock
  state:
    type: str
    choices: [acquired, released]
    default: acquired
  owner:
    description: C(controller) (host and state folder), C(run_id), C(pid), C(started).
    type: dict
    required: true
author: multiarc
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.multiarc.platform.plugins.module_utils.node_lock import (  # noqa: E402
    acquire,
    release,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/var/lib/multiarc/node.lock"},
            "state": {"type": "str", "default": "acquired", "choices": ["acquired", "released"]},
            "owner": {"type": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    path, owner = module.params["path"], module.params["owner"]
    if module.params["state"] == "released":
        mine, held = release(path, owner, module.check_mode)
        module.exit_json(changed=bool(mine), holder=held)
    error, held, taken_over = acquire(path, owner, module.check_mode)
    if error:
        module.fail_json(msg=error, holder=held)
    module.exit_json(changed=held is None or not module.check_mode, holder=held,
                     taken_over=taken_over)


if __name__ == "__main__":
    main()
