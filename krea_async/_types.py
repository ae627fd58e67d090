"""Small shared types: the ``NOT_GIVEN`` sentinel and the progress-callback type."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, Literal, TypeVar, Union

if TYPE_CHECKING:
    from ._models import Job

__all__ = ["NOT_GIVEN", "NotGiven", "QueueUpdateCallback", "given"]

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
