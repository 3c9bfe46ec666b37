"""Intel's ``reference_perf.csv``: the expected figure for each metric key.

The file has the columns ``Category,Subcategory,Data/Packet Size,Reference`` (any order,
extra columns ignored), and optionally ``Topology``: a P2P row for one class of GPU pair
(``same switch``, ``same root complex``, ``across root complexes``, ``across sockets``, see
topology.py). A row without a Topology applies to the class of the pair 0-1, on which
Intel measured its reference; other classes are judged against their own rows, or against
the other pairs of their class when the file has none. Each row gives the reference
figure for one metric key, e.g.
``p2p,Unidirectional Write,128 MB,24`` or ``1ccl,allreduce,128MB,12.5``.

Matching keys: Intel's own files spell sizes both as ``128 MB`` (ze_peer) and ``128MB``
(oneCCL), and hand-edited copies drift in case and spacing. A key is therefore matched
after removing all white space and case-folding each of its three fields
(:func:`canonical_key`): ``"128 MB"``, ``"128MB"`` and ``"128 mb"`` are the same size, and
``"GPU Memory Bandwidth"`` is ``"GPU memory bandwidth"``. Two rows that are the same key
after this normalisation are a duplicate, which is an error (which one would count?).

A malformed file is an :class:`~multiarc.errors.InputError` (exit 2) that names the file,
the line and what is wrong: missing columns, a non-numeric or non-positive Reference, a
row with too few fields, duplicate keys, an empty file, binary content.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from multiarc.evaluation.metric_names import REFERENCE_COLUMNS, TOPOLOGY_COLUMN
from multiarc.evaluation.topology import PAIR_CLASSES

from multiarc.errors import InputError

Key = tuple[str, str, str]

_HINT = (
    "fix the file or pass another with --reference; it needs the header "
    + ",".join(REFERENCE_COLUMNS)
    + " and one numeric Reference per row"
)


def canonical_field(value: str) -> str:
    """``" 128 MB "`` -> ``"128mb"``: white space removed, case folded."""
    return "".join(value.split()).casefold()


def canonical_key(key: Key) -> Key:
    category, subcategory, size = key
    return (canonical_field(category), canonical_field(subcategory), canonical_field(size))


@dataclass(frozen=True)
class ReferenceEntry:
    category: str
    subcategory: str
    size: str
    value: float
    text: str  # the Reference cell as written ("24", not "24.0"): Intel's report copies it
    line: int  # 1-based line in the file
    topology: str = ""  # the class of GPU pair the row is for ("" for Intel's rows)

    @property
    def key(self) -> Key:
        return (self.category, self.subcategory, self.size)


@dataclass
class Reference:
    """Reference figures by metric key (looked up with :func:`canonical_key`)."""

    entries: list[ReferenceEntry]
    source: str = ""  # path or name, for messages and reports
    _index: dict[Key, ReferenceEntry] = field(init=False, repr=False)
    _typed: dict[tuple[Key, str], ReferenceEntry] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {}
        self._typed = {}
        for entry in self.entries:
            key = canonical_key(entry.key)
            typed = (key, entry.topology)
            first = self._typed.get(typed) if entry.topology else self._index.get(key)
            if first is not None:
                where = f" for pairs {entry.topology}" if entry.topology else ""
                raise InputError(
                    f"{self.source}:{entry.line}: duplicate key {_show(entry.key)}{where} "
                    f"(same as line {first.line} once case and spacing are ignored)",
                    _HINT,
                )
            if entry.topology:
                self._typed[(key, entry.topology)] = entry
            else:
                self._index[key] = entry

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[ReferenceEntry]:
        return iter(self.entries)

    def get(self, key: Key) -> ReferenceEntry | None:
        """The row without a Topology for a metric key, tolerant of case and spacing."""
        entry = self._index.get(key)  # exact spelling first: the common, cheap case
        if entry is not None and entry.key == key:
            return entry
        return self._index.get(canonical_key(key))

    def for_class(self, key: Key, topology: str) -> ReferenceEntry | None:
        """The row for pairs of one topology class, None if the file has none."""
        if not self._typed:
            return None
        return self._typed.get((canonical_key(key), topology))

    def has_key(self, key: Key) -> bool:
        """Whether any row (of any class) judges this key."""
        canon = canonical_key(key)
        return canon in self._index or any(k == canon for k, _ in self._typed)


def _show(key: Key) -> str:
    return "(" + ", ".join(repr(part) for part in key) + ")"


def parse_reference(text: str, source: str = "reference_perf.csv") -> Reference:
    """A :class:`Reference` from the CSV text; InputError (with the line) when malformed."""
    if "\x00" in text:
        raise InputError(f"{source}: is binary, not a CSV file", _HINT)
    if not text.strip():
        raise InputError(f"{source}: is empty", _HINT)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    header: list[str] | None = None
    header_line = 0
    topology_column: int | None = None
    entries: list[ReferenceEntry] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header, header_line = [cell.strip() for cell in row], line
                missing = [c for c in REFERENCE_COLUMNS if c not in header]
                if missing:
                    raise InputError(
                        f"{source}:{line}: header lacks column(s) {', '.join(missing)} "
                        f"(found: {','.join(header)})",
                        _HINT,
                    )
                columns = [header.index(c) for c in REFERENCE_COLUMNS]
                if TOPOLOGY_COLUMN in header:
                    topology_column = header.index(TOPOLOGY_COLUMN)
                continue
            if len(row) <= max(columns):
                raise InputError(
                    f"{source}:{line}: {len(row)} field(s), expected at least {max(columns) + 1} "
                    f"({','.join(header)})",
                    _HINT,
                )
            category, subcategory, size, cell = (row[i].strip() for i in columns)
            value = _number(cell)
            if value is None:
                raise InputError(
                    f"{source}:{line}: Reference {cell!r} is not a positive number", _HINT
                )
            topology = _topology(row, topology_column, source, line)
            entries.append(ReferenceEntry(category, subcategory, size, value, cell, line, topology))
    except csv.Error as err:
        raise InputError(f"{source}:{reader.line_num}: not valid CSV ({err})", _HINT) from None
    if header is None:
        raise InputError(f"{source}: is empty", _HINT)
    if not entries:
        raise InputError(f"{source}:{header_line}: has a header but no reference rows", _HINT)
    return Reference(entries, source)


def _topology(row: list[str], column: int | None, source: str, line: int) -> str:
    if column is None or column >= len(row) or not row[column].strip():
        return ""
    wanted = " ".join(row[column].split()).casefold()
    for cls in PAIR_CLASSES:
        if cls == wanted:
            return cls
    raise InputError(
        f"{source}:{line}: Topology {row[column].strip()!r} is not one of "
        + ", ".join(PAIR_CLASSES),
        "leave the Topology cell empty for a row that applies to the pair 0-1",
    )


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0 or "_" in cell:
        return None
    return value


def load_reference(path: Path) -> Reference:
    """Read ``reference_perf.csv``; InputError (exit 2) naming file and line when malformed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"reference file {path} does not exist", _HINT) from None
    except IsADirectoryError:
        raise InputError(f"reference file {path} is a directory, not a CSV file", _HINT) from None
    except OSError as err:
        raise InputError(f"cannot read reference file {path}: {err.strerror}", _HINT) from None
    if b"\x00" in data:
        raise InputError(f"{path}: is binary, not a CSV file", _HINT)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: is not UTF-8 text (binary content?)", _HINT) from None
    return parse_reference(text, str(path))
