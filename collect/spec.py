"""The declarative units a support archive is made of, and what running one produced.

A collector is a concern ("cpu", "pci", ...) and a list of items: a command to run (with its
own timeout), a file to copy, a folder of files to copy, or a text generated in Python from
the probes. Items never raise into the archive builder: every outcome is an ItemResult.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiarc.collect.context import Context


class Status(enum.StrEnum):
    OK = "ok"  # ran / read, exit status 0
    FAILED = "failed"  # ran, non-zero exit status (output kept)
    TIMEOUT = "timeout"  # killed at its timeout (partial output kept)
    SKIPPED = "skipped"  # tool missing, file absent or unreadable: the reason says which
    ABSENT = "absent"  # ran, and what it asks for is simply not on this system (no package)


class Absent(Exception):
    """Raised by a Generate item: what it reports on is simply not on this system."""


@dataclass(frozen=True)
class Command:
    name: str  # path inside the archive, e.g. "pci/lspci-vvv.txt"
    argv: tuple[str, ...]
    timeout: float = 30.0
    needs_root: bool = False  # fails or is incomplete without root
    version_argv: tuple[str, ...] | None = None  # e.g. ("lspci", "--version")
    absent_when: str | None = None  # regex on its output: "not on this system", not a failure
    max_bytes: int | None = None  # keep only the last this many bytes of stdout (logs)

    @property
    def source(self) -> str:
        return " ".join(self.argv)


@dataclass(frozen=True)
class CopyFile:
    name: str
    path: Path  # system path, read below the context's root
    needs_root: bool = False

    @property
    def source(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class CopyTree:
    name: str  # folder inside the archive
    path: Path
    pattern: str = "*"
    max_files: int = 200
    max_bytes: int = 50 * 2**20
    below_root: bool = True  # False: ``path`` is already where to read (found by a probe)
    newer_than: float | None = None  # epoch seconds: older files are left out (--since-install)
    recursive: bool = True  # False: the files of the folder itself (/var/log/dpkg.log*)
    needs_root: bool = False

    @property
    def source(self) -> str:
        return f"{self.path}/{self.pattern}"


@dataclass(frozen=True)
class Generate:
    name: str
    produce: Callable[[Context], str]
    description: str
    needs_root: bool = False

    @property
    def source(self) -> str:
        return self.description


Item = Command | CopyFile | CopyTree | Generate


@dataclass(frozen=True)
class Collector:
    concern: str
    items: tuple[Item, ...]


@dataclass
class ItemResult:
    name: str
    concern: str
    kind: str  # "command", "file", "tree", "generated"
    source: str
    status: Status
    reason: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    tool_version: str | None = None
    needs_root: bool = False
    data: bytes = b""
    stderr: bytes = b""
    files: dict[str, bytes] = field(default_factory=dict)  # CopyTree: archive name -> data
