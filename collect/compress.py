"""Compress the archive's tar stream while it is being collected, on every CPU.

The archive is made of pieces compressed at the same time, each in its own side file, and
joined at the end (an .xz file may hold several concatenated streams, a .zst file several
frames; xz, zstd, ``tar -J`` and Python's lzma read them as one):

- the head: summary.txt and manifest.json, known only at the end but first in the archive,
  where a reader looks (``--inspect`` stops reading after them);
- one piece per large member (a 10 MB dmesg): its own xz started the moment the member is
  there, so it is compressed while the slow GPU tools are still waited for; multithreaded
  on every CPU but one (which stays with the collection; on two CPUs on both), its blocks
  sized so each thread gets one and never tiny (each block starts with an empty
  dictionary, which costs ratio); its input ends at once, so xz does not hold its last
  block back until the archive is closed;
- everything else: a single-threaded xz compressing the members as they arrive, at xz -6
  tuned for text (nice=128: longer matches, the same size as the -9 settings below on
  these members): it is the stream the archive waits for when the last tool has answered,
  and -9's 64 MiB dictionary and deeper search cost it 40 % more CPU for nothing (0.15 s
  of a 0.7 s run on a bare machine with 1 MB of apt and dpkg logs); the match finder
  searches 16 deep (depth=16, xz's default here is 36: 22 % less CPU for 0.4 % more
  bytes on 1.2 MB of apt, dpkg and command outputs). 8 deep saved a bare machine's run
  0.03-0.08 s but cost the 8-GPU host's archive 500-700 B, more than its margin over
  tar + xz -9 once this machine's dpkg.log was no longer inflated by the test suite;
  4 deep, or the hc4 match finder, cost it 1.4 KB. What is still queued for it when the
  collection ends (128 KiB or more: on a bare machine the archive waits for nothing else)
  goes to a second xz in a file of its own, appended after this piece's, which compresses
  it while the first one finishes what it was given (multithreaded when 1 MiB or more).
  A run with a large member (a GPU host) never makes that second stream: it waits on its
  slow tools, not on xz, and the new stream's dictionary would cost ~1 KB. This piece
  ends the tar stream.

xz in plain multithreaded mode would fill a whole block (three times the 64 MiB dictionary
at -9) before any thread starts, i.e. sit idle until the last tool has answered. The LZMA2
settings of the large members are xz -9 tuned for text, which is what a support archive
holds (lc=4, pb=0: literals predicted from the previous byte, no 4-byte alignment; long
matches, nice=273, looked for less deeply, depth=32): on a 10 MB kernel log 1% smaller
than xz -9 for about 10% more CPU time (xz -9e: the same size for 30% more).
zstd (``--compression zstd``) is fast enough for one multithreaded process. Without the xz
tool, Python's lzma module compresses with the small members' settings (one thread, one
piece).
"""

from __future__ import annotations

import contextlib
import lzma
import math
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import IO

from multiarc.collect.safe_write import open_exclusive

from multiarc.errors import EnvironmentNotReady

SUFFIXES = {"xz": ".tar.xz", "zstd": ".tar.zst"}
XZ_LZMA2 = "--lzma2=preset=9,lc=4,pb=0,nice=273,depth=32"
_PY_LZMA2 = [{"id": lzma.FILTER_LZMA2, "preset": 9, "lc": 4, "pb": 0, "nice_len": 273, "depth": 32}]
XZ_SMALL_LZMA2 = "--lzma2=preset=6,lc=4,pb=0,nice=128,depth=16"
_PY_SMALL_LZMA2 = [
    {"id": lzma.FILTER_LZMA2, "preset": 6, "lc": 4, "pb": 0, "nice_len": 128, "depth": 16}
]
XZ_PROGRESSIVE = ("xz", "-T1", XZ_SMALL_LZMA2, "-c", "-q")  # the small members, as they come
XZ_ONE_THREAD = ("xz", "-T1", XZ_LZMA2, "-c", "-q")
ZSTD = ("zstd", "-T0", "-10", "-c", "-q")
LARGE_MEMBER = 4 * 2**20  # a member this big gets its own multithreaded xz at once
MT_MIN_BLOCK = 4 * 2**20  # its blocks are no smaller (and all the same size)
MT_BACKLOG = 2**20  # small members still queued at the end, this much: a threaded xz
BACKLOG_MIN_BLOCK = 2**19
# queued at the end, this much: a second xz compresses it while the first one finishes
PARALLEL_BACKLOG = 2**17
_END_OF_ARCHIVE = tarfile.NUL * tarfile.RECORDSIZE  # two zero blocks, padded to a record


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threaded_xz_argv(size: int, min_block: int | None = None, spare: int = 0) -> tuple[str, ...]:
    """xz for ``size`` bytes in equal blocks, one per thread: as many as there are CPUs (but
    ``spare``), and no more than leave every block ``min_block`` or larger. Each block
    starts with an empty dictionary (~10 KB more for each 5 MB of a kernel log, 1.5 % of its
    compressed size, more than the text-tuned settings gain): a 10 MB dmesg is two blocks on
    any number of CPUs, not a 4 MiB, a 4 MiB and a 2 MiB one. One thread: a single block."""
    cpus = max(1, _cpus() - spare)
    threads = min(cpus, size // (MT_MIN_BLOCK if min_block is None else min_block))
    if threads <= 1:
        return XZ_ONE_THREAD
    block = math.ceil(size / threads)
    return ("xz", f"-T{threads}", f"--block-size={block}", "--memlimit-compress=50%",
            XZ_LZMA2, "-c", "-q")  # fmt: skip


def tar_members(members: list[tuple[str, bytes, float]]) -> bytes:
    """Raw tar members (headers, data, padding) without the end-of-archive blocks."""
    out = bytearray()
    for name, data, mtime in members:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), int(mtime), 0o644
        out += info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        out += data + tarfile.NUL * (-len(data) % tarfile.BLOCKSIZE)
    return bytes(out)


