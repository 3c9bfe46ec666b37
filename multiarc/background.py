"""One call run in the background while the caller goes on: its result when asked for.

A daemon thread, so that an interrupted run (Ctrl-C) does not wait for it at exit, as
``concurrent.futures`` executors' threads make it wait. Used where a slow read that needs
nothing else overlaps other work: the installer's inventory (Ansible's inventory code takes
0.3 s to import) while the bundle is checked, the support archive's dpkg query while the
collection runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


def in_background(work: Callable[..., T], *args: Any) -> Future[T]:
    """``work(*args)`` started now; its result, or what it raised, from ``.result()``."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work(*args))
        except BaseException as exc:  # handed to whoever asks for the result
            future.set_exception(exc)

    name = f"background-{getattr(work, '__name__', 'work')}"
    threading.Thread(target=run, name=name, daemon=True).start()
    return future
