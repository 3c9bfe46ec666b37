"""Conditions recorded with every result (a busy GPU is WARN), compare's resolution rule and
--only-changed, and output folders that cannot be written (exit 2, no traceback)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from multiarc.evaluation.cli import main
from multiarc.evaluation.conditions import differences, gpu_holders
from multiarc.evaluation.model import Metric
from multiarc.evaluation.reports.compare import compare_metrics

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
LOG = RECORDINGS / "b60x4" / "benchmark_detail_log.txt"
REFERENCE = RECORDINGS / "b60x4" / "reference_perf.csv"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _busy_recording(tmp_path: Path) -> Path:
    """b60x4 with a process (pid 4242, python3) holding renderD130 in its /proc slice."""
    copy = Path(shutil.copytree(RECORDINGS / "b60x4", tmp_path / "b60x4-busy", symlinks=True))
    proc = copy / "root" / "proc" / "4242"
    (proc / "fd").mkdir(parents=True)
    (proc / "comm").write_text("python3\n")
    (proc / "fd" / "3").symlink_to("/dev/dri/renderD130")
    (proc / "fd" / "4").symlink_to("/tmp/not-a-gpu")
    return copy


def test_a_step_started_on_a_busy_gpu_is_warn(tmp_path: Path) -> None:
    recording = _busy_recording(tmp_path)
    assert [str(h) for h in gpu_holders(recording / "root")] == ["pid 4242 (python3: renderD130)"]
    result = invoke("basic", "--replay", str(recording), "--output", str(tmp_path / "r"),
                    "--skip-ccl")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "GPU busy: pid 4242 (python3: renderD130)" in result.output
    run = next((tmp_path / "r").iterdir())
    steps = json.loads((run / "steps.json").read_text())
    assert all(s["warnings"] and s["conditions"]["gpu_holders"] for s in steps if s["argv"]
               and s["name"] != "setvars")  # fmt: skip
    report = json.loads((run / "report.json").read_text())
    assert report["verdict"] == "WARN"


def test_the_runs_conditions_are_recorded(tmp_path: Path) -> None:
    result = invoke("basic", "--replay", str(RECORDINGS / "b60x4"), "--output", str(tmp_path),
                    "--skip-ccl")  # fmt: skip
    assert result.exit_code == 0
    meta = json.loads((next(tmp_path.iterdir()) / "meta.json").read_text())
    conditions = meta["conditions"]
    assert conditions["cpu_governor"] == "powersave"
    assert conditions["benchmark_env"] == {"NEOReadDebugKeys": "1",
                                           "RenderCompressedBuffersEnabled": "0"}  # fmt: skip
    assert conditions["packages"]["xpu-smi"] and conditions["packages"]["libze1"]
    assert conditions["performance_mode"] is False


def test_compare_says_when_conditions_differ(tmp_path: Path) -> None:
    for name in ("a", "b"):
        invoke("basic", "--replay", str(RECORDINGS / "b60x4"), "--output", str(tmp_path / name),
               "--skip-ccl")  # fmt: skip
    run_a, run_b = (next((tmp_path / n).iterdir()) for n in ("a", "b"))
    meta = json.loads((run_b / "meta.json").read_text())
    meta["conditions"]["cpu_governor"] = "performance"
    meta["conditions"]["packages"]["libze1"] = "1.99"
    report = json.loads((run_b / "report.json").read_text())
    report["meta"] = meta
    (run_b / "report.json").write_text(json.dumps(report))
    result = invoke("compare", str(run_a), str(run_b), "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert "cpu_governor: powersave -> performance" in doc["conditions_differ"]
    assert any(line.startswith("packages libze1:") for line in doc["conditions_differ"])
    assert differences({"x": 1}, {"x": 1}) == []


def test_changes_below_the_printed_resolution_are_no_regression() -> None:
    a = [Metric("p2p", "Unidirectional Write", "32 B", 0.01, "GB/s", devices="0->1"),
         Metric("p2p", "Unidirectional Write", "128 MB", 24.0, "GB/s", devices="0->1")]
    b = [Metric("p2p", "Unidirectional Write", "32 B", 0.0, "GB/s", devices="0->1"),
         Metric("p2p", "Unidirectional Write", "128 MB", 20.0, "GB/s", devices="0->1")]  # fmt: skip
    table = compare_metrics(a, b, tolerance=0.10)
    assert list(table["change"]) == ["same", "regression"]


def test_compare_only_changed_keeps_the_exit_code() -> None:
    degraded = RECORDINGS / "b60x4-degraded-link" / "benchmark_detail_log.txt"
    result = invoke("compare", str(LOG), str(degraded), "--only-changed", "--format", "csv")
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("category,") and len(lines) > 1
    assert not any(line.endswith(",same") for line in lines[1:])


def _unwritable(tmp_path: Path) -> list[Path]:
    """Folders that cannot be written: a path under /proc, a file in the way, and (as root)
    a read-only mount and an immutable folder."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    found = [Path("/proc/multiarc-test"), blocker / "sub"]
    if os.geteuid() == 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(ro)]).returncode == 0:
            found.append(ro)
        immutable = tmp_path / "immutable"
        immutable.mkdir()
        if subprocess.run(["chattr", "+i", str(immutable)], capture_output=True).returncode == 0:
            found.append(immutable)
    return found


@pytest.fixture
def unwritable(tmp_path: Path):  # type: ignore[no-untyped-def]
    folders = _unwritable(tmp_path)
    yield folders
    subprocess.run(["chattr", "-i", str(tmp_path / "immutable")], capture_output=True)
    subprocess.run(["umount", str(tmp_path / "ro")], capture_output=True)


def test_basic_and_report_refuse_unwritable_output(unwritable: list[Path]) -> None:
    for folder in unwritable:
        basic = invoke("basic", "--replay", str(RECORDINGS / "b60x4"), "--output", str(folder))
        assert basic.exit_code == 2, (folder, basic.output)
        assert "error: " in basic.output and "hint: " in basic.output, folder
        assert "Traceback" not in basic.output and "checks:" not in basic.output  # nothing ran
        report = invoke("report", str(LOG), "--reference", str(REFERENCE), "--format", "html",
                        "-o", str(folder / "report.html"))  # fmt: skip
        assert report.exit_code == 2, (folder, report.output)
        assert "error: cannot write" in report.output and "hint: " in report.output