def _lzma_small(data: bytes) -> bytes:
    """One xz stream, the archive's LZMA2 settings with a dictionary sized to the data."""
    dict_size = max(2**16, 1 << max(0, len(data) - 1).bit_length())
    filters = [dict(_PY_LZMA2[0], dict_size=min(dict_size, 64 * 2**20))]
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, filters=filters)


def _failed(what: str) -> EnvironmentNotReady:
    return EnvironmentNotReady(
        f"{what} failed while writing the archive", "check free space in the output folder"
    )


class _Piece:
    """One compressed piece of the archive in its own file: a compressor process (or Python's
    lzma when ``argv`` is None) fed from a queue by its own thread, so ``write`` never waits."""

    def __init__(self, kind: str, path: Path, argv: tuple[str, ...] | None, progressive: bool):
        self.kind, self.path, self.progressive = kind, path, progressive
        self.paths = [path]  # this piece's files, in order (a second one for a backlog)
        self._file = open_exclusive(path)  # never a planted file or link; closed in close()
        self._files = [self._file]
        self._cond = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._stop = self._ending = False
        self._error: BaseException | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lzma: lzma.LZMAFile | None = None
        if argv is not None:
            self._sink: IO[bytes] = self._start(argv)
        else:
            self._lzma = lzma.LZMAFile(self._file, "wb", filters=_PY_SMALL_LZMA2)  # noqa: SIM115
            self._sink = self._lzma  # type: ignore[assignment]
        self._feeder = threading.Thread(target=self._feed, name="compress-feeder", daemon=True)
        self._feeder.start()

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise _failed(self.kind) from self._error
        with self._cond:
            self._chunks.append(data)
            self._cond.notify()

    def _start(self, argv: tuple[str, ...]) -> IO[bytes]:
        if not self._procs:  # one file for the messages of this piece's compressors
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - read in _finish
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=self._files[-1],
                                stderr=self._stderr, bufsize=0)
        self._procs.append(proc)
        assert proc.stdin is not None
        return proc.stdin

    def end_input(self) -> None:
        """Nothing more comes: the compressor gets its end of input once the queue is
        written, not at close(). A threaded xz holds its last block until then (seen with
        xz 5.4: the second of two 5 MiB blocks waited 4 s for the slowest GPU tool)."""
        with self._cond:
            self._ending = True
            self._cond.notify()

    def _feed(self) -> None:
        while True:
            with self._cond:
                while not self._chunks and not self._stop and not self._ending:
                    self._cond.wait()
                if self._stop:
                    return  # close() takes what is left
                if not self._chunks:  # end_input(), all written
                    break
                chunk = self._chunks.popleft()
            try:
                self._write_all(chunk)
            except BaseException as exc:  # the compressor died: close() reports it
                self._error = exc
                return
        if self._lzma is None:
            with contextlib.suppress(OSError):  # a compressor that died: _finish() says why
                self._sink.close()

    def _write_all(self, data: bytes) -> None:
        """A pipe takes what fits: an unbuffered write may be partial, so write the rest."""
        view = memoryview(data)
        while view:
            n = self._sink.write(view)
            view = view[n if n is not None else len(view) :]

    def _finish(self) -> None:
        """Close the compressors' input and check that they ended well."""
        if self._lzma is not None:
            self._lzma.close()
            return
        for proc in self._procs:
            assert proc.stdin is not None
            with contextlib.suppress(OSError):  # a compressor that died: its message says why
                proc.stdin.close()
        for proc in self._procs:
            if proc.wait() != 0:
                self._stderr.seek(0)
                said = self._stderr.read(4096).decode(errors="replace").strip().splitlines()
                why = said[-1].split(": ", 1)[-1] if said else f"exit status {proc.returncode}"
                raise _failed(f"{self.kind} ({why})")

    def _second_stream(self, size: int) -> None:
        """A second xz, in a file of its own appended after this piece's, for what is still
        queued: it compresses while the first one finishes what it was given (on a bare
        machine the archive waits for nothing else). Its input of ``size`` bytes gets
        threads of its own when it is large."""
        assert self._procs[-1].stdin is not None
        with contextlib.suppress(OSError):  # the first one's input ends here
            self._procs[-1].stdin.close()
        tool = str(self._procs[-1].args[0])  # type: ignore[index]
        argv = (threaded_xz_argv(size, BACKLOG_MIN_BLOCK) if size >= MT_BACKLOG
                else XZ_PROGRESSIVE)  # fmt: skip
        path = self.path.with_name(self.path.name + ".2")
        self._files.append(open_exclusive(path))
        self.paths.append(path)
        self._sink = self._start((tool, *argv[1:]))

    def close(self, second_stream: bool = True) -> None:
        """End the piece; ``second_stream``: what is still queued may go to a second xz."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._feeder.join()
        if self._error is not None:
            raise _failed(self.kind) from self._error
        backlog = b"".join(self._chunks)
        self._chunks.clear()
        try:
            second = (second_stream and self.kind == "xz" and self.progressive
                      and self._lzma is None)  # fmt: skip
            if second and len(backlog) >= PARALLEL_BACKLOG:
                self._second_stream(len(backlog))
            self._write_all(backlog)
        except OSError as exc:
            raise _failed(self.kind) from exc
        self._finish()
        for out in self._files:
            out.close()

    def abort(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        for proc in self._procs:
            proc.kill()
            proc.wait()
        self._feeder.join(timeout=5)
        for out, path in zip(self._files, self.paths, strict=True):
            out.close()
            path.unlink(missing_ok=True)


class StreamCompressor:
    """A tar archive written into ``target`` member by member, compressed as it comes; see
    the module doc. ``add`` never waits for a compressor."""

    def __init__(self, kind: str, target: Path) -> None:
        if kind not in SUFFIXES:
            raise ValueError(kind)
        self._kind, self._target = kind, target
        argv = XZ_PROGRESSIVE if kind == "xz" else ZSTD
        self._tool = shutil.which(argv[0])
        if self._tool is None and kind != "xz":
            raise EnvironmentNotReady(
                "zstd is not installed", "install it (apt-get install zstd) or use --compression xz"
            )
        self._large: list[_Piece] = []
        self._rest = _Piece(kind, self._piece_path("rest"), self._argv(argv), progressive=True)

    def _argv(self, argv: tuple[str, ...]) -> tuple[str, ...] | None:
        return None if self._tool is None else (self._tool, *argv[1:])

    def _piece_path(self, label: str) -> Path:
        return self._target.with_name(f"{self._target.name}.{label}")

    def add(self, name: str, data: bytes, mtime: float) -> None:
        raw = tar_members([(name, data, mtime)])
        if self._kind == "xz" and self._tool is not None and len(raw) >= LARGE_MEMBER:
            path = self._piece_path(f"large{len(self._large)}")
            # One CPU stays with the collection (the tools, the other members), but not one
            # of two: the collection mostly waits for its tools, and one thread of xz -9
            # on a 10 MB dmesg outlasted the slowest GPU tool by 2 s.
            argv = threaded_xz_argv(len(raw), spare=1 if _cpus() > 2 else 0)
            piece = _Piece(self._kind, path, self._argv(argv), progressive=False)
            self._large.append(piece)
            piece.write(raw)
            piece.end_input()
        else:
            self._rest.write(raw)

    def _compress_head(self, head: bytes) -> bytes:
        if self._kind == "xz":
            return _lzma_small(head)
        assert self._tool is not None
        proc = subprocess.run((self._tool, *ZSTD[1:]), input=head, capture_output=True)
        if proc.returncode != 0:
            raise _failed(f"zstd (exit status {proc.returncode})")
        return proc.stdout

    def close(self, head: list[tuple[str, bytes, float]] | None = None) -> None:
        """End the tar stream; write ``head`` (name, data, mtime) first, then every piece."""
        self._rest.write(_END_OF_ARCHIVE)
        pieces = [*self._large, self._rest]
        try:
            for piece in self._large:
                piece.close()
            # a host with a large member (a GPU host's 10 MB dmesg) waits on its slow tools,
            # not on xz: no second stream there, whose new dictionary costs ~1 KB
            self._rest.close(second_stream=not self._large)
            with open_exclusive(self._target) as out:
                if head:
                    out.write(self._compress_head(tar_members(head)))
                for path in (path for piece in pieces for path in piece.paths):
                    with open(path, "rb") as src:
                        shutil.copyfileobj(src, out, 2**20)
        except OSError as exc:
            raise _failed(self._kind) from exc
        finally:
            for path in (path for piece in pieces for path in piece.paths):
                path.unlink(missing_ok=True)

    def abort(self) -> None:
        for piece in [*self._large, self._rest]:
            piece.abort()
