"""Draw the report's plots in a separate process, overlapping the rest of the work.

matplotlib's import and first drawing take about a second; parsing a big log and writing
the other reports take as long. On two or more cores the two overlap: call
:func:`warm_up` as soon as an HTML report is known to be wanted (the worker imports
matplotlib while the log is parsed), then :func:`draw_async` with the aggregated
:class:`~.plots.PlotData`. Where no process can be started, or the worker dies or hangs,
the plots are drawn in this process instead: the page is never lost to the optimisation.

Many pages (a fleet's hosts) share the workers inside :func:`kept_warm`: matplotlib is
imported once per worker, while the nodes still run, not once per host.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator

from .plots import PlotData, render_plots

TIMEOUT_S = 120
Images = list[tuple[str, str]]

_pool: concurrent.futures.ProcessPoolExecutor | None = None
_kept = False  # inside kept_warm(): the workers outlive each page


def _prepare() -> None:
    """In the worker: import matplotlib and render a little text (loads the font cache)."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.text(0.5, 0.5, "0")
    fig.savefig(io.BytesIO(), format="png", dpi=10)


def _shutdown() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def warm_up(workers: int = 1) -> bool:
    """Start the worker(s) (once) and let them import matplotlib; False where none can run."""
    global _pool
    if _pool is not None:
        return True
    cpus = os.cpu_count() or 1
    if cpus < 2:
        return False
    workers = max(1, min(workers, cpus))
    try:
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("fork")
        )
        for _ in range(workers):
            pool.submit(_prepare)
    except (OSError, ValueError, RuntimeError):
        return False
    _pool = pool
    atexit.register(_shutdown)
    return True


@contextlib.contextmanager
def kept_warm(workers: int = 2) -> Iterator[None]:
    """Workers started now and kept for every page drawn inside (a fleet's hosts)."""
    global _kept
    warm_up(workers)
    _kept = True
    try:
        yield
    finally:
        _kept = False
        _shutdown()


def draw_async(data: PlotData) -> Callable[[], Images]:
    """Start drawing; return a function that waits for the (caption, data: URI) list."""
    if not warm_up() or _pool is None:
        return lambda: render_plots(data)
    try:
        future = _pool.submit(render_plots, data)
    except (OSError, RuntimeError):
        _shutdown()
        return lambda: render_plots(data)

    def wait() -> Images:
        try:
            return future.result(timeout=TIMEOUT_S)
        except (
            concurrent.futures.process.BrokenProcessPool,
            concurrent.futures.TimeoutError,
            OSError,
        ):
            return render_plots(data)
        finally:
            if not _kept:
                _shutdown()  # one page per worker: nothing lingers after a report is written

    return wait
