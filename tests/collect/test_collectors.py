"""Generated collector items on planted trees: the /sys/kernel/debug/dri tree and why it is
missing, NUMA nodes, governors of every CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from multiarc.collect import collectors
from multiarc.collect.context import Context
from multiarc.collect.runner import _VersionCache, run_item
from multiarc.collect.spec import Generate, Status


def _dri_item() -> Generate:
    return next(
        item
        for c in collectors.build_collectors(Context(timeout_cap=1))
        for item in c.items
        if item.name == "kernel/dri_tree.txt"
    )  # type: ignore[return-value]


def _run(item: Generate, root: Path, is_root: bool = True) -> tuple[Status, str, str]:
    result = run_item(item, "kernel", Context(root=root, is_root=is_root), _VersionCache())
    return result.status, result.reason, result.data.decode()


def test_dri_tree_lists_every_file(tmp_path: Path) -> None:
    dri = tmp_path / "sys/kernel/debug/dri"
    for rel in ("0/name", "0/clients", "0/gt0/uc/guc_info", "0/gt0/uc/huc_info", "128/name"):
        (dri / rel).parent.mkdir(parents=True, exist_ok=True)
        (dri / rel).write_text("x")
    status, _, text = _run(_dri_item(), tmp_path)
    assert status == Status.OK
    lines = text.splitlines()
    assert lines[0] == str(dri)
    assert "|-- 0/" in lines and "|-- 128/" in lines
    assert "        |-- uc/" in lines and "            |-- guc_info" in lines
    assert sum("|-- name" in line for line in lines) == 2


def test_dri_tree_says_debugfs_is_not_mounted(tmp_path: Path) -> None:
    (tmp_path / "sys/kernel/debug").mkdir(parents=True)  # the empty mount point, as here
    status, reason, _ = _run(_dri_item(), tmp_path)
    assert status == Status.SKIPPED
    assert reason.startswith("debugfs is not mounted")


def test_dri_tree_without_root_says_it_needs_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sys/kernel/debug/dri/0").mkdir(parents=True)

    def denied(path: object) -> list[str]:  # what a user meets: debugfs is 0700 root
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(collectors.os, "listdir", denied)
    status, reason, _ = _run(_dri_item(), tmp_path, is_root=False)
    assert status == Status.SKIPPED
    assert (
        reason
        == "permission denied (needs root: run multiarc-collect-sysinfo with sudo to include it)"
    )
    status, reason, _ = _run(_dri_item(), tmp_path, is_root=True)
    assert (status, reason) == (Status.SKIPPED, "unreadable: Permission denied")


def test_numa_nodes_and_every_governor(tmp_path: Path) -> None:
    node = tmp_path / "sys/devices/system/node"
    for n, cpus in ((0, "0-3"), (1, "4-7")):
        (node / f"node{n}").mkdir(parents=True)
        (node / f"node{n}/cpulist").write_text(cpus + "\n")
        (node / f"node{n}/meminfo").write_text(f"Node {n} MemTotal:       2097152 kB\n")
    (node / "possible").write_text("0-1\n")
    cpu = tmp_path / "sys/devices/system/cpu"
    for n in range(8):
        (cpu / f"cpu{n}/cpufreq").mkdir(parents=True)
        gov = "performance" if n < 6 else "powersave"
        (cpu / f"cpu{n}/cpufreq/scaling_governor").write_text(gov + "\n")
    ctx = Context(root=tmp_path)
    assert (
        collectors._numa(ctx)
        == "node0: cpus 0-3  memory 2048 MiB\nnode1: cpus 4-7  memory 2048 MiB\n"
    )
    governors = collectors._governors(ctx).splitlines()
    assert len(governors) == 8 and governors[7] == "cpu7 powersave"
    assert governors[0] == "cpu0 performance"


def test_slow_tools_start_first_then_the_files_then_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU host waits on its slow tools: they start first; a bare machine's longest CPU
    task is compressing the logs it copies: the files start next, the other commands and
    the generated texts after them."""
    from multiarc.collect import runner
    from multiarc.collect.spec import Collector, Command, CopyFile, CopyTree

    items = (
        Command("a.txt", ("true",)),
        Generate("b.txt", lambda _ctx: b"b", "generated"),
        CopyFile("c.txt", tmp_path / "c"),
        Command("diag.txt", ("true",), timeout=300.0),
        CopyTree("logs", tmp_path, "*.log", 10, 2**20),
        Command("discovery.txt", ("true",), timeout=120.0),
    )
    started: list[str] = []
    real = runner.run_item

    def record(item: object, *args: object) -> object:
        started.append(item.name)  # type: ignore[attr-defined]
        return real(item, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "run_item", record)
    list(runner.run_collectors([Collector("x", items)], Context(root=tmp_path), 1))
    assert started == ["diag.txt", "discovery.txt", "c.txt", "logs", "a.txt", "b.txt"]
