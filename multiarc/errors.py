"""Exit codes and the error type every command reports through.

The contract (ARCHITECTURE.md): 0 success / all pass; 1 checks or metrics failed;
2 usage or input error; 3 environment not ready. An error is one clear line plus what
to do about it.
"""

from __future__ import annotations

import enum
import errno
import functools
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import click


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    NOT_READY = 3


class MultiarcError(Exception):
    """An error to show the user: one line of what went wrong, one of what to do."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class InputError(MultiarcError):
    """Bad input: a corrupt bundle, a malformed CSV, a missing file (exit 2)."""

    exit_code = ExitCode.USAGE


class EnvironmentNotReady(MultiarcError):
    """Not root when needed, unsupported OS, tools or GPUs missing (exit 3)."""

    exit_code = ExitCode.NOT_READY


class ChecksFailed(MultiarcError):
    """Checks or metrics failed (exit 1)."""

    exit_code = ExitCode.FAILED


_INPUT_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR, errno.EISDIR,
     errno.EEXIST, errno.ELOOP, errno.ENAMETOOLONG}
)  # fmt: skip


def from_os_error(err: OSError) -> MultiarcError:
    """A file system error as a user error: a path that cannot be used is exit 2, a machine
    that cannot do it (full disk, I/O error) exit 3."""
    where = f": {err.filename}" if err.filename else ""
    message = f"{err.strerror or err}{where}"
    if err.errno in _INPUT_ERRNOS:
        return InputError(message, "check the path and its permissions, or choose another")
    return EnvironmentNotReady(message, "free space or fix the file system, then run again")


P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a click command so a MultiarcError becomes its line(s) on stderr and exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MultiarcError as err:
            click.echo(err.render(), err=True)
            sys.exit(int(err.exit_code))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except OSError as err:  # the last net: a file system error is never a traceback
            failure = from_os_error(err)
            click.echo(failure.render(), err=True)
            sys.exit(int(failure.exit_code))

    return wrapper


class _ErrorLines:
    """Click's own usage errors as this project's: one ``error:`` line, one ``hint:``.

    Mixed into the top command of each program; errors of its subcommands reach it too.
    """

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)  # type: ignore[misc]
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)  # type: ignore[misc]
        except click.UsageError as err:
            where = err.ctx.command_path if err.ctx else (prog_name or "the command")
            click.echo(f"error: {err.format_message()}", err=True)
            click.echo(f"  hint: see '{where} --help'", err=True)
            sys.exit(ExitCode.USAGE)
        except click.ClickException as err:
            click.echo(f"error: {err.format_message()}", err=True)
            click.echo("  hint: see --help", err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)


class Command(_ErrorLines, click.Command):
    """A click command whose usage errors read like every other error of multiarc."""


class Group(_ErrorLines, click.Group):
    """A click group whose usage errors (its subcommands' too) read like multiarc's errors."""
