"""Fixtures for the evaluation tests: recordings replayed through the real shims."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from multiarc.evaluation.replay import Recording, Replay, load_recording

RECORDINGS_DIR = Path(__file__).resolve().parents[1] / "recordings"


@pytest.fixture
def recording() -> Callable[[str], Recording]:
    """recording("b60x4") -> the loaded recording tests/recordings/b60x4."""
    return lambda name: load_recording(RECORDINGS_DIR / name)


@pytest.fixture
def replay_b60x4() -> Iterator[Replay]:
    with Replay(load_recording(RECORDINGS_DIR / "b60x4")) as replay:
        yield replay


@pytest.fixture
def copied_recording(tmp_path: Path) -> Callable[[str], Path]:
    """copied_recording("b60x4") -> a writable copy of a recording under tmp_path."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(RECORDINGS_DIR / name, target, symlinks=True)
        return target

    return copy
