"""The node's multiarc-install lock file: who holds it, and its release by the run that
holds it. Shared by the modules multiarc_node_lock (take or release it) and
multiarc_node_record (the run's last step: record what was installed, then release)."""

from __future__ import annotations

import json
import os


def read_owner(path):
    """The lock's owner record, None when there is no lock; a placeholder when it cannot be
    read (a symlink planted under its name, damaged JSON): never followed, never trusted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as err:
        return {"controller": f"(unreadable lock: {err.strerror})"}
    with os.fdopen(fd) as handle:
        try:
            data = json.load(handle)
        except ValueError:
            return {"controller": "(unreadable lock)"}
    return data if isinstance(data, dict) else {"controller": "(unreadable lock)"}


def release(path, owner, check_mode):
    """Remove the lock when it holds ``owner``'s run id; (released, holder)."""
    held = read_owner(path)
    mine = held is not None and held.get("run_id") == owner.get("run_id")
    if mine and not check_mode:
        os.unlink(path)
    return mine, held
