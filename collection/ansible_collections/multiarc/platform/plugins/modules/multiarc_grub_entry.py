#!/usr/bin/python
"""Find a kernel's GRUB menu entry in the generated grub.cfg and the GRUB_DEFAULT naming it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: multiarc_grub_entry
short_description: Find the grub.cfg menu entry that boots a kernel release
description:
  - Parses the generated grub.cfg (top-level C(menuentry) lines and C(submenu) blocks, e.g.
    "Advanced options for ...") and finds the normal (not recovery) entry whose C(linux)
    line boots C(vmlinuz-<release>).
  - Returns the GRUB_DEFAULT value that selects it, C(submenu>entry), built from the menu
    entry ids when grub.cfg has them (titles otherwise), so nothing depends on the
    distribution's name. Also returns the default grub.cfg was generated with, so a
    caller can tell whether grub.cfg must be regenerated.
  - With I(mkconfig), a grub.cfg that does not list the kernel yet is regenerated once
    with that command (not in check mode) and read again; still not listed, the module
    fails. Without it, read-only. Supports check mode.
options:
  path:
    description: The generated GRUB configuration.
    type: path
    default: /boot/grub/grub.cfg
  release:
    description: Kernel release, e.g. 6.14.0-1006-intel.
    type: str
    required: true
  running_release_file:
    description: Where the running kernel's release is read (the same as C(uname -r)).
    type: path
    default: /proc/sys/kernel/osrelease
  mkconfig:
    description: Command that regenerates grub.cfg (e.g. C(update-grub)), see above.
    type: str
author: multiarc
"""

RETURN = r"""
found:
  description: Whether grub.cfg has an entry for the release.
  type: bool
  returned: always
default:
  description: GRUB_DEFAULT value selecting the entry ("" when not found).
  type: str
  returned: always
titles:
  description: The entry's title path, submenu>entry (for people).
  type: str
  returned: always
cfg_default:
  description: The default grub.cfg was generated with (its `set default="..."`).
  type: str
  returned: always
running:
  description: The running kernel's release.
  type: str
  returned: always
regenerated:
  description: Whether grub.cfg was regenerated (I(mkconfig)) because it lacked the kernel.
  type: bool
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.multiarc.platform.plugins.module_utils.grub_menu import (  # noqa: E402
    cfg_default,
    entry_default,
    lookup,
    missing_message,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/boot/grub/grub.cfg"},
            "release": {"type": "str", "required": True},
            "running_release_file": {"type": "path", "default": "/proc/sys/kernel/osrelease"},
            "mkconfig": {"type": "str"},
        },
        supports_check_mode=True,
    )
    p = module.params
    text, entry, regenerated = lookup(module, p["path"], p["release"], p["mkconfig"])
    if entry is None and regenerated:
        module.fail_json(msg=missing_message(p["path"], p["release"], p["mkconfig"]))
    result = {
        "changed": regenerated,
        "regenerated": regenerated,
        "found": entry is not None,
        "default": "",
        "titles": "",
    }
    if entry is not None:
        result["default"], result["titles"] = entry_default(entry)
    result["cfg_default"] = cfg_default(text)
    try:
        with open(module.params["running_release_file"]) as handle:
            result["running"] = handle.read().strip()
    except OSError:
        result["running"] = ""
    module.exit_json(**result)


if __name__ == "__main__":
    main()
