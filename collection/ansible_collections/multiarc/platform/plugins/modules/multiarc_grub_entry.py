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
  - Read-only; supports check mode.
options:
  path:
    description: The generated GRUB configuration.
    type: path
    default: /boot/grub/grub.cfg
  release:
    description: Kernel release, e.g. 6.14.0-1006-intel.
    type: str
    required: true
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
"""

import os  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

ENTRY = re.compile(r"^\s*(menuentry|submenu)\s+(.*?)\s*\{\s*$")
LINUX = re.compile(r"^\s*linux(?:efi|16)?\s+(\S+)")
SET_DEFAULT = re.compile(r'^\s*set\s+default="?([^"]*)"?\s*$')


def _title_and_id(rest):
    """Title and --id of a menuentry/submenu line (the id via $menuentry_id_option)."""
    try:
        words = shlex.split(rest)
    except ValueError:
        return rest, ""
    title = words[0] if words else ""
    ident = ""
    for i, word in enumerate(words[:-1]):
        if word in ("$menuentry_id_option", "--id"):
            ident = words[i + 1]
    return title, ident


def parse(text):
    """Yield (path of (title, id) pairs, kernel image) for every menuentry."""
    stack = []  # open blocks: ("submenu"|"menuentry"|"other", title, id)
    entries = []
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        match = ENTRY.match(line)
        if match:
            title, ident = _title_and_id(match.group(2))
            stack.append((match.group(1), title, ident))
            if match.group(1) == "menuentry":
                current = {
                    "path": [(t, i) for kind, t, i in stack if kind != "other"],
                    "image": "",
                }
            continue
        if stripped.endswith("{"):
            stack.append(("other", "", ""))
            continue
        if stripped == "}":
            if stack:
                kind = stack.pop()[0]
                if kind == "menuentry" and current is not None:
                    entries.append(current)
                    current = None
            continue
        linux = LINUX.match(line)
        if linux and current is not None:
            current["image"] = linux.group(1)
    return entries


def find(entries, release):
    """The normal entry booting the release; one naming it (in the submenu) first, since
    the top-level "simple" entry boots whatever kernel is newest."""
    image = "vmlinuz-" + release
    matches = [
        e
        for e in entries
        if os.path.basename(e["image"]) == image and "recovery" not in e["path"][-1][0].lower()
    ]
    named = [e for e in matches if release in e["path"][-1][0] or release in e["path"][-1][1]]
    return (named or matches or [None])[0]


def cfg_default(text):
    # grub-mkconfig writes `set default="${next_entry}"` then the configured default
    value = ""
    for line in text.splitlines():
        match = SET_DEFAULT.match(line)
        if match and "next_entry" not in match.group(1) and "saved_entry" not in match.group(1):
            value = match.group(1)
    return value


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/boot/grub/grub.cfg"},
            "release": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError:
        text = ""
    entry = find(parse(text), module.params["release"])
    result = {"changed": False, "found": entry is not None, "default": "", "titles": ""}
    if entry is not None:
        ids = [i for _, i in entry["path"]]
        titles = [t for t, _ in entry["path"]]
        by_id = all(ids) and len(set(ids)) == len(ids)
        result["default"] = ">".join(ids if by_id else titles)
        result["titles"] = ">".join(titles)
    result["cfg_default"] = cfg_default(text)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
