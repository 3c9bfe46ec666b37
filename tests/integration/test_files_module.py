"""The multiarc_files module (the collection's plugins/modules), run as Ansible runs it.

Fast and unprivileged (not marked integration): check mode changes nothing, a second run
changes nothing, backups keep the first replaced version, lines replace the last match.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from multiarc.collection import COLLECTION_ROOT, COLLECTIONS_PATH

MODULE = COLLECTION_ROOT / "plugins" / "modules" / "multiarc_files.py"


def run_module(tmp: Path, *, check: bool = False, **params: Any) -> dict[str, Any]:
    args = tmp / "args.json"
    args.write_text(
        json.dumps(
            {"ANSIBLE_MODULE_ARGS": {**params, "_ansible_check_mode": check, "_ansible_diff": True}}
        )
    )
    result = run_args_file(args)
    assert not result.get("failed"), result
    return result


def run_args_file(args: Path) -> dict[str, Any]:
    # the module imports its module_utils as Ansible's collection loader finds them
    env = {**os.environ, "PYTHONPATH": str(COLLECTIONS_PATH)}
    done = subprocess.run(
        [sys.executable, str(MODULE), str(args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def tree(root: Path) -> dict[str, tuple[int, bytes | str]]:
    out: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = (0, os.readlink(path))
        elif path.is_file():
            out[rel] = (path.stat().st_mode & 0o7777, path.read_bytes())
        else:
            out[rel] = (path.stat().st_mode & 0o7777, "dir")
    return out


def test_every_kind_of_change_once_then_nothing(tmp_path: Path) -> None:
    src = tmp_path / "bundle" / "firmware"
    src.mkdir(parents=True)
    (src / "guc.bin.zst").write_bytes(b"new guc")
    (src / "huc.bin.zst").write_bytes(b"new huc")
    node = tmp_path / "node"
    (node / "fw").mkdir(parents=True)
    (node / "fw" / "guc.bin.zst").write_bytes(b"old guc")
    (node / "etc").mkdir()
    (node / "etc" / "parser.conf").write_text("# conf\n#no-audit\nwrite-cache\n")
    (node / "etc" / "unit").write_text("a real unit file\n")
    params: dict[str, Any] = {
        "directories": [str(node / "made" / "deep")],
        "links": [{"dest": str(node / "etc" / "unit"), "src": "/dev/null"}],
        "contents": [{"dest": str(node / "etc" / "20auto"), "content": "A 0;\n", "mode": "0640"}],
        "lines": [
            {
                "path": str(node / "etc" / "parser.conf"),
                "regexp": r"^#?no-audit\b",
                "line": "no-audit",
            },
            {"path": str(node / "etc" / "absent.conf"), "regexp": "x", "line": "x"},
        ],
        "copies": [
            {"src": f"{src}/", "dest": str(node / "fw"), "backup_dir": str(node / "backup")}
        ],
    }
    before = tree(node)
    checked = run_module(tmp_path, check=True, **params)
    assert checked["changed"] is True and tree(node) == before
    assert any("parser.conf" in d["after_header"] for d in checked["diff"])

    applied = run_module(tmp_path, **params)
    assert applied["changes"] == checked["changes"]
    assert (node / "made" / "deep").is_dir()
    assert os.readlink(node / "etc" / "unit") == "/dev/null"
    assert (node / "etc" / "20auto").read_text() == "A 0;\n"
    assert (node / "etc" / "20auto").stat().st_mode & 0o777 == 0o640
    assert (node / "etc" / "parser.conf").read_text() == "# conf\nno-audit\nwrite-cache\n"
    assert not (node / "etc" / "absent.conf").exists()  # missing files are skipped
    assert (node / "fw" / "guc.bin.zst").read_bytes() == b"new guc"
    assert (node / "fw" / "huc.bin.zst").read_bytes() == b"new huc"
    assert (node / "backup" / "guc.bin.zst").read_bytes() == b"old guc"
    assert not (node / "backup" / "huc.bin.zst").exists()  # nothing was replaced

    settled = tree(node)
    again = run_module(tmp_path, **params)
    assert again["changed"] is False and again["changes"] == [] and tree(node) == settled


def test_backup_keeps_the_first_replaced_version(tmp_path: Path) -> None:
    src = tmp_path / "blob"
    dest = tmp_path / "fw" / "blob"
    dest.parent.mkdir()
    dest.write_bytes(b"distribution's")
    for version in (b"bundle 1", b"bundle 2"):
        src.write_bytes(version)
        run_module(
            tmp_path,
            copies=[{"src": str(src), "dest": str(dest), "backup_dir": str(tmp_path / "b")}],
        )
        assert dest.read_bytes() == version
    assert (tmp_path / "b" / "blob").read_bytes() == b"distribution's"


def test_a_missing_source_fails_with_its_name(tmp_path: Path) -> None:
    args = tmp_path / "args.json"
    missing = tmp_path / "nothing"
    args.write_text(
        json.dumps({"ANSIBLE_MODULE_ARGS": {"copies": [{"src": str(missing), "dest": "/x"}]}})
    )
    result = run_args_file(args)
    assert result["failed"] is True and f"{missing} not found" in result["msg"]


def test_the_original_is_kept_once_before_the_line_changes_it(tmp_path: Path) -> None:
    grub = tmp_path / "grub"
    grub.write_text("GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n")
    grub.chmod(0o640)
    original = tmp_path / "grub.multiarc-orig"
    params = {
        "originals": [{"src": str(grub), "dest": str(original)}],
        "lines": [{"path": str(grub), "regexp": "^GRUB_DEFAULT=", "line": "GRUB_DEFAULT=saved"}],
    }
    assert run_module(tmp_path, check=True, **params)["changed"] and not original.exists()
    first = run_module(tmp_path, **params)
    assert first["changed"] and len(first["changes"]) == 2
    assert original.read_text() == "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n"  # before the line
    assert original.stat().st_mode & 0o777 == 0o640
    assert grub.read_text() == "GRUB_DEFAULT=saved\nGRUB_TIMEOUT=5\n"
    grub.write_text("GRUB_DEFAULT=1\n")  # changed again later: the first version stays
    run_module(tmp_path, **params)
    assert original.read_text() == "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n"
    assert not run_module(tmp_path, **params)["changed"]
