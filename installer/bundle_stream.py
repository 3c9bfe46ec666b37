"""Reading a bundle archive as a bounded stream: its format, its bytes, its budget.

A bundle is a tar archive compressed with xz. The format is decided by the file's first
bytes, never by its name: a gzip, bzip2, zstd or plain tar file named ``.tar.xz`` is
refused before anything else happens. :class:`XzStream` then hands tarfile the
decompressed bytes while it

- hashes the compressed bytes as they are read (the archive's sha256, of exactly the
  bytes that were checked) and can copy them to a private file (``tee``), so that what is
  used later is what was verified, whatever happens to the user's file meanwhile;
- caps the decoder's memory (``memlimit``) and the number of decompressed bytes: past the
  budget it raises :class:`~multiarc.installer.tree_guard.BudgetExceeded` at once, so a
  decompression bomb costs seconds, not minutes.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import stat
from pathlib import Path
from typing import IO

from multiarc.installer.tree_guard import BudgetExceeded

from multiarc.errors import InputError

XZ_MAGIC = b"\xfd7zXZ\x00"
CHUNK = 1 << 20
DECODER_MEMLIMIT = 1 << 30  # xz -9 needs 65 MiB; anything asking for more than 1 GiB is hostile
# Budget of decompressed bytes while the real size is unknown (no manifest yet): real
# bundles are mostly already-compressed packages (ratio about 1); allow a generous ratio.
MAX_RATIO = 32
MIN_BUDGET = 256 << 20

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x5d\x00\x00", "lzma (legacy .lzma)"),
    (b"PK\x03\x04", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7-zip"),
    (b"!<arch>\n", "a Debian package (ar archive)"),
)
FORMAT_HINT = (
    "an offline bundle is a tar archive compressed with xz: get the original file again, "
    "or recompress it (e.g. `multiarc-install bundle create TREE -o NAME.tar.xz`)"
)


def archive_format(head: bytes) -> str:
    """What the first bytes of a file say it is: ``xz`` or a human name of another format."""
    if head.startswith(XZ_MAGIC):
        return "xz"
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "an uncompressed tar archive"
    if not head:
        return "an empty file"
    return "not a known archive format"


def require_xz(path: Path, head: bytes) -> None:
    found = archive_format(head)
    if found != "xz":
        raise InputError(f"{path.name} is {found}, not an xz-compressed tar archive", FORMAT_HINT)


def default_budget(compressed_size: int) -> int:
    """How many decompressed bytes an archive of this size may hold before it is a bomb."""
    return max(MIN_BUDGET, compressed_size * MAX_RATIO)


class XzStream(io.RawIOBase):
    """A read-only stream of the decompressed bytes of an open .xz file (see the module)."""

    def __init__(self, raw: IO[bytes], budget: int, name: str, tee: IO[bytes] | None = None):
        super().__init__()
        self.raw = raw
        self.budget = budget
        self.name = name
        self.tee = tee
        self.sha256 = hashlib.sha256()
        self.compressed = 0
        self.decompressed = 0
        self._decoder: lzma.LZMADecompressor | None = self._new_decoder()
        self._pending = b""  # compressed bytes read but not yet given to the decoder
        self._eof = False

    def _new_decoder(self) -> lzma.LZMADecompressor:
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=DECODER_MEMLIMIT)

    def readable(self) -> bool:
        return True

    def _read_raw(self) -> bytes:
        block = self.raw.read(CHUNK)
        if block:
            self.compressed += len(block)
            self.sha256.update(block)
            if self.tee is not None:
                self.tee.write(block)
        return block

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        want = len(buffer)
        while not self._eof:
            decoder = self._decoder
            if decoder is None:
                self._eof = True
                break
            if decoder.needs_input and not self._pending:
                self._pending = self._read_raw()
                if not self._pending:
                    if not decoder.eof:
                        raise EOFError("the xz stream ends before its end marker (truncated)")
                    self._eof = True
                    break
            data = decoder.decompress(self._pending, max_length=want)
            self._pending = b""
            if decoder.eof:
                self._pending = decoder.unused_data
                self._decoder = self._next_decoder()
            if data:
                self._count(len(data))
                buffer[: len(data)] = data
                return len(data)
        return 0

    def _next_decoder(self) -> lzma.LZMADecompressor | None:
        """After one xz stream: another one (concatenated), stream padding, or the end."""
        rest = self._pending
        while True:
            rest = rest.lstrip(b"\x00")
            if len(rest) >= len(XZ_MAGIC):
                break
            more = self._read_raw()
            if not more:
                break
            rest += more
        self._pending = rest
        if not rest:
            return None
        if not rest.startswith(XZ_MAGIC):
            raise lzma.LZMAError("trailing data after the xz stream is not an xz stream")
        return self._new_decoder()

    def _count(self, n: int) -> None:
        self.decompressed += n
        if self.decompressed > self.budget:
            raise BudgetExceeded(
                f"{self.name} decompresses to more than {self.budget} bytes (it is "
                f"{self.compressed} bytes compressed)",
                "a decompression bomb or a manifest that lies: do not install it",
            )

    def drain(self) -> None:
        """Read what remains of the file (after the tar end): every byte is hashed."""
        while self.read(CHUNK):
            pass
        while self._read_raw():
            pass

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


def open_regular(path: Path) -> IO[bytes]:
    """Open a bundle for reading; it must be a regular file (not a FIFO, device or folder)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}", "check the path") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{path} is not a regular file", "pass the path of BUNDLE.tar.xz")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
