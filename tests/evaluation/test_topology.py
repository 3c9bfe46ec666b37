"""GPU pair classes from sysfs and lspci -tv, and P2P verdicts per class."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.evaluation.cli import main
from multiarc.evaluation.reference import parse_reference
from multiarc.evaluation.topology import (
    ACROSS_ROOT_COMPLEXES,
    ACROSS_SOCKETS,
    SAME_ROOT_COMPLEX,
    SAME_SWITCH,
    GpuInput,
    build_topology,
)

from multiarc.errors import InputError

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def _inputs(numa: tuple[int, ...] = (0, 0, 1, 1)) -> list[GpuInput]:
    bdfs = ("0000:18:00.0", "0000:1b:00.0", "0000:98:00.0", "0000:9b:00.0")
    return [GpuInput(i, bdf, n) for i, (bdf, n) in enumerate(zip(bdfs, numa, strict=True))]


def _lspci(name: str) -> str:
    return (RECORDINGS / name / "outputs" / "lspci-tv.txt").read_text()


def test_two_boards_on_two_sockets() -> None:
    topo = build_topology(RECORDINGS / "b60x4" / "root", _inputs(), _lspci("b60x4"))
    assert topo.source == "sysfs (lspci -tv agrees)" and topo.notes == []
    assert topo.pair_class(0, 1) == topo.pair_class(3, 2) == SAME_SWITCH
    assert topo.pair_class(0, 2) == topo.pair_class(1, 3) == ACROSS_SOCKETS
    assert topo.class_of_label("2<->0") == ACROSS_SOCKETS
    assert topo.reference_class == SAME_SWITCH


def test_two_boards_under_one_root_complex() -> None:
    root = RECORDINGS / "b60x4-one-socket" / "root"
    topo = build_topology(root, _inputs((0, 0, 0, 0)), _lspci("b60x4-one-socket"))
    assert topo.pair_class(0, 1) == SAME_SWITCH and topo.pair_class(1, 2) == SAME_ROOT_COMPLEX
    assert topo.notes == []


def test_two_host_bridges_on_one_node_is_across_root_complexes() -> None:
    topo = build_topology(RECORDINGS / "b60x4" / "root", _inputs((0, 0, 0, 0)), None)
    assert topo.pair_class(0, 2) == ACROSS_ROOT_COMPLEXES
    assert "lspci -tv not available" in topo.notes[0]


def test_lspci_alone_when_sysfs_has_no_tree(tmp_path: Path) -> None:
    topo = build_topology(tmp_path, _inputs(), _lspci("b60x4"))
    assert topo.source == "lspci -tv"
    assert topo.pair_class(0, 1) == SAME_SWITCH and topo.pair_class(0, 3) == ACROSS_SOCKETS


def test_sysfs_and_lspci_disagreeing_is_a_warn_with_the_pairs(tmp_path: Path) -> None:
    """The one-socket tree drawn by lspci against the two-socket sysfs: the check says so."""
    copy = Path(shutil.copytree(RECORDINGS / "b60x4", tmp_path / "b60x4", symlinks=True))
    shutil.copy(RECORDINGS / "b60x4-one-socket" / "outputs" / "lspci-tv.txt",
                copy / "outputs" / "lspci-tv.txt")  # fmt: skip
    topo = build_topology(copy / "root", _inputs(), _lspci("b60x4-one-socket"))
    assert any("sysfs says across sockets, lspci -tv same root complex" in n for n in topo.notes)
    result = CliRunner().invoke(main, ["quick", "--replay", str(copy), "--json"])
    topology = next(c for c in json.loads(result.output)["checks"] if c["name"] == "topology")
    assert topology["status"] == "WARN" and "lspci -tv" in topology["reason"]


def test_a_topology_column_in_the_reference(tmp_path: Path) -> None:
    """Rows for a class judge that class; Intel's rows stay for the pair 0-1's class."""
    base = (RECORDINGS / "b60x4" / "reference_perf.csv").read_text().rstrip().splitlines()
    rows = [line + "," for line in base]
    rows[0] = base[0] + ",Topology"
    rows += ["p2p,Unidirectional Write,128 MB,30,across sockets",  # too high: FAIL
             "p2p,Unidirectional Read,128 MB,12,Across  Sockets"]  # fmt: skip
    reference = tmp_path / "reference_perf.csv"
    reference.write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(main, [
        "basic", "--replay", str(RECORDINGS / "b60x4"), "--output", str(tmp_path / "r"),
        "--pairs", "all", "--skip-ccl", "--reference", str(reference), "--confirm", "0",
    ])  # fmt: skip
    assert result.exit_code == 1
    report = json.loads(next((tmp_path / "r").iterdir()).joinpath("report.json").read_text())
    p2p = [m for m in report["metrics"] if m["category"] == "p2p" and m["size"] == "128 MB"]
    write_x = [m for m in p2p if m["subcategory"] == "Unidirectional Write"
               and m["topology"] == ACROSS_SOCKETS]  # fmt: skip
    assert write_x and all(m["reference"] == 30 and m["verdict"] == "FAIL" for m in write_x)
    read_x = [m for m in p2p if m["subcategory"] == "Unidirectional Read"
              and m["topology"] == ACROSS_SOCKETS]  # fmt: skip
    assert read_x and all(m["reference"] == 12 and m["verdict"] == "PASS" for m in read_x)
    same = [m for m in p2p if m["topology"] == SAME_SWITCH and "Unidirectional" in m["subcategory"]]
    assert same and all(m["reference"] in (24, 21.5) for m in same)


def test_an_unknown_topology_class_is_a_reference_error() -> None:
    text = ("Category,Subcategory,Data/Packet Size,Reference,Topology\n"
            "p2p,Unidirectional Write,128 MB,24,next door\n")  # fmt: skip
    with pytest.raises(InputError, match="Topology 'next door' is not one of same switch"):
        parse_reference(text)
