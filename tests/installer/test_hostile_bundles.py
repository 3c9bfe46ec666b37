"""Every hostile bundle of tests/fixtures/hostile_bundles.py is refused: exit 2, error + hint,
nothing written outside, within seconds — by `bundle verify`, by extraction (also when the
archive is swapped after verification: defence in depth) and by `--offline`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.installer import driver
from multiarc.installer.bundle import extract_bundle, verify_bundle
from multiarc.installer.cli import main

from multiarc import paths
from multiarc.errors import ExitCode, InputError, MultiarcError
from tests.fixtures.hostile_bundles import ESCAPE, Hostile, build_all

SECONDS = 30  # a refusal takes seconds, never minutes (the slowest here takes ~3 s)


@pytest.fixture(scope="session")
def hostile(bundle_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Hostile]:
    base = tmp_path_factory.mktemp("hostile")
    cases = build_all(bundle_tree, base / "bundles", base / "escape-target")
    (base / "escape-target").mkdir()
    return {case.name: case for case in cases}


KINDS = [
    "link chains", "paths", "modes", "compression", "bombs", "manifests", "layout",
    "duplicates", "special files", "versions",
]  # fmt: skip
# Cases whose bytes are a readable tar of the bundle's tree (for the swap test).
SWAPPABLE_KINDS = {"link chains", "paths", "modes", "duplicates", "special files"}


def _of_kind(hostile: dict[str, Hostile], kind: str) -> list[Hostile]:
    cases = [case for case in hostile.values() if case.kind == kind]
    assert cases, kind
    return cases


def _nothing_escaped(case: Hostile, *folders: Path) -> None:
    for escape in case.escapes:
        assert not escape.exists(), f"{case.name} wrote {escape}"
    for folder in folders:
        assert not list(folder.rglob(ESCAPE)), f"{case.name} wrote {ESCAPE} under {folder}"


def test_every_class_is_generated(hostile: dict[str, Hostile]) -> None:
    assert {case.kind for case in hostile.values()} == set(KINDS)
    assert len(hostile) >= 60


@pytest.mark.parametrize("kind", KINDS)
def test_bundle_verify_refuses_it(kind: str, hostile: dict[str, Hostile]) -> None:
    wrong = []
    for case in _of_kind(hostile, kind):
        started = time.monotonic()
        result = CliRunner().invoke(main, ["bundle", "verify", str(case.archive)])
        took = time.monotonic() - started
        said = result.output
        if (
            result.exit_code != ExitCode.USAGE
            or "error: " not in said
            or "hint: " not in said
            or "Traceback" in said
            or took > SECONDS
        ):
            wrong.append(f"{case.name}: exit {result.exit_code} in {took:.1f} s: {said!r}")
        _nothing_escaped(case, case.archive.parent)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("kind", KINDS)
def test_extraction_refuses_it_and_leaves_nothing(
    kind: str, hostile: dict[str, Hostile], tmp_path: Path
) -> None:
    wrong = []
    for case in _of_kind(hostile, kind):
        dest = tmp_path / case.name
        try:
            extract_bundle(case.archive, dest)
            wrong.append(f"{case.name}: extracted")
        except MultiarcError as err:
            if err.exit_code != ExitCode.USAGE or not err.hint:
                wrong.append(f"{case.name}: exit {err.exit_code}: {err.message}")
        _nothing_escaped(case, tmp_path)
        if dest.exists() and list(dest.iterdir()):
            wrong.append(f"{case.name}: left {list(dest.iterdir())}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("kind", sorted(SWAPPABLE_KINDS))
def test_swapped_in_after_verification_the_extractor_refuses_it(
    kind: str, hostile: dict[str, Hostile], intel_archive: Path, tmp_path: Path
) -> None:
    """Verification saw a good archive; the bytes read at extraction are hostile ones:
    the extractor's own guard refuses them, before anything is written outside."""
    checked = verify_bundle(intel_archive)
    wrong = []
    for case in _of_kind(hostile, kind):
        checked.source = case.archive
        dest = tmp_path / case.name
        try:
            extract_bundle(checked, dest)
            wrong.append(f"{case.name}: extracted")
        except InputError:
            pass
        _nothing_escaped(case, tmp_path)
        if dest.exists() and list(dest.iterdir()):
            wrong.append(f"{case.name}: left {list(dest.iterdir())}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "name",
    ["dot-link-chain", "setuid-file", "gzip-named-xz", "declared-8gib-member", "no-top-folder",
     "manifest-deep-nesting", "manifest-size-is-string", "member-flood"],
)  # fmt: skip
def test_offline_install_refuses_it_before_anything(
    name: str, hostile: dict[str, Hostile], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On any machine, as any user: the bundle is judged first (exit 2), nothing is written
    into the state folder, no playbook runs."""
    case = hostile[name]
    monkeypatch.setattr(paths, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(paths, "INSTALL_LOG_DIR", tmp_path / "log")
    ran: list[object] = []
    monkeypatch.setattr(driver, "run_playbook", lambda *a, **k: ran.append(a))
    inventory = tmp_path / "rack.ini"
    inventory.write_text("node1 ansible_host=127.0.0.1\n")
    for extra in ([], ["--inventory", str(inventory)]):
        result = CliRunner().invoke(main, ["--offline", str(case.archive), "--yes", *extra])
        assert result.exit_code == ExitCode.USAGE, (name, result.output, result.exception)
        assert "error: " in result.output and "hint: " in result.output
    assert ran == []
    leftovers = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert leftovers == [], leftovers
    runs = tmp_path / "state" / "runner"
    assert not runs.exists() or list(runs.iterdir()) == []
    _nothing_escaped(case, tmp_path)
