#!/usr/bin/python
"""A run's last step on a node: record what it has installed, then release its lock."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: multiarc_node_record
short_description: Write the node's multiarc record and release this run's node lock
description:
  - Writes I(record) as JSON to I(path) (what C(multiarc-install --verify) reads back),
    atomically (a new file beside it, then rename; a link planted under its name is never
    followed) and only when the text differs, so that a re-run that changes nothing
    rewrites nothing.
  - With I(keep_trial), the C(trial_boot) of the record already on the node is kept
    (the kernel role did not run in this run and so said nothing about it).
  - Then removes the node lock at I(lock_path) when it holds I(lock_owner)'s C(run_id),
    the same release C(multiarc_node_lock state=released) does, without a second module
    run. The controller releases the lock itself on nodes that did not get this far.
  - Check mode writes and removes nothing; it reports whether the record would change.
options:
  path:
    type: path
    default: /var/lib/multiarc/node-state.json
  record:
    description: The record (bundle version and sha256, target kernel, parameters, ...).
    type: dict
    required: true
  keep_trial:
    description: Keep the C(trial_boot) of the record on the node instead of I(record)'s.
    type: bool
    default: false
  lock_path:
    type: path
    default: /var/lib/multiarc/node.lock
  lock_owner:
    description: This run's lock owner (C(run_id) is compared); none, no release.
    type: dict
author: multiarc
"""

RETURN = r"""
lock_released:
  description: Whether this run's lock was removed (also as the fact multiarc_lock_released).
  type: bool
  returned: always
"""

import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.multiarc.platform.plugins.module_utils.node_lock import (  # noqa: E402
    release,
)


def read_text(path):
    """The record's text, "" when there is none or it is not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode(errors="replace")


def previous_trial(text):
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data.get("trial_boot") if isinstance(data, dict) else None


def write_atomically(path, text):
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".multiarc-record-", dir=folder)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/var/lib/multiarc/node-state.json"},
            "record": {"type": "dict", "required": True},
            "keep_trial": {"type": "bool", "default": False},
            "lock_path": {"type": "path", "default": "/var/lib/multiarc/node.lock"},
            "lock_owner": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    p = module.params
    before = read_text(p["path"])
    record = dict(p["record"])
    if p["keep_trial"]:
        record["trial_boot"] = previous_trial(before)
    text = json.dumps(record, indent=4, sort_keys=True) + "\n"
    changed = text != before
    if changed and not module.check_mode:
        try:
            write_atomically(p["path"], text)
        except OSError as err:
            module.fail_json(msg=f"cannot write {p['path']}: {err.strerror or err}")
    released = False
    if p["lock_owner"]:
        try:
            released, _held = release(p["lock_path"], p["lock_owner"], module.check_mode)
        except OSError as err:
            module.warn(f"the node lock {p['lock_path']} was not released: {err.strerror}")
    result = {
        "changed": changed,
        "lock_released": bool(released),
        "ansible_facts": {"multiarc_lock_released": bool(released)},
    }
    if module._diff and changed:
        result["diff"] = {"before": before, "after": text, "before_header": p["path"],
                          "after_header": p["path"]}  # fmt: skip
    module.exit_json(**result)


if __name__ == "__main__":
    main()
