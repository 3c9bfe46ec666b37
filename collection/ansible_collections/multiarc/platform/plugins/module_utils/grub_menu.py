"""Reading GRUB's generated grub.cfg: menu entries (submenus included) and the default.

Shared by the modules multiarc_grub_entry (find a kernel's entry) and multiarc_boot_trial
(boot a kernel once, make it permanent later), which both regenerate grub.cfg once when it
does not list the kernel yet (:func:`lookup`).
"""

from __future__ import annotations

import os
import re
import shlex

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


def entry_default(entry):
    """(GRUB_DEFAULT value selecting the entry, its title path): submenu>entry, by the menu
    entry ids when grub.cfg has them (titles otherwise)."""
    ids = [i for _, i in entry["path"]]
    titles = [t for t, _ in entry["path"]]
    by_id = all(ids) and len(set(ids)) == len(ids)
    return ">".join(ids if by_id else titles), ">".join(titles)


def read_text(path, default=""):
    """A file's text; ``default`` when it is missing or unreadable."""
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return default


def lookup(module, path, release, mkconfig=None):
    """(grub.cfg's text, the kernel's entry or None, whether grub.cfg was regenerated).

    When grub.cfg has no entry for the kernel and ``mkconfig`` names the command that
    regenerates it (``update-grub``), that command runs once (not in check mode) and
    grub.cfg is read again; it failing fails the module."""
    text = read_text(path)
    entry = find(parse(text), release)
    if entry is not None or not mkconfig or module.check_mode:
        return text, entry, False
    rc, _out, err = module.run_command(shlex.split(mkconfig))
    if rc != 0:
        module.fail_json(msg=f"{mkconfig} failed (exit {rc}): {err.strip()[-600:]}")
    text = read_text(path)
    return text, find(parse(text), release), True


def missing_message(path, release, mkconfig):
    after = f" even after {mkconfig}: check /boot and the GRUB setup" if mkconfig else ""
    return f"{path} has no entry for vmlinuz-{release}{after}"
