"""Small shared types: the ``NOT_GIVEN`` sentinel, the progress-callback type, and
:func:`user_stacklevel` for the SDK's warnings."""

from __future__ import annotations

import enum
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, Literal, TypeVar, Union

if TYPE_CHECKING:
    from ._models import Job

__all__ = ["NOT_GIVEN", "NotGiven", "QueueUpdateCallback", "given", "user_stacklevel"]

T = TypeVar("T")


class NotGiven(enum.Enum):
    """The type of :data:`NOT_GIVEN`: "argument not passed", distinct from ``None``."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False


NOT_GIVEN: Final = NotGiven.NOT_GIVEN
"""Default of optional arguments where ``None`` is a meaningful value (for example
``timeout=None``: no HTTP timeout)."""


def given(value: T | NotGiven, default: T) -> T:
    """``value`` unless it is :data:`NOT_GIVEN`, else ``default``."""
    return default if isinstance(value, NotGiven) else value


QueueUpdateCallback = Callable[["Job"], Union["Awaitable[None]", None]]
"""Called with every polled state of a job (the submit's response first; a status may
repeat from one poll to the next) while ``subscribe()`` or ``jobs.wait()`` waits;
a plain function or a coroutine function."""


def user_stacklevel() -> int:
    """The ``stacklevel`` for :func:`warnings.warn`, called from krea-async, that
    points at the first frame outside ``krea_async`` (the user's code), so a warning
    names the caller's line, however deep in the SDK it was raised."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name == "krea_async" or name.startswith("krea_async.")):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return 1
