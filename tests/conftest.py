"""Shared pytest configuration. Per-area fixtures live in each test folder's conftest."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

# A suite started in the background by a shell without job control (``cmd &``, nohup)
# inherits SIGINT ignored, and so would every process it starts: the tests that press
# Ctrl-C (a signal to the command, or to this process) would test nothing. Ctrl-C works
# here as in a terminal; the commands started from here get the default disposition.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Shared helpers that assert: rewrite their asserts as pytest does in test files (before
# any test module imports them), so a failure shows the values.
pytest.register_assert_rewrite("tests.integration.sites")

REPO_ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = REPO_ROOT / "tests" / "recordings"


@pytest.fixture(autouse=True)
def _signal_handlers_restored() -> Iterator[None]:
    """A command run in-process (click's CliRunner) installs its own Ctrl-C and SIGTERM
    handlers, and after its archive is published ignores both: put back this process's
    own after every test, or a later test's Ctrl-C would go nowhere."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.fixture
def recordings_dir() -> Path:
    return RECORDINGS
