#!/usr/bin/python
"""Boot a new kernel once (GRUB's next_entry), keeping the running kernel GRUB's default."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: multiarc_boot_trial
short_description: Make the next boot, and only the next boot, try a kernel
description:
  - Finds the kernel's normal entry in the generated grub.cfg and makes it the entry of the
    next boot only (C(grub-reboot), GRUB's C(next_entry)), while the running kernel's entry
    stays the default (C(grub-set-default), GRUB's C(saved_entry)). GRUB clears
    C(next_entry) when it boots it, so a kernel that does not come up falls back to the
    running one at the next reset. With I(saved_default), the module also makes
    C(GRUB_DEFAULT=saved) in I(defaults_file) (which the trial needs; the file's first
    version kept once at I(original)), before anything else and even when grub.cfg does not
    list the kernel yet; the caller regenerates grub.cfg (C(cfg_uses_saved) says whether
    that is still needed).
  - The running kernel is what C(running_release_file) says (C(/proc/sys/kernel/osrelease),
    the same as C(uname -r)). Its entry is the one kept; when grub.cfg has none, the
    fallback recorded by an earlier trial of the same kernel, else the entry GRUB_DEFAULT
    names, else GRUB's saved entry, else entry 0.
  - When the kernel already runs, nothing is set; a trial recorded in C(state_file) that
    is not yet made permanent stays pending (C(multiarc-install --verify) confirms it).
  - Idempotent (grubenv is written only when a value differs); supports check mode.
options:
  release:
    description: Kernel release to try, e.g. 6.12.117+deb13-amd64.
    type: str
    required: true
  grub_cfg:
    description: The generated GRUB configuration.
    type: path
    default: /boot/grub/grub.cfg
  boot_directory:
    description: GRUB's boot folder (its environment block is C(grub/grubenv) below it).
    type: path
    default: /boot
  defaults_file:
    description: GRUB's defaults (read for GRUB_DEFAULT).
    type: path
    default: /etc/default/grub
  running_release_file:
    description: Where the running kernel's release is read.
    type: path
    default: /proc/sys/kernel/osrelease
  state_file:
    description: The node's install record (its C(trial_boot) of an earlier run is read).
    type: path
    default: /var/lib/multiarc/node-state.json
  saved_default:
    description: Make C(GRUB_DEFAULT=saved) in I(defaults_file), see above.
    type: bool
    default: false
  original:
    description: >-
      Where the first version of I(defaults_file) is kept, once, before I(saved_default)
      changes it (nothing kept when unset).
    type: path
  mkconfig:
    description: >-
      Command that regenerates grub.cfg (e.g. C(update-grub)): when grub.cfg does not list
      the kernel yet, it runs once (not in check mode, after I(saved_default)) and grub.cfg
      is read again.
    type: str
  missing:
    description: >-
      When grub.cfg has no entry for the kernel, C(fail), or C(report) it (C(found)
      false, nothing set) so that the caller regenerates grub.cfg and asks again: one
      module run instead of a lookup and a trial.
    type: str
    choices: [fail, report]
    default: fail
author: multiarc
"""

RETURN = r"""
found:
  description: Whether grub.cfg has an entry for the kernel.
  type: bool
  returned: always
running:
  description: The running kernel's release.
  type: str
  returned: always
entry:
  description: GRUB_DEFAULT-style value selecting the kernel's entry (submenu>entry).
  type: str
  returned: always
trial:
  description: >-
    The pending trial (kernel, entry, fallback_entry, fallback_kernel, status pending), or
    null when none is pending (the kernel runs and is the default).
  type: dict
  returned: always
regenerated:
  description: Whether grub.cfg was regenerated (I(mkconfig)) because it lacked the kernel.
  type: bool
  returned: always
cfg_uses_saved:
  description: Whether grub.cfg boots GRUB's saved entry by default (GRUB_DEFAULT=saved).
  type: bool
  returned: always
changes:
  description: The changes to I(defaults_file) and its original (I(saved_default)).
  type: list
  returned: always
"""

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.multiarc.platform.plugins.module_utils.file_batch import (  # noqa: E402
    Batch,
)
from ansible_collections.multiarc.platform.plugins.module_utils.grub_menu import (  # noqa: E402
    entry_default,
    find,
    lookup,
    missing_message,
    parse,
    read_text,
)


def grub_default(defaults_text):
    """The last GRUB_DEFAULT= value of /etc/default/grub, unquoted ("" when unset)."""
    values = re.findall(r"(?m)^[ \t]*GRUB_DEFAULT=(.*)$", defaults_text)
    return values[-1].strip().strip("\"'") if values else ""


