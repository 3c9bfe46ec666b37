"""Run collector items in parallel (bounded), each with its timeout; never raise.

A command runs in its own session so a timeout kills it with all its children. A missing
tool, an absent or unreadable file, a crash of a generator: each becomes a result with the
reason, so one bad item never stops the others.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

from multiarc.collect import probes
from multiarc.collect.context import Context
from multiarc.collect.spec import (
    Collector,
    Command,
    CopyFile,
    CopyTree,
    Generate,
    Item,
    ItemResult,
    Status,
)

MAX_WORKERS = 16  # the items wait on tools and files, not on the CPU
VERSION_TIMEOUT = 5.0
_ROOT_HINT = "needs root: run multiarc-collect-sysinfo with sudo to include it"


class _VersionCache:
    """Tool versions, asked once per tool however many commands use it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[tuple[str, ...], threading.Event] = {}
        self._values: dict[tuple[str, ...], str | None] = {}

    def get(self, argv: tuple[str, ...], ctx: Context) -> str | None:
        with self._lock:
            event = self._events.get(argv)
            owner = event is None
            if owner:
                event = self._events[argv] = threading.Event()
        assert event is not None
        if not owner:
            event.wait()
            return self._values.get(argv)
        try:
            out, _err, code, timed_out = run_process(
                argv, ctx.timeout(VERSION_TIMEOUT), ctx.command_env()
            )
            lines = [x.strip() for x in (out or _err).decode(errors="replace").splitlines()]
            # the first line that names a version ("CLI:" then "Version: 1.2.39" for xpu-smi)
            versioned = [x for x in lines if any(c.isdigit() for c in x)] or lines
            ok = versioned and not timed_out and code == 0
            self._values[argv] = versioned[0] if ok else None
        finally:
            event.set()
        return self._values.get(argv)


_LIVE: set[subprocess.Popen[bytes]] = set()  # running commands, killed on an interrupt
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set by kill_running: no new command starts


def kill_running() -> None:
    """Kill every command still running, with its children (Ctrl-C, an error): they run in
    their own sessions, so the terminal's SIGINT does not reach them."""
    with _LIVE_LOCK:
        _STOPPING.set()
        procs = list(_LIVE)
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def run_process(
    argv: Iterable[str], timeout: float, env: dict[str, str]
) -> tuple[bytes, bytes, int | None, bool]:
    """(stdout, stderr, exit code, timed out). On timeout the whole process group is killed."""
    with _LIVE_LOCK:
        if _STOPPING.is_set():
            return b"", b"interrupted\n", None, True
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        _LIVE.add(proc)
    try:
        return _wait(proc, timeout)
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes, int | None, bool]:
    try:
        out, err = proc.communicate(timeout=timeout)
        return out, err, proc.returncode, False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild left the group and holds the pipes
            proc.kill()
            out, err = b"", b""
            proc.wait()
        return out or b"", err or b"", proc.returncode, True


def _run_command(item: Command, ctx: Context, versions: _VersionCache) -> ItemResult:
    result = ItemResult(
        item.name, "", "command", item.source, Status.OK, needs_root=item.needs_root
    )
    tool = probes.find_tool(item.argv[0])
    if tool is None:
        result.status = Status.SKIPPED
        result.reason = f"{item.argv[0]} not found on PATH or in the known tool folders"
        return result
    argv = (str(tool), *item.argv[1:])
    timeout = ctx.timeout(item.timeout)
    start = time.monotonic()
    try:
        out, err, code, timed_out = run_process(argv, timeout, ctx.command_env())
    except OSError as exc:
        result.status = Status.SKIPPED
        result.reason = f"could not start {tool}: {exc.strerror or exc}"
        return result
    result.duration_s = round(time.monotonic() - start, 3)
    result.data, result.stderr, result.exit_code = out, err, code
    if timed_out:
        result.status = Status.TIMEOUT
        result.reason = f"killed after its {timeout:g} s timeout; partial output kept"
    elif code != 0:
        result.status = Status.FAILED
        first = err.decode(errors="replace").strip().splitlines()
        result.reason = f"exit status {code}" + (f": {first[0][:200]}" if first else "")
        if item.needs_root and not ctx.is_root:
            result.reason += f" ({_ROOT_HINT})"
    if item.version_argv:
        vargv = (str(tool), *item.version_argv[1:])
        result.tool_version = versions.get(vargv, ctx)
    return result


