"""What every parser returns, and the small helpers they share.

A parser is a pure function ``parse_*(text: str) -> ParseResult[Record]``. It never raises:
whatever it could read comes back in ``records``, and whatever it could not read (an error
printed by the tool, a truncated run, a garbled line) comes back as a
:class:`~multiarc.evaluation.model.ParseProblem`. Parsers find their data inside surrounding
noise, because the concatenated ``benchmark_detail_log.txt`` mixes every tool's output.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from multiarc.evaluation.model import ParseProblem

T = TypeVar("T")


@dataclass
class ParseResult(Generic[T]):
    """Records read from a tool's output plus what could not be read."""

    records: list[T] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the output was read completely, without any problem."""
        return not self.problems

    def problem(self, tool: str, message: str, line: int | None = None) -> None:
        self.problems.append(ParseProblem(tool=tool, message=message, line=line))

    def extend(self, other: ParseResult[T]) -> None:
        self.records.extend(other.records)
        self.problems.extend(other.problems)


Parser = Callable[[str], ParseResult[T]]


def never_raises(tool: str) -> Callable[[Parser[T]], Parser[T]]:
    """Last line of defence: turn an unexpected exception into a ParseProblem.

    Parsers are written not to raise; this keeps that promise even for a bug nobody
    found yet, and says so plainly instead of crashing the evaluation.
    """

    def decorate(func: Parser[T]) -> Parser[T]:
        @functools.wraps(func)
        def wrapper(text: str) -> ParseResult[T]:
            if not isinstance(text, str):
                result: ParseResult[T] = ParseResult()
                result.problem(tool, f"expected text, got {type(text).__name__}")
                return result
            try:
                return func(text)
            except Exception as err:
                result = ParseResult()
                result.problem(tool, f"internal parser error ({type(err).__name__}: {err})")
                return result

        return wrapper

    return decorate


def numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without trailing newline/CR) for every line of ``text``."""
    for number, line in enumerate(text.splitlines(), start=1):
        yield number, line.rstrip("\r")


def to_float(token: str) -> float | None:
    """A finite float from a token, or None (for N/A, inf, nan, garbage)."""
    try:
        value = float(token)
    except ValueError:
        return None
    if not math.isfinite(value) or "_" in token or not token.strip().isascii():
        return None
    return value


def to_int(token: str) -> int | None:
    """A decimal integer from a token (ASCII digits, optional sign), or None."""
    token = token.strip()
    digits = token[1:] if token[:1] in ("+", "-") else token
    if not digits.isascii() or not digits.isdigit() or len(digits) > 30:
        return None
    return int(token)


_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2,
               "MIB": 1024**2, "G": 1024**3, "GB": 1024**3, "GIB": 1024**3, "T": 1024**4,
               "TB": 1024**4, "TIB": 1024**4}


def size_to_bytes(number: str, unit: str) -> int | None:
    """``("128", "MB")`` -> 134217728 (binary units, as the tools mean them)."""
    value = to_int(number)
    factor = _SIZE_UNITS.get(unit.strip().upper())
    if value is None or factor is None:
        return None
    return value * factor


def bytes_label(size: int, *, space: bool) -> str:
    """134217728 -> "128 MB" (space=True, ze_peer's spelling) or "128MB" (oneCCL's)."""
    sep = " " if space else ""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{sep}{unit}"
    return f"{size}{sep}B"


# Lines that mean a tool failed, whatever tool it is.
ERROR_LINE_RE = re.compile(
    r"(terminate called|what\(\):|ZE_RESULT_ERROR_\w+|\bERROR\s*:|\[ERROR\]|Segmentation fault"
    r"|core dumped|Aborted|exception)",
    re.IGNORECASE,
)
def looks_like_error(line: str) -> bool:
    """True for a line in which a tool reports an error (cheap test first: called a lot)."""
    return (
        "rror" in line or "RROR" in line or "terminate" in line or "what()" in line
        or "fault" in line or "Abort" in line or "xception" in line or "dumped" in line
    ) and ERROR_LINE_RE.search(line) is not None