def grub_env(module, boot_directory):
    """GRUB's environment block as a dict ({} when there is none yet)."""
    path = os.path.join(boot_directory, "grub", "grubenv")
    if not os.path.exists(path):
        return {}
    rc, out, err = module.run_command(["grub-editenv", path, "list"])
    if rc != 0:
        module.fail_json(msg=f"grub-editenv cannot read {path}: {err.strip()}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def earlier_trial(state_file, release):
    try:
        trial = json.loads(read_text(state_file, "{}")).get("trial_boot")
    except (ValueError, AttributeError):
        return None
    return trial if isinstance(trial, dict) and trial.get("kernel") == release else None


def fallback_entry(entries, running, earlier, configured, env):
    """The entry the node keeps booting by default: the running kernel's."""
    entry = find(entries, running)
    if entry is not None:
        return entry_default(entry)[0]
    if earlier and earlier.get("fallback_entry"):
        return earlier["fallback_entry"]
    if configured and configured != "saved":
        return configured
    return env.get("saved_entry") or "0"


def saved_default(module, p):
    """GRUB_DEFAULT=saved in the defaults file (its first version kept once): the changes."""
    batch = Batch(module)
    if p["saved_default"]:
        if p["original"]:
            batch.original(p["defaults_file"], p["original"])
        batch.line(p["defaults_file"], r"^GRUB_DEFAULT=", "GRUB_DEFAULT=saved", "fail")
    return batch


def main():
    module = AnsibleModule(
        argument_spec={
            "release": {"type": "str", "required": True},
            "grub_cfg": {"type": "path", "default": "/boot/grub/grub.cfg"},
            "boot_directory": {"type": "path", "default": "/boot"},
            "defaults_file": {"type": "path", "default": "/etc/default/grub"},
            "running_release_file": {"type": "path", "default": "/proc/sys/kernel/osrelease"},
            "state_file": {"type": "path", "default": "/var/lib/multiarc/node-state.json"},
            "missing": {"type": "str", "default": "fail", "choices": ["fail", "report"]},
            "saved_default": {"type": "bool", "default": False},
            "original": {"type": "path"},
            "mkconfig": {"type": "str"},
        },
        supports_check_mode=True,
    )
    p = module.params
    # GRUB_DEFAULT as the system had it before this run (the fallback may be named there)
    configured = grub_default(read_text(p["defaults_file"]))
    defaults = saved_default(module, p)
    edits = {"changed": bool(defaults.changes), "changes": defaults.changes}
    if module._diff and defaults.diffs:
        edits["diff"] = defaults.diffs
    release = p["release"]
    running = read_text(p["running_release_file"]).strip()
    cfg, target, regenerated = lookup(module, p["grub_cfg"], release, p["mkconfig"])
    edits["changed"] = edits["changed"] or regenerated
    edits["regenerated"] = regenerated
    if target is None:
        if p["missing"] == "report" or (module.check_mode and p["mkconfig"]):
            module.exit_json(found=False, running=running, trial=None, **edits)
        module.fail_json(msg=missing_message(p["grub_cfg"], release, p["mkconfig"]))
    entries = parse(cfg)
    entry, titles = entry_default(target)
    env = grub_env(module, p["boot_directory"])
    earlier = earlier_trial(p["state_file"], release)
    result = {
        **edits,
        "found": True,
        "running": running,
        "entry": entry,
        "titles": titles,
        "cfg_uses_saved": bool(re.search(r'(?m)^\s*set\s+default="\$\{saved_entry\}"', cfg)),
        "trial": None,
    }
    if running == release:
        permanent = env.get("saved_entry") == entry or (
            configured not in ("saved", "") and configured == entry
        )
        if not permanent and earlier:
            result["trial"] = dict(earlier, status="pending")
        module.exit_json(**result)
    keep = fallback_entry(entries, running, earlier, configured, env)
    commands = []
    if env.get("saved_entry") != keep:
        commands.append(["grub-set-default", f"--boot-directory={p['boot_directory']}", keep])
    if env.get("next_entry") != entry:
        commands.append(["grub-reboot", f"--boot-directory={p['boot_directory']}", entry])
    for argv in commands:
        if module.check_mode:
            continue
        rc, _, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg=f"{' '.join(argv)} failed: {err.strip()}")
    result["changed"] = bool(commands or edits["changed"])
    result["commands"] = [" ".join(argv) for argv in commands]
    result["trial"] = {
        "kernel": release,
        "entry": entry,
        "fallback_entry": keep,
        "fallback_kernel": running,
        "status": "pending",
    }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
