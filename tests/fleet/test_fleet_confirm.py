"""The repeats of --confirm fetched from a node join the host's run folder: only repeat
records, only plain files in steps/, never over a file already there."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from multiarc.evaluation.fleet_confirm import merge_repeats, replay_calls


def _archive(path: Path, node: dict[str, object], files: dict[str, bytes],
             links: dict[str, str]) -> Path:  # fmt: skip
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {**files, "node.json": json.dumps(node).encode()}.items():
            info = tarfile.TarInfo(f"run/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(f"run/{name}")
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def test_only_repeat_logs_inside_steps_are_taken(tmp_path: Path) -> None:
    host = tmp_path / "hosts" / "n1"
    (host / "steps").mkdir(parents=True)
    (host / "steps" / "01-a.log").write_text("first run\n")
    (host / "node.json").write_text(json.dumps({"steps": [{"name": "a", "log": "steps/01-a.log"}]}))
    records = [
        {"name": "a@confirm1", "log": "steps/01-a_confirm1.log"},  # taken
        {"name": "a@confirm1", "log": "steps/01-a.log"},  # would overwrite the first run's
        {"name": "b@confirm1", "log": "../../../evil.log"},  # a path of the node's choosing
        {"name": "c@confirm1", "log": "steps/03-c_confirm1.log"},  # no such file
        {"name": "plain", "log": "steps/04-plain.log"},  # not a repeat
    ]
    archive = _archive(
        tmp_path / "confirm.tar.gz",
        {"steps": records},
        {"steps/01-a_confirm1.log": b"repeat\n", "steps/01-a.log": b"forged\n",
         "steps/04-plain.log": b"x\n"},
        {},
    )  # fmt: skip
    assert merge_repeats(host, archive) == 1
    node = json.loads((host / "node.json").read_text())
    assert [s["name"] for s in node["steps"]] == ["a", "a@confirm1"]
    assert (host / "steps" / "01-a.log").read_text() == "first run\n"
    assert (host / "steps" / "01-a_confirm1.log").read_text() == "repeat\n"
    assert sorted(p.name for p in (host / "steps").iterdir()) == ["01-a.log", "01-a_confirm1.log"]
    assert not (tmp_path / "evil.log").exists()
    assert sorted(p.name for p in host.parent.iterdir()) == ["n1"]  # no scratch left


def test_replay_calls_keep_only_counter_names(tmp_path: Path) -> None:
    good = "0123456789abcdef0123456789abcdef01234567"
    calls = {good: 2, "../x": 1, "f" * 40: -1, "e" * 40: "3"}
    (tmp_path / "node.json").write_text(json.dumps({"replay_calls": calls}))
    assert replay_calls(tmp_path) == {good: 2}


def test_an_archive_with_a_link_out_is_refused_whole(tmp_path: Path) -> None:
    host = tmp_path / "hosts" / "n1"
    host.mkdir(parents=True)
    (host / "node.json").write_text(json.dumps({"steps": []}))
    records = [{"name": "c@confirm1", "log": "steps/03-c_confirm1.log"}]
    archive = _archive(tmp_path / "confirm.tar.gz", {"steps": records}, {},
                       {"steps/03-c_confirm1.log": "/etc/passwd"})  # fmt: skip
    with pytest.raises(ValueError, match="archive refused"):
        merge_repeats(host, archive)
    assert json.loads((host / "node.json").read_text()) == {"steps": []}
    assert sorted(p.name for p in host.parent.iterdir()) == ["n1"]


def test_a_node_archive_with_a_link_out_fails_that_host_only(tmp_path: Path) -> None:
    """The first round's archives go through the same unpacking: a host whose archive holds
    a link out of its folder is 'failed' with the reason, not a traceback."""
    from multiarc.evaluation.fleet_host import JudgeOptions
    from multiarc.evaluation.fleet_judging import Judging

    from multiarc import fleet

    judging = Judging(tmp_path, {"n1": None}, {}, JudgeOptions())
    (tmp_path / ".fetch").mkdir()
    _archive(tmp_path / ".fetch" / "n1.tar.gz", {"steps": []}, {}, {"root/etc": "/etc"})
    try:
        judging.arrived("n1")
        (outcome,) = judging.finish(["n1"], fleet.HostEvents(lambda _t: None))
    finally:
        judging.close()
    assert outcome.status == "failed" and "archive refused" in outcome.reason
    assert not (tmp_path / "hosts" / "n1").exists()
