"""The program's entry point: a Ctrl-C or SIGTERM while Python is still loading the
command (rich, click, the collectors) ends it quietly, with no traceback and nothing
written; from then on the command handles both itself (cli.py, interrupts.py)."""

from __future__ import annotations

# The C module, not ``signal``: building that module's enums takes milliseconds, a window in
# which Ctrl-C would still print Python's own traceback.
import _signal
import os
import sys


def _quiet_exit(signum: int, _frame: object) -> None:
    try:
        sys.stderr.write("interrupted\n")
    finally:
        os._exit(128 + signum)  # nothing is written yet: nothing to clean up


# Installed as this module is imported, before anything else of ours runs.
_OLD = {s: _signal.signal(s, _quiet_exit) for s in (_signal.SIGINT, _signal.SIGTERM)}


def main() -> None:
    for s in _OLD:
        _signal.signal(s, _quiet_exit)
    from multiarc.collect.cli import main as command

    for s, handler in _OLD.items():
        _signal.signal(s, handler)
    command(prog_name="multiarc-collect-sysinfo")
