"""Shared pytest configuration. Per-area fixtures live in each test folder's conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

# Shared helpers that assert: rewrite their asserts as pytest does in test files (before
# any test module imports them), so a failure shows the values.
pytest.register_assert_rewrite("tests.integration.sites")

REPO_ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = REPO_ROOT / "tests" / "recordings"


@pytest.fixture
def recordings_dir() -> Path:
    return RECORDINGS
