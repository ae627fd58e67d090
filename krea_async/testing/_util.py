"""Small pieces shared by the fake's modules: its error type, its clocks, its
timestamps and its list paging. Depends on nothing else of the package.

The fake parses and prints timestamps itself (it does not borrow the SDK's
parser), so that a bug in the SDK's date handling cannot hide behind the same
bug in the fake.
"""

from __future__ import annotations

import datetime as _dt
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_START",
    "ApiError",
    "Clock",
    "ManualClock",
    "dt_of",
    "iso",
    "paginate",
    "parse_cursor",
    "parse_limit",
    "us",
    "wall_clock",
]

#: A clock: a callable returning the current time in seconds since the Unix epoch.
Clock = Callable[[], float]

EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
#: 2026-08-01T00:00:00Z, the default start of a :class:`ManualClock`.
DEFAULT_START = 1785542400.0

_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?(Z|z|[+-]\d{2}:?\d{2})?$"
)


class ManualClock:
    """A clock that only moves when told to (thread-safe).

    ``ManualClock(start=1785542400.0)``: ``start`` in seconds since the Unix epoch
    (default 2026-08-01T00:00:00Z). Calling it returns the current time;
    :meth:`advance` moves it forward. Pass it as ``FakeKrea(clock=...)``.
    """

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current time, seconds since the Unix epoch."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward (``ValueError`` if negative); return the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += seconds
            return self._now


def wall_clock() -> float:
    """The default clock: :func:`time.time`."""
    return time.time()


class ApiError(Exception):
    """An error answer of the fake: HTTP ``status`` with body ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def us(seconds: float) -> int:
    """Seconds to whole microseconds."""
    return round(seconds * 1_000_000)


def dt_of(micros: int) -> _dt.datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return EPOCH + _dt.timedelta(microseconds=micros)


def iso(micros: int) -> str:
    """Microseconds since the epoch as ISO 8601 UTC with ``Z`` (``2026-08-01T00:00:00.000000Z``)."""
    return dt_of(micros).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> _dt.datetime | None:
    """An RFC 3339 / ISO 8601 date-time as an aware UTC datetime, or ``None``."""
    m = _ISO.match(value.strip())
    if not m:
        return None
    date, clock, frac, tz = m.groups()
    if clock.count(":") == 1:
        clock += ":00"
    text = f"{date}T{clock}"
    if frac:
        text += "." + (frac + "000000")[:6]
    if tz and tz not in ("Z", "z"):
        text += tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.astimezone(_dt.timezone.utc)


def parse_cursor(value: str | None, name: str = "cursor") -> int | None:
    """A ``cursor`` query value as microseconds since the epoch (400 if not a
    date-time, including an empty ``cursor=``; absent is ``None``)."""
    if value is None:
        return None
    parsed = parse_iso(value)
    if parsed is None:
        raise ApiError(400, f"{name}: {value[:64]!r} is not an ISO 8601 date-time")
    delta = parsed - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_limit(value: str | None) -> int:
    """A ``limit`` query value: an integer 1..1000, default 100 (400 otherwise)."""
    if value is None or value == "":
        return 100
    try:
        limit = int(value)
    except ValueError:
        raise ApiError(400, f"limit: {value[:64]!r} is not an integer") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, f"limit: {limit} is not between 1 and 1000")
    return limit


def paginate(
    items: list[Any], key: Callable[[Any], int], cursor: int | None, limit: int
) -> tuple[list[Any], str | None]:
    """Newest first, strictly before ``cursor``; next_cursor = last item's time or None."""
    ordered = sorted((i for i in items if cursor is None or key(i) < cursor), key=key, reverse=True)
    found = ordered[:limit]
    more = len(ordered) > limit
    return found, (iso(key(found[-1])) if more and found else None)