def _unreadable_reason(exc: OSError, ctx: Context) -> str:
    if isinstance(exc, PermissionError) and not ctx.is_root:
        return f"permission denied ({_ROOT_HINT})"
    if isinstance(exc, FileNotFoundError):
        if exc.filename is None and exc.strerror:
            return exc.strerror  # a generator said why
        return "not present on this system"
    return f"unreadable: {exc.strerror or exc}"


def _copy_file(item: CopyFile, ctx: Context) -> ItemResult:
    result = ItemResult(item.name, "", "file", item.source, Status.OK, needs_root=item.needs_root)
    start = time.monotonic()
    try:
        result.data = ctx.path(item.path).read_bytes()
    except OSError as exc:
        result.status = Status.SKIPPED
        result.reason = _unreadable_reason(exc, ctx)
    result.duration_s = round(time.monotonic() - start, 3)
    return result


def _copy_tree(item: CopyTree, ctx: Context) -> ItemResult:
    result = ItemResult(item.name, "", "tree", item.source, Status.OK)
    start = time.monotonic()
    base = ctx.path(item.path) if item.below_root else item.path
    if not base.is_dir():
        result.status = Status.SKIPPED
        result.reason = "not present on this system"
        return result
    total, skipped, older = 0, [], 0
    for folder, _dirs, files in sorted(os.walk(base)):
        for fname in sorted(files):
            if not fnmatch.fnmatch(fname, item.pattern):
                continue
            full = os.path.join(folder, fname)
            rel = os.path.relpath(full, base)
            if item.newer_than is not None:
                try:
                    if os.stat(full).st_mtime < item.newer_than:
                        older += 1
                        continue
                except OSError:
                    pass  # reading it below says why
            if len(result.files) >= item.max_files:
                skipped.append(f"{rel} (more than {item.max_files} files)")
                continue
            try:
                data = open(full, "rb").read(item.max_bytes - total + 1)  # noqa: SIM115
            except OSError as exc:
                skipped.append(f"{rel} ({_unreadable_reason(exc, ctx)})")
                continue
            if total + len(data) > item.max_bytes:
                skipped.append(f"{rel} (over the {item.max_bytes} byte limit)")
                continue
            total += len(data)
            result.files[f"{item.name}/{rel}"] = data
    if older:
        skipped.insert(0, f"{older} file(s) older than the last install")
    if skipped:
        result.reason = "left out: " + "; ".join(skipped[:20])
    if not result.files:
        result.status = Status.SKIPPED
        result.reason = result.reason or "no matching files"
    result.duration_s = round(time.monotonic() - start, 3)
    return result


def _generate(item: Generate, ctx: Context) -> ItemResult:
    result = ItemResult(
        item.name, "", "generated", item.source, Status.OK, needs_root=item.needs_root
    )
    start = time.monotonic()
    try:
        result.data = item.produce(ctx).encode()
    except OSError as exc:
        result.status = Status.SKIPPED
        result.reason = _unreadable_reason(exc, ctx)
    except Exception as exc:  # a generator bug must not cost the archive
        result.status = Status.FAILED
        result.reason = f"{type(exc).__name__}: {exc}"
    result.duration_s = round(time.monotonic() - start, 3)
    return result


def run_item(item: Item, concern: str, ctx: Context, versions: _VersionCache) -> ItemResult:
    if isinstance(item, Command):
        result = _run_command(item, ctx, versions)
    elif isinstance(item, CopyFile):
        result = _copy_file(item, ctx)
    elif isinstance(item, CopyTree):
        result = _copy_tree(item, ctx)
    else:
        result = _generate(item, ctx)
    result.concern = concern
    return result


def run_collectors(
    collectors: Iterable[Collector],
    ctx: Context,
    max_workers: int = MAX_WORKERS,
    on_start: Callable[[int], None] | None = None,
) -> Iterator[ItemResult]:
    """Yield every item's result as soon as it is done (completion order)."""
    jobs = [(c.concern, item) for c in collectors for item in c.items]
    if on_start:
        on_start(len(jobs))
    versions = _VersionCache()
    _STOPPING.clear()
    # Long commands first, so the slowest tools start at once and overlap everything else.
    jobs.sort(key=lambda j: -(j[1].timeout if isinstance(j[1], Command) else 0))
    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(jobs) or 1)))
    try:
        futures = [pool.submit(run_item, item, concern, ctx, versions) for concern, item in jobs]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:  # Ctrl-C or the archive failed: stop now, not at the last timeout
        pool.shutdown(wait=False, cancel_futures=True)
        kill_running()
        raise
    pool.shutdown()
