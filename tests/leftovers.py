"""What a stopped fleet or install run must not leave on the controller."""

from __future__ import annotations

import subprocess
from pathlib import Path


def assert_no_playbook_left(inventory: Path) -> None:
    """Ansible's per-host workers (sessions of their own) do not outlive a cancelled run."""
    left = subprocess.run(
        ["pgrep", "-af", f"ansible-playbook -i {inventory}"], capture_output=True, text=True
    )
    assert left.returncode == 1, left.stdout
