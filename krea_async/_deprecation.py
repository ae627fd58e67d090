"""Deprecated argument spellings: one release of grace, with a ``DeprecationWarning``."""

from __future__ import annotations

import sys
import warnings
from typing import TypeVar

from ._types import NotGiven

__all__ = ["renamed", "user_stacklevel", "warn_renamed"]

T = TypeVar("T")


def user_stacklevel() -> int:
    """The ``stacklevel`` for :func:`warnings.warn`, called from krea-async, that
    points at the first frame outside ``krea_async`` (the user's code)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name == "krea_async" or name.startswith("krea_async.")):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return 1


def warn_renamed(where: str, old: str, new: str) -> None:
    """Warn that ``where(old=...)`` is now ``where(new=...)``."""
    warnings.warn(
        f"{where}({old}=...) is deprecated; use {new}=... (the old name goes away in the "
        "next release)",
        DeprecationWarning,
        stacklevel=user_stacklevel(),
    )


def renamed(where: str, old: str, old_value: T | NotGiven, new: str, new_value: T) -> T:
    """The value of a renamed argument: ``new_value``, or ``old_value`` with a
    :class:`DeprecationWarning` when the old spelling was used. Giving both (the
    new one not at its default ``None``) is a :class:`TypeError`."""
    if isinstance(old_value, NotGiven):
        return new_value
    warn_renamed(where, old, new)
    if new_value is not None:
        raise TypeError(f"{where}: pass {new}= only (not also the deprecated {old}=)")
    return old_value
