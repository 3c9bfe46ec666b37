"""``multiarc-eval compare`` of two fleet run folders: per host and metric, hosts that
appear or vanish."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EVAL = [sys.executable, "-m", "multiarc.evaluation"]


def _host_run(tmp_path: Path, recording: str) -> Path:
    out = tmp_path / f"single-{recording}"
    if not out.exists():
        subprocess.run(
            [*EVAL, "basic", "--replay", str(REPO / "tests" / "recordings" / recording),
             "--output", str(out), "--skip-ccl", "--confirm", "0"],
            capture_output=True, timeout=300,
        )  # fmt: skip
    (run,) = out.iterdir()
    return run


def _fleet(tmp_path: Path, name: str, hosts: dict[str, str]) -> Path:
    folder = tmp_path / name
    (folder / "hosts").mkdir(parents=True)
    for host, recording in hosts.items():
        shutil.copytree(_host_run(tmp_path, recording), folder / "hosts" / host)
    (folder / "fleet_report.json").write_text(json.dumps({"hosts": []}))
    return folder


def test_compare_two_fleets(tmp_path: Path) -> None:
    a = _fleet(tmp_path, "a", {"n1": "b60x4", "n2": "b60x4"})
    b = _fleet(tmp_path, "b", {"n1": "b60x4-degraded-link", "n3": "b60x4"})
    done = subprocess.run(
        [*EVAL, "compare", str(a), str(b), "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["hosts_vanished"] == ["n2"] and doc["hosts_appeared"] == ["n3"]
    assert doc["regressions_by_host"]["n1"] > 0
    assert "host vanished (in A, not in B): n2" in done.stderr
    same = subprocess.run(
        [*EVAL, "compare", str(a), str(a)], capture_output=True, text=True, timeout=120
    )
    assert same.returncode == 0, same.stderr
    assert "n1: no regression" in same.stdout
