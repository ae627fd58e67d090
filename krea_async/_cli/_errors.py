"""Errors of the ``krea-async`` CLI: one ``error: ...`` line on stderr, an exit status.

Exit statuses: 1 an API or job error, 2 bad usage or input, 130 interrupted.
"""

from __future__ import annotations

from typing import Any, NoReturn

import click

from .. import ConfigurationError, KreaError
from ._safe_text import echo, safe_text

#: Exit status of an interrupted command (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


class CliError(click.ClickException):
    """An expected failure: printed as ONE ``error: ...`` line on stderr, no traceback.

    Exit status 1: an API or job error.
    """

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(safe_text(one_line(message)))

    def show(self, file: Any = None) -> None:
        """Print ``error: <message>`` on stderr."""
        echo(f"error: {self.format_message()}", err=True, file=file)


class CliUsageError(CliError):
    """Bad usage or input (an unknown model, a bad ``-i`` value): exit status 2."""

    exit_code = 2


class CliInterrupted(CliError):
    """Interrupted by Ctrl-C: exit status 130."""

    exit_code = EXIT_INTERRUPTED


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) as one space."""
    return " ".join(str(text).split())


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Raise the :class:`CliError` of ``exit_code`` (1, 2 or 130) with ``message``."""
    cls = {2: CliUsageError, EXIT_INTERRUPTED: CliInterrupted}.get(exit_code, CliError)
    raise cls(message)


def unwrap(exc: BaseException) -> BaseException:
    """The only exception of (nested) one-exception groups, else ``exc`` itself."""
    inner = getattr(exc, "exceptions", None)  # BaseExceptionGroup (3.11+ or backport)
    while isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def raise_cli_error(exc: BaseException) -> NoReturn:
    """Re-raise ``exc`` as the matching :class:`CliError` (or as itself)."""
    if isinstance(exc, click.ClickException | click.exceptions.Exit | click.Abort):
        raise exc
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    if isinstance(exc, ConfigurationError):
        fail(str(exc), 2)
    if isinstance(exc, KreaError):
        fail(str(exc), 1)
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        fail(f"cannot access{name}: {exc.strerror or exc}", 1)
    if isinstance(exc, ValueError | TypeError):
        fail(str(exc), 2)
    raise exc
