"""A node's bundle folder: its room, the leftovers of earlier runs, its complete copy.

Used by multiarc_bundle_unpack (before the archive is sent, and when it is unpacked).
"""

from __future__ import annotations

import os

MARKER = ".multiarc-unpacked"


def human(n):
    return f"{n / 1e9:.2f} GB" if n >= 100_000_000 else f"{n / 1e6:.1f} MB"


def margin(n):
    return max(n // 20, 64 << 20)


def tree_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def leftovers(root):
    names = []
    for name in sorted(os.listdir(root)):
        full = os.path.join(root, name)
        if (
            name.startswith(".") and (".partial-" in name or ".old-" in name)
        ) or name == ".transfer" or name.endswith(".tar.xz"):
            names.append(full)
    return names


def put_back(root, dest):
    """A swap killed between its two renames left the good copy in .VERSION.old-*/tree."""
    if os.path.lexists(dest):
        return None
    prefix = "." + os.path.basename(dest) + ".old-"
    for name in sorted(os.listdir(root)):
        tree = os.path.join(root, name, "tree")
        if name.startswith(prefix) and os.path.isfile(os.path.join(tree, MARKER)):
            os.rename(tree, dest)
            return dest
    return None


def advice(root, dest, short_by):
    others = [
        f"{os.path.join(root, n)} ({human(tree_bytes(os.path.join(root, n)))})"
        for n in sorted(os.listdir(root))
        if not n.startswith(".") and os.path.isdir(os.path.join(root, n))
        and os.path.join(root, n) != dest
    ]
    text = f"free at least {human(short_by)} there"
    if others:
        text += "; older bundle copies: " + ", ".join(others) + " (remove those not installed)"
    else:
        text += " (the installer's own leftovers were already removed)"
    if os.path.isdir(dest):
        text += f"; the current copy {dest} is kept until the new one is complete"
    return text


def is_current(dest, marker):
    """Whether dest is a complete copy of the bundle that ``marker`` names (never through
    a link: a planted one is not this bundle)."""
    if os.path.islink(dest) or not os.path.isdir(dest):
        return False
    try:
        fd = os.open(os.path.join(dest, MARKER), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        return handle.read(len(marker.encode()) + 1) == marker.encode()
