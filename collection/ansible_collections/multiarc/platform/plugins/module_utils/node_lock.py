"""The node's multiarc-install lock file: who holds it, taking it, and its release by the
run that holds it. Shared by the modules multiarc_preflight (the run's first step takes
it), multiarc_node_lock (take or release it alone) and multiarc_node_record (the run's last
step: record what was installed, then release)."""

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


def _write_owner(path, owner, replace):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if replace:
        tmp = f"{path}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as handle:
            json.dump(owner, handle)
        os.replace(tmp, path)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as handle:
        json.dump(owner, handle)


def acquire(path, owner, check_mode):
    """Take the lock for ``owner``: (error message or None, holder before, taken over).

    Another controller's lock is an error that names it; this controller's own (the same
    C(controller) string: its earlier run is dead, since a controller holds its own lock
    while it runs) is taken over. Check mode writes nothing."""
    held = read_owner(path)
    if held is not None and held.get("controller") != owner.get("controller"):
        return (
            f"another multiarc-install holds this node: {held.get('controller')} "
            f"(pid {held.get('pid')}, run {held.get('run_id')}, since {held.get('started')}); "
            f"wait for it to finish, or, if that run is gone, remove {path} on the node"
        ), held, False
    if not check_mode:
        try:
            _write_owner(path, owner, replace=held is not None)
        except FileExistsError:
            return f"another multiarc-install took this node's lock {path} just now", held, False
    return None, held, held is not None
