"""Server text made safe for a terminal: the one rule the CLI prints server strings by.

Job ids, statuses, types, URLs, error messages, style titles, asset names: every
string a server sends can carry terminal control sequences (an OSC 52 clipboard
write, an OSC 8 hyperlink that shows one URL and opens another, a screen clear, a
window title) or bidirectional overrides that reorder what is shown. The CLI
prints such text only through :func:`safe_text` (one value, one line) or
:func:`echo` (a whole line or block), which show each control character as a
visible, inert escape (``\\x1b``, ``\\u202e``) instead of sending it to the terminal,
into a pipe as well as onto a screen.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import click

__all__ = ["SafeFormatter", "echo", "safe_text"]

# C0 controls and DEL, C1 controls (0x80-0x9f: 8-bit CSI, OSC, ST...), the
# bidirectional embeddings, overrides and isolates, and the line and paragraph
# separators (which some terminals and editors break lines on).
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_UNSAFE_BLOCK = re.compile(f"[{_CONTROLS}]")
_UNSAFE_LINE = re.compile(f"[{_CONTROLS}\t\n]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: object, *, multiline: bool = False) -> str:
    """``str(value)`` with every control character shown as an inert escape.

    Escapes C0 controls (ESC included, so no escape sequence survives) and DEL, C1
    controls, the bidirectional controls (U+061C, U+200E, U+200F, U+202A to U+202E,
    U+2066 to U+2069) and U+2028/U+2029, as ``\\xNN`` or ``\\uNNNN``. Tabs and
    newlines are escaped too unless ``multiline`` (a value printed inside one line
    must not start a fake line of its own). Other text, non-ASCII letters included,
    is kept.
    """
    pattern = _UNSAFE_BLOCK if multiline else _UNSAFE_LINE
    return pattern.sub(_escape, str(value))


def echo(
    message: object = "", *, err: bool = False, multiline: bool = False, **kwargs: Any
) -> None:
    """``click.echo`` of ``message`` made safe by :func:`safe_text`: the way the CLI
    prints every line. One line unless ``multiline`` (a JSON document), so that a
    newline inside a server value cannot start a line of its own."""
    click.echo(safe_text(message, multiline=multiline), err=err, **kwargs)


class SafeFormatter(logging.Formatter):
    """A log formatter whose lines pass :func:`safe_text` (tracebacks keep their
    newlines): the SDK's log records carry URLs and ids from the server."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record, control characters escaped."""
        return safe_text(super().format(record), multiline=True)
