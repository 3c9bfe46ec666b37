"""The program's entry point: a Ctrl-C or SIGTERM while Python is still loading the
command (rich, click, the collectors) ends it quietly, with no traceback and nothing
written; from then on the command handles both itself (cli.py, interrupts.py)."""

from __future__ import annotations

import os
import signal
import sys


def _quiet_exit(signum: int, _frame: object) -> None:
    try:
        sys.stderr.write("interrupted\n")
    finally:
        os._exit(128 + signum)  # nothing is written yet: nothing to clean up


def main() -> None:
    old = {s: signal.signal(s, _quiet_exit) for s in (signal.SIGINT, signal.SIGTERM)}
    from multiarc.collect.cli import main as command

    for s, handler in old.items():
        signal.signal(s, handler)
    command(prog_name="multiarc-collect-sysinfo")
