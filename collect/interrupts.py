"""Interrupts while collecting: Ctrl-C and SIGTERM stop the run the same way.

SIGTERM raises :class:`Terminated` in the main thread, so the same clean-up runs as for
Ctrl-C (every running command killed, partial files removed); the exit status is 128 plus
the signal's number (130, 143). The first signal's handler ignores every further one
before it raises, so a second Ctrl-C, however soon, cannot cut the clean-up short (not
even in the few instructions before an ``except`` block is entered); the process then
ends at once (:func:`exit_now`), without waiting for worker threads that a signal could
interrupt with an "Exception ignored" message.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM, raised where the main thread runs (like KeyboardInterrupt for SIGINT)."""

    signum = signal.SIGTERM


def _first_signal(signum: int, _frame: FrameType | None) -> None:
    for s in _SIGNALS:  # from now on the clean-up runs to its end
        signal.signal(s, signal.SIG_IGN)
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt


def install() -> None:
    """Ctrl-C and SIGTERM stop the run once, the same way, from here on (main thread only):
    a second signal is ignored."""
    if threading.current_thread() is threading.main_thread():
        for s in _SIGNALS:
            signal.signal(s, _first_signal)


def done() -> None:
    """The archive is published: the run is over but for a few milliseconds of saying so.
    A signal from now on is ignored (where :func:`install` set ours), so it cannot report
    an archive that is there as "nothing was written", nor end in a traceback."""
    if threading.current_thread() is threading.main_thread() and all(
        signal.getsignal(s) is _first_signal for s in _SIGNALS
    ):
        for s in _SIGNALS:
            signal.signal(s, signal.SIG_IGN)


def exit_status(exc: BaseException) -> int:
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


@contextmanager
def deferred() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM inside (clean-up that must finish)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def exit_now(message: str, status: int) -> None:
    """Say ``message`` and end the process now (after clean-up: nothing more to wait for)."""
    for s in _SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    with suppress(OSError):
        sys.stdout.flush()
    with suppress(OSError):
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    os._exit(status)

