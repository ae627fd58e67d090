"""Request-rate limits of the fake: at most N requests per second of a route
class, then ``429``, with or without ``Retry-After``.

Krea documents ``429`` for a full backlog of concurrent jobs and no rate-limit
header (https://docs.krea.ai/developers/job-lifecycle); a rate limit on status
requests is what a client polling many jobs must survive anyway, so the fake can
impose one. Windows are sliding, one second long, on the fake's clock (a
:class:`~krea_async.testing.ManualClock` makes them deterministic), shared by
every token of the fake.
"""

from __future__ import annotations

import collections
import json
import math
import threading
from typing import Literal

import attrs
from starlette.types import ASGIApp, Receive, Scope, Send

from ._faults import operation_of
from ._util import Clock

__all__ = ["RateLimit", "RateLimiter", "RouteClass", "route_class"]

#: ``status``: ``GET /jobs/{id}`` and ``GET /jobs``; ``submit``: every request that
#: creates a job; ``all``: every API request (not ``/_fake/`` files nor ``/openapi.json``).
RouteClass = Literal["status", "submit", "all"]


def route_class(method: str, path: str) -> set[str]:
    """The route classes a request counts against."""
    if path.startswith("/_fake/") or path == "/openapi.json":
        return set()
    op = operation_of(method, path)
    out = {"all"}
    if op == "submit":
        out.add("submit")
    elif op == "poll" or (op == "list" and path.rstrip("/") == "/jobs"):
        out.add("status")
    return out


@attrs.define(kw_only=True, eq=False)
class RateLimit:
    """One limit (``fake.rate_limit(...)``): at most ``per_second`` requests of
    ``on`` in any one second of the fake's clock; beyond, ``429 {"error": ...}``,
    with ``Retry-After`` (whole seconds until a request fits again) when
    ``retry_after`` is true. ``hits``: requests it refused so far."""

    per_second: int
    on: RouteClass = "all"
    retry_after: bool = True
    hits: int = 0
    _seen: collections.deque[float] = attrs.field(factory=collections.deque, init=False, repr=False)

    def is_full(self, now: float) -> bool:
        """Forget requests older than one second before ``now``; whether the window
        still holds ``per_second`` of them (the next one is refused)."""
        while self._seen and self._seen[0] <= now - 1.0:
            self._seen.popleft()
        return len(self._seen) >= self.per_second

    def record(self, now: float) -> None:
        """Count a request let through at ``now``."""
        self._seen.append(now)

    def seconds_until_free(self, now: float) -> int:
        """Whole seconds (>= 1) from ``now`` until a request fits again."""
        oldest = self._seen[0] if self._seen else now
        return max(1, math.ceil(oldest + 1.0 - now))


class RateLimiter:
    """The fake's rate limits, applied as ASGI middleware in front of its routes."""

    def __init__(self, app: ASGIApp, clock: Clock) -> None:
        self.app = app
        self.clock = clock
        self.limits: list[RateLimit] = []
        self._lock = threading.Lock()

    def add(self, limit: RateLimit) -> RateLimit:
        """Add a limit (``ValueError`` if ``per_second`` < 1)."""
        if limit.per_second < 1:
            raise ValueError("per_second must be >= 1")
        with self._lock:
            self.limits.append(limit)
        return limit

    def clear(self) -> None:
        """Remove every limit."""
        with self._lock:
            self.limits.clear()

    def _refused(self, classes: set[str]) -> RateLimit | None:
        now = self.clock()
        with self._lock:
            applicable = [lim for lim in self.limits if lim.on in classes]
            full = [lim for lim in applicable if lim.is_full(now)]
            if full:
                full[0].hits += 1
                return full[0]
            for lim in applicable:
                lim.record(now)
        return None

    def _wait(self, limit: RateLimit) -> int:
        with self._lock:
            return limit.seconds_until_free(self.clock())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limits:
            await self.app(scope, receive, send)
            return
        limit = self._refused(route_class(scope["method"], scope["path"]))
        if limit is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"error": f"Too many requests: at most {limit.per_second} per second"}
        ).encode()
        headers = [(b"content-type", b"application/json")]
        if limit.retry_after:
            headers.append((b"retry-after", str(self._wait(limit)).encode()))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
