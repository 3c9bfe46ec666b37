"""`python -m multiarc.<part>` runs the same command as the console script (e.g. under sudo
where the venv's bin folder is not on PATH)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "prog"),
    [
        ("multiarc.installer", "multiarc-install"),
        ("multiarc.evaluation", "multiarc-eval"),
        ("multiarc.collect", "multiarc-collect-sysinfo"),
    ],
)
def test_python_dash_m_is_the_command(module: str, prog: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"Usage: {prog} ")
    bad = subprocess.run(
        [sys.executable, "-m", module, "--no-such-flag"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert "--no-such-flag" in bad.stderr
