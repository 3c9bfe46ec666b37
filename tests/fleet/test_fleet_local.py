"""The whole fleet path on this machine: Ansible's local connection stands in for SSH.

Three inventory hosts replay different recordings through the real playbook, module,
fetch, controller-side judging and fleet report; a fourth host has no listener. (The
loopback SSH nodes of tests/integration/test_fleet.py do the same over real SSH.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "tests" / "recordings"
EVAL = [sys.executable, "-m", "multiarc.evaluation"]


def _inventory(tmp_path: Path) -> Path:
    local = "ansible_connection=local ansible_python_interpreter=" + sys.executable
    text = "\n".join(
        [
            "[rack]",
            f"good multiarc_replay={RECORDINGS / 'b60x4'} {local}",
            f"slow multiarc_replay={RECORDINGS / 'b60x4-slow-gpu'} {local}",
            f"link multiarc_replay={RECORDINGS / 'b60x4-degraded-link'} {local}",
            "gone ansible_host=127.0.0.1 ansible_port=1 ansible_user=root",
            "",
        ]
    )
    path = tmp_path / "rack.ini"
    path.write_text(text)
    return path


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EVAL, *args], capture_output=True, text=True, timeout=timeout)


def test_fleet_finds_the_slow_gpu_the_degraded_link_and_the_unreachable_host(
    tmp_path: Path,
) -> None:
    out = tmp_path / "results"
    done = _run(
        "basic", "--inventory", str(_inventory(tmp_path)), "--output", str(out),
        "--devices", "all", "--skip-ccl", "--timeout-scale", "0.2", "--forks", "4",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (run,) = out.iterdir()
    report = json.loads((run / "fleet_report.json").read_text())
    hosts = {h["host"]: h for h in report["hosts"]}
    assert hosts["gone"]["verdict"] == "UNREACHABLE"
    assert "port 1" in hosts["gone"]["reason"]
    assert hosts["link"]["verdict"] == "FAIL"
    assert any("0000:1b:00.0" in c for c in hosts["link"]["checks"])
    found = {(o["host"], o["gpu"]) for o in report["outliers"]}
    assert ("slow", "2 (0000:98:00.0)") in found
    assert ("link", "1 (0000:1b:00.0)") in found
    assert not any(host == "good" for host, _ in found)
    for name in ("good", "slow", "link"):
        folder = run / "hosts" / name
        assert (folder / "report.json").is_file() and (folder / "steps").is_dir()
        assert (folder / "benchmark_detail_log.txt").stat().st_size > 0
    assert not (run / "hosts" / "gone").exists()
    for name in ("fleet_report.csv", "fleet_report.html"):
        assert (run / name).stat().st_size > 0
    assert "OUTLIER slow GPU 2" in done.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rack]\n", "defines no hosts"),
        ("[rack\nnode1\n", "cannot read inventory"),
    ],
)
def test_bad_inventory_is_exit_2(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rack.ini"
    path.write_text(text)
    done = _run("quick", "--inventory", str(path), "--output", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert done.stderr.startswith("error:") and "hint:" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_inventory_and_empty_limit_are_exit_2(tmp_path: Path) -> None:
    done = _run("basic", "--inventory", str(tmp_path / "none.ini"), "--output", str(tmp_path))
    assert done.returncode == 2 and "inventory file not found" in done.stderr
    done = _run(
        "quick", "--inventory", str(_inventory(tmp_path)), "--limit", "nosuch",
        "--output", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 2 and "matches no host" in done.stderr


def test_quick_on_a_limited_fleet(tmp_path: Path) -> None:
    done = _run(
        "quick", "--inventory", str(_inventory(tmp_path)), "--limit", "good,link",
        "--output", str(tmp_path / "r"),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    (run,) = (tmp_path / "r").iterdir()
    report = json.loads((run / "fleet_report.json").read_text())
    assert sorted(h["host"] for h in report["hosts"]) == ["good", "link"]
    verdicts = {h["host"]: h["verdict"] for h in report["hosts"]}
    assert verdicts["link"] == "FAIL"


def test_host_names_that_are_paths_stay_apart_and_inside_the_run_folder(tmp_path: Path) -> None:
    """Inventory names are not paths: '../up', 'rack/a' and 'rack_a' (the same once made a
    folder name) each get their own folder under hosts/, and nothing lands outside."""
    local = "ansible_connection=local ansible_python_interpreter=" + sys.executable
    lines = [
        "[rack]",
        f"../up multiarc_replay={RECORDINGS / 'b60x4'} {local}",
        f"rack/a multiarc_replay={RECORDINGS / 'b60x4'} {local}",
        f"rack_a multiarc_replay={RECORDINGS / 'b60x4-degraded-link'} {local}",
    ]
    inventory = tmp_path / "odd.ini"
    inventory.write_text("\n".join(lines) + "\n")
    out = tmp_path / "deep" / "results"
    out.mkdir(parents=True)
    done = _run("quick", "--inventory", str(inventory), "--output", str(out))
    assert done.returncode == 1, done.stdout + done.stderr  # rack_a's degraded link
    (run,) = out.iterdir()
    report = json.loads((run / "fleet_report.json").read_text())
    verdicts = {h["host"]: h["verdict"] for h in report["hosts"]}
    assert verdicts["rack_a"] == "FAIL", verdicts  # each judged from its own folder
    assert verdicts["../up"] in ("PASS", "WARN") and verdicts["rack/a"] in ("PASS", "WARN")
    folders = sorted(p.name for p in (run / "hosts").iterdir())
    assert folders == [".._up", "rack_a", "rack_a-2"], folders
    assert sorted(p.name for p in out.iterdir()) == [run.name]  # nothing beside the run
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["results"]


def test_confirm_on_a_fleet_repeats_only_the_failing_steps_of_their_hosts(
    tmp_path: Path,
) -> None:
    """--confirm (default 1) on a fleet, as on one host: the fluttering figure of one host
    is UNSTABLE (the repeat sees the recording's later answer), the degraded link of another
    a FAIL confirmed by its repeat, and the healthy host runs no repeat at all."""
    local = "ansible_connection=local ansible_python_interpreter=" + sys.executable
    lines = ["[rack]"] + [
        f"{name} multiarc_replay={RECORDINGS / recording} {local}"
        for name, recording in (("flutter", "b60x4-flutter"), ("link", "b60x4-degraded-link"),
                                ("good", "b60x4"))
    ]  # fmt: skip
    inventory = tmp_path / "rack.ini"
    inventory.write_text("\n".join(lines) + "\n")
    out = tmp_path / "results"
    done = _run("basic", "--inventory", str(inventory), "--output", str(out), "--skip-ccl")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "confirming:" in done.stdout + done.stderr
    (run,) = out.iterdir()
    reports = {h: json.loads((run / "hosts" / h / "report.json").read_text())
               for h in ("flutter", "link", "good")}  # fmt: skip
    flutter = reports["flutter"]
    assert flutter["verdict"] == "UNSTABLE" and flutter["counts"]["FAIL"] == 0
    unstable = [m for m in flutter["metrics"] if m["verdict"] == "UNSTABLE"]
    assert {(m["size"], m["value"], tuple(m["repeats"])) for m in unstable} == {
        ("128 MB", 31.27, (46.21,)), ("256 MB", 30.94, (46.17,))
    }  # fmt: skip
    steps = {s["name"]: s for s in json.loads((run / "hosts/flutter/steps.json").read_text())}
    assert steps["ze_peer-bidir-write-0-1@confirm1"]["ok"]
    detail = (run / "hosts/flutter/benchmark_detail_log.txt").read_text()
    assert detail.count("Bandwidth Write : Device( 0 )<->Device( 1 )") == 1  # the original's
    failed = [m for m in reports["link"]["metrics"] if m["verdict"] == "FAIL"]
    assert failed and all("confirmed by 1 repeat(s)" in m["note"] for m in failed)
    assert not any("@confirm" in s["name"] for s in reports["good"]["steps"])
    fleet_report = json.loads((run / "fleet_report.json").read_text())
    verdicts = {h["host"]: h["verdict"] for h in fleet_report["hosts"]}
    assert verdicts["flutter"] == "UNSTABLE" and verdicts["link"] == "FAIL", verdicts
    assert not list(run.glob(".fetch*")) and not list((run / "hosts").glob("*.confirm"))
