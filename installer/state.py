"""What multiarc-install remembers between runs: ``/var/lib/multiarc/state.json``.

One JSON document: the installed bundle (version, where it was extracted, target kernel),
per host the status of every role and whether a reboot is pending, and the record of the
last run (started, finished, result, log). Written atomically (temporary file in the same
folder, fsync, rename), so an interrupted run never leaves half a file behind; a run that
was killed stays recorded as ``running`` and the next run says it resumes it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multiarc.errors import InputError

SCHEMA_VERSION = 1


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RoleStatus:
    """Outcome of one role on one host in the last run that included it."""

    status: str  # "done", "failed", "skipped", "checked" (check mode), "interrupted"
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    reason: str | None = None  # why skipped (e.g. host-only role in a container)
    finished_at: str | None = None


@dataclass
class HostState:
    roles: dict[str, RoleStatus] = field(default_factory=dict)
    reboot_required: bool = False
    container: bool | None = None

    def roles_done(self) -> list[str]:
        return sorted(name for name, role in self.roles.items() if role.status == "done")


@dataclass
class RunRecord:
    started_at: str
    result: str = "running"  # "running", "ok", "failed", "interrupted", "checked"
    finished_at: str | None = None
    pid: int | None = None
    bundle_version: str | None = None
    check_mode: bool = False
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    log: str | None = None
    events: str | None = None
    changed: int = 0
    failed: int = 0


@dataclass
class InstallState:
    bundle_version: str | None = None
    bundle_dir: str | None = None  # extracted bundle on the controller
    target_kernel: str | None = None  # kernel release the bundle installs, e.g. 6.14.0-1006-intel
    inventory: str | None = None  # the --inventory file of the last install, None for localhost
    hosts: dict[str, HostState] = field(default_factory=dict)
    last_run: RunRecord | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    schema: int = SCHEMA_VERSION

    @property
    def reboot_required(self) -> bool:
        return any(h.reboot_required for h in self.hosts.values())

    def host(self, name: str) -> HostState:
        return self.hosts.setdefault(name, HostState())

    def was_interrupted(self) -> bool:
        """True when the last recorded run never reached its end (killed, power loss)."""
        return self.last_run is not None and self.last_run.result in ("running", "interrupted")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstallState:
        hosts = {
            name: HostState(
                roles={r: RoleStatus(**s) for r, s in h.get("roles", {}).items()},
                reboot_required=bool(h.get("reboot_required", False)),
                container=h.get("container"),
            )
            for name, h in data.get("hosts", {}).items()
        }
        last = data.get("last_run")
        return cls(
            bundle_version=data.get("bundle_version"),
            bundle_dir=data.get("bundle_dir"),
            target_kernel=data.get("target_kernel"),
            inventory=data.get("inventory"),
            hosts=hosts,
            last_run=RunRecord(**last) if last else None,
            created_at=data.get("created_at", now_iso()),
            updated_at=data.get("updated_at", now_iso()),
            schema=int(data.get("schema", SCHEMA_VERSION)),
        )


def load_state(path: Path) -> InstallState:
    """The recorded state, or an empty one when nothing was installed yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return InstallState()
    try:
        return InstallState.from_dict(json.loads(text))
    except (ValueError, TypeError, KeyError) as err:
        raise InputError(
            f"state file {path} is unreadable ({err})",
            f"move it aside (mv {path} {path}.bad) and run multiarc-install again",
        ) from err


def save_state(path: Path, state: InstallState) -> None:
    """Write the state atomically: readers see the old or the new file, never a mix."""
    state.updated_at = now_iso()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(state.to_dict(), handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
