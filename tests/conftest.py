"""Shared pytest configuration. Per-area fixtures live in each test folder's conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = REPO_ROOT / "tests" / "recordings"


@pytest.fixture
def recordings_dir() -> Path:
    return RECORDINGS
