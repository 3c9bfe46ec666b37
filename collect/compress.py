"""Compress the archive's tar stream while it is being written.

xz in multithreaded mode fills a whole block (three times the 64 MiB dictionary at -9)
before any thread starts, so it would sit idle while the slow GPU tools run and only begin
when the last one has answered. The stream therefore goes first into a single-threaded xz,
which compresses the data as it arrives (the CPUs are idle while the tools are waited for).
Whatever is still queued when the collection ends, if it is large, goes into a second,
multithreaded xz whose stream is appended to the same file: an .xz file may hold several
streams, and xz, ``tar -J`` and Python's lzma read them as one. The LZMA2 settings are
xz -9e tuned for text (lc=4, pb=0), which is what a support archive holds.

zstd (``--compression zstd``) is fast enough for one multithreaded process. Without the xz
tool, Python's lzma module compresses with the same settings (one thread).
"""

from __future__ import annotations

import io
import lzma
import math
import os
import shutil
import subprocess
import tarfile
import threading
from collections import deque
from pathlib import Path
from typing import IO

from multiarc.errors import EnvironmentNotReady

SUFFIXES = {"xz": ".tar.xz", "zstd": ".tar.zst"}
XZ_LZMA2 = "--lzma2=preset=9e,lc=4,pb=0"
_PY_LZMA2 = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": 4, "pb": 0}]
XZ_PROGRESSIVE = ("xz", "-T1", XZ_LZMA2, "-c", "-q")
ZSTD = ("zstd", "-T0", "-10", "-c", "-q")
MT_BACKLOG = 8 * 2**20  # a queue left at the end at least this big goes to a threaded xz
MT_MIN_BLOCK = 4 * 2**20


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threaded_xz_argv(backlog: int) -> tuple[str, ...]:
    """xz for the backlog: blocks small enough that every CPU gets one, never tiny ones."""
    cpus = _cpus()
    block = max(MT_MIN_BLOCK, math.ceil(backlog / cpus))
    threads = max(1, min(cpus, math.ceil(backlog / block)))
    return ("xz", f"-T{threads}", f"--block-size={block}", "--memlimit-compress=50%",
            XZ_LZMA2, "-c", "-q")  # fmt: skip


def _failed(what: str) -> EnvironmentNotReady:
    return EnvironmentNotReady(
        f"{what} failed while writing the archive", "check free space in the output folder"
    )


class StreamCompressor:
    """A tar stream (``.tar``) compressed into ``target`` as it is written; see the module doc.

    ``add`` never waits for the compressor: chunks are queued and a feeder thread hands them
    on, so results keep being collected while the compressor works.
    """

    def __init__(self, kind: str, target: Path) -> None:
        if kind not in SUFFIXES:
            raise ValueError(kind)
        self._kind = kind
        self._file = open(target, "wb")  # noqa: SIM115 - closed in close() / abort()
        self._cond = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._stop = False
        self._error: BaseException | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lzma: lzma.LZMAFile | None = None
        argv = XZ_PROGRESSIVE if kind == "xz" else ZSTD
        tool = shutil.which(argv[0])
        if tool is not None:
            self._sink: IO[bytes] = self._start((tool, *argv[1:]))
        elif kind == "xz":
            self._lzma = lzma.LZMAFile(self._file, "wb", filters=_PY_LZMA2)  # noqa: SIM115
            self._sink = self._lzma  # type: ignore[assignment]
        else:
            self._file.close()
            target.unlink(missing_ok=True)
            raise EnvironmentNotReady(
                "zstd is not installed", "install it (apt-get install zstd) or use --compression xz"
            )
        self._feeder = threading.Thread(target=self._feed, name="compress-feeder", daemon=True)
        self._feeder.start()
        self.tar = tarfile.open(  # noqa: SIM115 - closed in close()
            fileobj=self,  # type: ignore[call-overload]
            mode="w|",
            format=tarfile.PAX_FORMAT,
        )

    # tarfile writes its stream here
    def write(self, data: bytes) -> int:
        if self._error is not None:
            raise _failed(self._kind) from self._error
        with self._cond:
            self._chunks.append(bytes(data))
            self._cond.notify()
        return len(data)

    def add(self, name: str, data: bytes, mtime: float) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), int(mtime), 0o644
        self.tar.addfile(info, io.BytesIO(data))

    def _start(self, argv: tuple[str, ...]) -> IO[bytes]:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=self._file, bufsize=0)
        self._procs.append(proc)
        assert proc.stdin is not None
        return proc.stdin

    def _feed(self) -> None:
        while True:
            with self._cond:
                while not self._chunks and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return  # close() takes what is left
                chunk = self._chunks.popleft()
            try:
                self._sink.write(chunk)
            except BaseException as exc:  # the compressor died: close() reports it
                self._error = exc
                return

    def _finish(self) -> None:
        """Close the current compressor's input and check that it ended well."""
        if self._lzma is not None:
            self._lzma.close()
            return
        proc = self._procs[-1]
        assert proc.stdin is not None
        proc.stdin.close()
        if proc.wait() != 0:
            raise _failed(f"{self._kind} (exit status {proc.returncode})")

    def close(self) -> None:
        self.tar.close()
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._feeder.join()
        if self._error is not None:
            raise _failed(self._kind) from self._error
        backlog = b"".join(self._chunks)
        self._chunks.clear()
        try:
            if self._kind == "xz" and self._procs and len(backlog) >= MT_BACKLOG:
                self._finish()
                self._sink = self._start(threaded_xz_argv(len(backlog)))
            self._sink.write(backlog)
        except OSError as exc:
            raise _failed(self._kind) from exc
        self._finish()
        self._file.close()

    def abort(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        for proc in self._procs:
            proc.kill()
            proc.wait()
        self._feeder.join(timeout=5)
        self._file.close()
