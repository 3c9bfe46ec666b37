"""Run collector items in parallel (bounded), each with its timeout; never raise.

A command runs in its own session so a timeout kills it with all its children. A missing
tool, an absent or unreadable file, a crash of a generator: each becomes a result with the
reason, so one bad item never stops the others.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import re
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from multiarc.collect import probes
from multiarc.collect.context import Context
from multiarc.collect.secrets import is_secret_file
from multiarc.collect.spec import (
    Absent,
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
    if item.max_bytes is not None and len(out) > item.max_bytes:
        cut = out.find(b"\n", len(out) - item.max_bytes)
        out = b"(earlier lines left out: only the last %d bytes are kept)\n" % item.max_bytes + (
            out[cut + 1:] if cut >= 0 else out[-item.max_bytes:])
    result.data, result.stderr, result.exit_code = out, err, code
    if timed_out:
        result.status = Status.TIMEOUT
        result.reason = f"killed after its {timeout:g} s timeout; partial output kept"
    elif code != 0 and item.absent_when and re.search(
        item.absent_when, (err + out).decode(errors="replace"), re.IGNORECASE | re.MULTILINE
    ):
        result.status = Status.ABSENT
        first = (err or out).decode(errors="replace").strip().splitlines()
        result.reason = "not on this system" + (f": {first[0][:200]}" if first else "")
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


def _read_regular(path: str, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file, never through a symbolic link and never
    blocking on a FIFO or device someone left in a copied folder."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(0, "not a regular file")
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 2**20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _tree_files(item: CopyTree, base: Path) -> Iterator[tuple[str, str]]:
    """(full path, relative name) of the files to consider, in order."""
    for folder, dirs, files in os.walk(base):  # never descends into linked folders
        dirs[:] = sorted(dirs) if item.recursive else []
        for fname in sorted(files):
            if fnmatch.fnmatch(fname, item.pattern):
                full = os.path.join(folder, fname)
                yield full, os.path.relpath(full, base)


def _copy_tree(item: CopyTree, ctx: Context) -> ItemResult:
    result = ItemResult(item.name, "", "tree", item.source, Status.OK,
                        needs_root=item.needs_root)
    start = time.monotonic()
    base = ctx.path(item.path) if item.below_root else item.path
    linked = base.is_symlink() and not item.below_root  # a user's folder: links not followed
    if linked or not base.is_dir():
        result.status = Status.SKIPPED
        result.reason = "a symbolic link: not followed" if linked else "not present on this system"
        return result
    total, skipped, older, secret = 0, [], 0, 0
    for full, rel in _tree_files(item, base):
        if is_secret_file(rel):
            secret += 1  # credentials and keys by their name: never collected
            continue
        if item.newer_than is not None:
            try:
                if os.lstat(full).st_mtime < item.newer_than:
                    older += 1
                    continue
            except OSError:
                pass  # reading it below says why
        if len(result.files) >= item.max_files:
            skipped.append(f"{rel} (more than {item.max_files} files)")
            continue
        try:
            data = _read_regular(full, item.max_bytes - total + 1)
        except OSError as exc:
            why = ("a symbolic link: not followed" if exc.errno == errno.ELOOP
                   else "not a regular file" if isinstance(exc, IsADirectoryError)
                   else _unreadable_reason(exc, ctx))
            skipped.append(f"{rel} ({why})")
            continue
        if total + len(data) > item.max_bytes:
            skipped.append(f"{rel} (over the {item.max_bytes} byte limit)")
            continue
        total += len(data)
        result.files[f"{item.name}/{rel}"] = data
    if secret:
        skipped.insert(0, f"{secret} credential or key file(s) by their name")
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
    except Absent as exc:
        result.status = Status.ABSENT
        result.reason = str(exc)
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


def _start_order(item: Item) -> tuple[int, float]:
    """The slow tools first (a GPU host waits on them: they overlap everything else), then
    the files (read in milliseconds, their compression is the longest CPU task of a bare
    machine's run: it starts while the other commands run, not after them), then the rest."""
    if isinstance(item, Command):
        return (0 if item.timeout > Command.timeout else 2, -item.timeout)
    return (1 if isinstance(item, (CopyFile, CopyTree)) else 2, 0.0)


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
    jobs.sort(key=lambda job: _start_order(job[1]))
    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(jobs) or 1)))
    try:
        futures = [pool.submit(run_item, item, concern, ctx, versions) for concern, item in jobs]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:  # Ctrl-C or the archive failed: stop now, not at the last timeout
        kill_running()  # first: the running commands are what must not outlive us
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
