"""What ``multiarc-install --offline`` is asked (InstallRequest), where it keeps its files
on the controller (InstallPaths) and what it reports (InstallReport)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from multiarc.installer.summary import RoleOutcome

from multiarc import paths


@dataclass(frozen=True)
class InstallPaths:
    """Controller-side folders; defaults from multiarc.paths (MULTIARC_STATE_DIR/LOG_DIR)."""

    state_dir: Path
    log_dir: Path

    @classmethod
    def default(cls) -> InstallPaths:
        return cls(paths.STATE_DIR, paths.INSTALL_LOG_DIR)

    @property
    def state_file(self) -> Path:
        return self.state_dir / paths.STATE_FILE.name

    @property
    def lock_file(self) -> Path:
        return self.state_dir / paths.INSTALL_LOCK_FILE.name

    @property
    def bundles_dir(self) -> Path:
        return self.state_dir / paths.BUNDLES_DIR.name

    @property
    def runner_dir(self) -> Path:
        return self.state_dir / paths.RUNNER_DIR.name

    @property
    def verdicts_dir(self) -> Path:
        return self.state_dir / paths.VERDICTS_DIR.name


@dataclass
class InstallRequest:
    bundle: Path
    check: bool = False
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    inventory: Path | None = None
    allow_os_override: bool = False
    trial_boot: bool = True  # False: --no-trial-boot (the new kernel is the default at once)
    reverify: bool = False  # True: verify in full even if these bytes were verified before


@dataclass
class InstallReport:
    result: str  # ok, failed, checked
    bundle_version: str
    hosts: list[str]
    rows: list[RoleOutcome]
    changed: int
    failed: int
    reboot_hosts: list[str]
    log: Path
    events: Path
    notes: list[str] = field(default_factory=list)
    rc: int = 0
    containers: dict[str, bool] = field(default_factory=dict)  # what preflight detected
    reboot_known: set[str] = field(default_factory=set)  # hosts that reported their reboot flag
    trials: dict[str, str] = field(default_factory=dict)  # host -> kernel of its pending trial
