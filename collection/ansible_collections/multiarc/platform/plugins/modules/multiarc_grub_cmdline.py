#!/usr/bin/python
"""Add kernel parameters to GRUB_CMDLINE_LINUX_DEFAULT, keeping the user's others."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: multiarc_grub_cmdline
short_description: Kernel parameters in GRUB's defaults, and whether grub.cfg has them
description:
  - Makes every one of I(params) part of the last C(GRUB_CMDLINE_LINUX_DEFAULT=) line of
    I(defaults_file). The user's other parameters stay in their order; a parameter of
    the same name with another value (C(intel_iommu=on) for C(intel_iommu=off)) is
    replaced. When all of I(params) are there already, the line is left exactly as it is.
  - Keeps the file's first version at I(original), once (when nothing is there yet).
  - Reads I(grub_cfg) and says whether it is C(stale) (a normal entry's C(linux) line
    lacks one of I(params), or it has no such line), and grub.cfg must be regenerated
    even though the defaults are right (an earlier run was interrupted before it).
    Recovery entries (C(single), C(recovery)) get C(GRUB_CMDLINE_LINUX) alone and are
    not counted.
  - One module run for what took a read and a line edit. Supports check and diff mode.
options:
  params:
    description: Kernel parameters, e.g. C(intel_iommu=off).
    type: list
    elements: str
    required: true
  defaults_file:
    type: path
    default: /etc/default/grub
  grub_cfg:
    type: path
    default: /boot/grub/grub.cfg
  original:
    description: Where the first version of I(defaults_file) is kept (nothing when unset).
    type: path
author: multiarc
"""

RETURN = r"""
changes:
  description: The changes made to I(defaults_file) and its original.
  type: list
  returned: always
stale:
  description: Whether grub.cfg lacks the parameters (regenerate it).
  type: bool
  returned: always
cmdline:
  description: The GRUB_CMDLINE_LINUX_DEFAULT value wanted.
  type: str
  returned: always
"""

import re  # noqa: E402
import shlex  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.multiarc.platform.plugins.module_utils.file_batch import (  # noqa: E402
    Batch,
)
from ansible_collections.multiarc.platform.plugins.module_utils.grub_menu import (  # noqa: E402
    read_text,
)

CMDLINE_LINE = r"^[ \t]*GRUB_CMDLINE_LINUX_DEFAULT="
CMDLINE = re.compile(CMDLINE_LINE + "(.*)$", re.M)
LINUX = re.compile(r"^[ \t]*linux(?:efi|16)?[ \t].*$", re.M)
RECOVERY = re.compile(r"\s(single|recovery)(\s|$)")


def current_words(defaults_text):
    """The words of the last GRUB_CMDLINE_LINUX_DEFAULT (its shell quoting undone)."""
    values = CMDLINE.findall(defaults_text)
    if not values:
        return []
    value = values[-1].strip()
    try:
        parts = shlex.split(value)
    except ValueError:
        parts = [value.strip("\"'")]
    return " ".join(parts).split()


def wanted_words(words, params):
    if all(param in words for param in params):
        return words
    names = {param.split("=", 1)[0] for param in params}
    kept = [w for w in words if w.split("=", 1)[0] not in names]
    return kept + list(params)


def cfg_is_stale(cfg_text, params):
    lines = [line for line in LINUX.findall(cfg_text or "") if not RECOVERY.search(line)]
    if not lines:
        return True
    return any(param not in line.split() for line in lines for param in params)


def main():
    module = AnsibleModule(
        argument_spec={
            "params": {"type": "list", "elements": "str", "required": True},
            "defaults_file": {"type": "path", "default": "/etc/default/grub"},
            "grub_cfg": {"type": "path", "default": "/boot/grub/grub.cfg"},
            "original": {"type": "path"},
        },
        supports_check_mode=True,
    )
    p = module.params
    text = read_text(p["defaults_file"], None)
    if text is None:
        module.fail_json(msg=f"{p['defaults_file']} does not exist or cannot be read")
    words = current_words(text)
    wanted = wanted_words(words, p["params"])
    batch = Batch(module)
    if p["original"]:
        batch.original(p["defaults_file"], p["original"])
    if wanted != words:
        line = f'GRUB_CMDLINE_LINUX_DEFAULT="{" ".join(wanted)}"'
        batch.line(p["defaults_file"], CMDLINE_LINE, line, "fail")
    result = {
        "changed": bool(batch.changes),
        "changes": batch.changes,
        "stale": cfg_is_stale(read_text(p["grub_cfg"]), p["params"]),
        "cmdline": " ".join(wanted),
    }
    if module._diff and batch.diffs:
        result["diff"] = batch.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
