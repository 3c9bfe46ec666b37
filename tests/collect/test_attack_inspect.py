"""--inspect on a hostile archive: a manifest.json nested too deeply for the JSON parser is
a plain error (exit code, error: line), not a RecursionError traceback."""

from __future__ import annotations

import tarfile
from pathlib import Path

from click.testing import CliRunner
from multiarc.collect.cli import main


def test_deeply_nested_manifest_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    top = tmp_path / "top"
    top.mkdir()
    (top / "summary.txt").write_text("hi\n")
    (top / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    archive = tmp_path / "hostile.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(top, arcname="top")
    result = CliRunner().invoke(main, ["--inspect", str(archive)])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code != 0
    assert "error:" in result.output
