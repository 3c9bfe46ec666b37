"""Where a collection reads from: a root prefix for every system path, and the run's settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multiarc import paths


def _under(root: Path, path: Path) -> Path:
    return root / str(path).lstrip("/")


@dataclass(frozen=True)
class Context:
    root: Path = Path("/")
    is_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    state_file: Path = paths.STATE_FILE  # system paths, read below root
    install_log_dir: Path = paths.INSTALL_LOG_DIR
    results_dirs: tuple[Path, ...] = field(  # where multiarc-eval writes by default, at run time
        default_factory=lambda: (Path.cwd() / "results", paths.MULTIARC_HOME / "results")
    )
    since_install: bool = False
    since: str | None = None  # --since TIME: the journal from then on (journalctl's syntax)
    timeout_cap: float | None = None  # caps every command's own timeout (tests, impatient users)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def intel_gpus(self) -> list[Any]:
        """The supported Intel GPUs on the PCI bus (probes.intel_gpus), probed once per run:
        the collectors and the summary both ask."""
        if "gpus" not in self._memo:
            from multiarc.collect import probes

            self._memo["gpus"] = probes.intel_gpus(self.root)
        gpus: list[Any] = self._memo["gpus"]
        return gpus

    def path(self, system_path: Path | str) -> Path:
        """The system path as read here (below root; results dirs given by the user as is)."""
        return _under(self.root, Path(system_path))

    def timeout(self, own: float) -> float:
        return own if self.timeout_cap is None else min(own, self.timeout_cap)

    def command_env(self) -> dict[str, str]:
        env = dict(self.environ)
        env["LC_ALL"] = "C"
        env["LANG"] = "C"
        return env
