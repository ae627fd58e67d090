"""Scriptable network and server faults of the fake Krea API.

A :class:`Fault` says *what* goes wrong; :meth:`FaultPlan.inject` says *when*:
which requests it matches (method, path prefix, operation kind) and how often
(a probability ``rate`` drawn from a seeded :class:`random.Random`, and/or a
``times`` count). Rules are tried in the order they were injected; the first
that matches and fires applies, and no other rule does for that request.

Fault kinds (build them with the functions below):

- :func:`http_error`: an HTTP error status (500/502/503/504, 429...) with a JSON
  ``{"error": ...}`` body or an HTML page, optionally a ``Retry-After`` header.
  The request never reaches the API: no job is created.
- :func:`rate_limited`: ``429`` with or without ``Retry-After`` (seconds or HTTP-date).
- :func:`drop_before`: the connection drops before the API sees the request (no job).
- :func:`drop_after`: the API handles the request (a submit DOES create its job),
  then the connection drops before the answer is complete.
- :func:`slow`: a delay (``anyio.sleep``) before the request is handled, or after
  it was handled and before the answer is sent.
- :func:`malformed`: ``200`` with a broken, non-JSON or wrong-shape body; the
  request never reaches the API (no job).
- :func:`refuse_connection`: :class:`httpx.ConnectError` raised by the in-process
  transport (:meth:`krea_async.testing.FakeKrea.transport`) before anything is
  sent. Over a real socket (uvicorn) a server cannot refuse a connection it has
  already accepted, so there it behaves like :func:`drop_before`.

A dropped connection shows up in httpx as :class:`httpx.RemoteProtocolError`
(in-process: raised by the fake transport; over uvicorn: the server sends the
status line and part of the body, then closes the socket).
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

import attrs

__all__ = [
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "Operation",
    "drop_after",
    "drop_before",
    "http_error",
    "malformed",
    "operation_of",
    "rate_limited",
    "refuse_connection",
    "slow",
]

FaultKind = Literal["status", "drop_before", "drop_after", "slow", "malformed", "refuse_connection"]
#: Operation kinds a rule can match with ``on=``.
Operation = Literal[
    "submit", "poll", "cancel", "list", "get", "upload", "delete", "download", "other"
]


@attrs.frozen(kw_only=True)
class Fault:
    """One fault: what the fake does instead of (or on top of) answering normally.

    Build it with :func:`http_error`, :func:`rate_limited`, :func:`drop_before`,
    :func:`drop_after`, :func:`slow`, :func:`malformed` or
    :func:`refuse_connection` rather than directly.

    - ``kind``: see :data:`FaultKind`.
    - ``status``: HTTP status for ``status``/``malformed`` faults.
    - ``body``: the response body (bytes) for ``status``/``malformed`` faults.
    - ``content_type``: its ``Content-Type``.
    - ``retry_after``: seconds (``float``) for a ``Retry-After`` header, or ``None``.
    - ``retry_after_http_date``: send ``Retry-After`` as an HTTP-date (wall clock)
      instead of a number of seconds.
    - ``seconds``: the delay of a ``slow`` fault; ``phase`` is ``"before"``
      (delay, then handle) or ``"after"`` (handle, then delay the answer).
    """

    kind: FaultKind
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    retry_after: float | None = None
    retry_after_http_date: bool = False
    seconds: float = 0.0
    phase: Literal["before", "after"] = "before"

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The response headers (``Content-Type`` and, if set, ``Retry-After``)."""
        out = [(b"content-type", self.content_type.encode("latin-1"))]
        if self.retry_after is not None:
            if self.retry_after_http_date:
                value = email.utils.formatdate(time.time() + self.retry_after, usegmt=True)
            elif float(self.retry_after).is_integer():
                value = str(int(self.retry_after))
            else:
                value = f"{self.retry_after:g}"
            out.append((b"retry-after", value.encode("latin-1")))
        return out


_HTML = (
    "<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}"
    "</h1></center><hr><center>cloudflare</center></body></html>"
)
_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def http_error(
    status: int = 503,
    *,
    error: str | None = None,
    html: bool = False,
    retry_after: float | None = None,
    http_date: bool = False,
) -> Fault:
    """An HTTP error answer: ``status`` with body ``{"error": error}`` (JSON) or,
    with ``html=True``, a proxy-style HTML page (``text/html``).

    ``retry_after`` (seconds) adds a ``Retry-After`` header, as a number of seconds
    or, with ``http_date=True``, as an HTTP-date. No job is created.
    """
    reason = _REASONS.get(status, "Error")
    if html:
        body = _HTML.format(code=status, reason=reason).encode()
        ctype = "text/html; charset=utf-8"
    else:
        body = json.dumps({"error": error or reason}).encode()
        ctype = "application/json"
    return Fault(
        kind="status",
        status=status,
        body=body,
        content_type=ctype,
        retry_after=retry_after,
        retry_after_http_date=http_date,
    )


def rate_limited(retry_after: float | None = None, *, http_date: bool = False) -> Fault:
    """``429 {"error": "Maximum number of concurrent jobs reached"}``, with a
    ``Retry-After`` header (seconds, or an HTTP-date with ``http_date=True``)
    when ``retry_after`` is given. No job is created."""
    return http_error(
        429,
        error="Maximum number of concurrent jobs reached",
        retry_after=retry_after,
        http_date=http_date,
    )


def drop_before() -> Fault:
    """The connection drops before the API handles the request: no job is created."""
    return Fault(kind="drop_before")


def drop_after() -> Fault:
    """The API handles the request (a submit creates and bills its job), then the
    connection drops before the answer is complete."""
    return Fault(kind="drop_after")


def slow(seconds: float, *, phase: Literal["before", "after"] = "before") -> Fault:
    """Delay the answer by ``seconds`` (``anyio.sleep``, so asyncio and trio).

    ``phase="before"``: wait, then handle the request (a client that gives up first
    creates no job in-process). ``phase="after"``: handle the request (a submit
    creates its job), then wait before sending the answer.
    """
    return Fault(kind="slow", seconds=seconds, phase=phase)


def malformed(body: bytes | str | Mapping[str, Any] | list[Any] = b'{"job_id": "') -> Fault:
    """``200`` with a bad body instead of the real answer (the API is not reached).

    ``body``: bytes or text sent as is (default: truncated JSON), or a dict/list
    sent as JSON (a wrong-shape answer, e.g. ``{"unexpected": true}``).
    """
    if isinstance(body, (dict, list)):
        raw = json.dumps(body).encode()
    elif isinstance(body, str):
        raw = body.encode()
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(dict(body)).encode()
    return Fault(kind="malformed", status=200, body=raw)


def refuse_connection() -> Fault:
    """The in-process transport raises :class:`httpx.ConnectError` (nothing is
    sent). Over uvicorn this acts like :func:`drop_before`."""
    return Fault(kind="refuse_connection")


def operation_of(method: str, path: str) -> Operation:
    """The operation kind of a request, as ``inject(on=...)`` matches it.

    ``submit``: ``POST /generate/...``, ``POST /styles/train``,
    ``POST /node-apps/{id}/execute``; ``poll``: ``GET /jobs/{id}``; ``cancel``:
    ``DELETE /jobs/{id}``; ``list``: ``GET /jobs``, ``/assets``, ``/styles``;
    ``upload``: ``POST /assets``; ``get``: other ``GET`` of one resource;
    ``delete``: other ``DELETE``; ``download``: ``GET /_fake/...`` result files.
    """
    method = method.upper()
    path = "/" + path.strip("/")
    if path.startswith("/_fake/"):
        return "download"
    if method == "POST" and (
        path.startswith("/generate/")
        or path == "/styles/train"
        or (path.startswith("/node-apps/") and path.endswith("/execute"))
    ):
        return "submit"
    if path.startswith("/jobs/") and method in ("GET", "DELETE"):
        return "poll" if method == "GET" else "cancel"
    if method == "GET" and path in ("/jobs", "/assets", "/styles"):
        return "list"
    if method == "POST" and path == "/assets":
        return "upload"
    if method == "GET":
        return "get"
    if method == "DELETE":
        return "delete"
    return "other"


@attrs.define(kw_only=True, eq=False)
class FaultRule:
    """An injected fault and its matcher (returned by :meth:`FaultPlan.inject`).

    - ``fault``: the :class:`Fault`.
    - ``method``: HTTP method to match (``"POST"``), or ``None`` for any.
    - ``path``: path prefix to match (``"/generate/image/"``), or ``None`` for any
      API path (``/_fake/`` file downloads only match an explicit prefix or
      ``on="download"``).
    - ``on``: operation kind to match (see :func:`operation_of`), or ``None``.
    - ``rate``: probability (0..1) that a matching request triggers it.
    - ``times``: how many more times it may trigger (``None``: unlimited).
    - ``hits``: how many times it has triggered so far.
    """

    fault: Fault
    method: str | None = None
    path: str | None = None
    on: Operation | None = None
    rate: float = 1.0
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether a request (method, path) is one this rule applies to."""
        if self.times is not None and self.times <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        op = operation_of(method, path)
        if self.on is not None and self.on != op:
            return False
        if self.path is not None:
            return path.startswith(self.path)
        return self.on == "download" or op != "download"


class FaultPlan:
    """The ordered fault rules of one :class:`~krea_async.testing.FakeKrea`
    (``fake.faults``), with a seeded random generator (thread-safe)."""

    def __init__(self, seed: int | None = 0) -> None:
        self._rules: list[FaultRule] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def rules(self) -> list[FaultRule]:
        """A copy of the rules, in the order they are tried."""
        with self._lock:
            return list(self._rules)

    def inject(
        self,
        fault: Fault,
        *,
        on: Operation | None = None,
        method: str | None = None,
        path: str | None = None,
        rate: float | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Add a rule: ``fault`` applies to matching requests (see :class:`FaultRule`).

        With neither ``rate`` nor ``times``, every matching request gets the fault.
        ``times=N``: the first ``N`` triggers only; ``rate=p``: each matching
        request triggers with probability ``p`` (seeded, reproducible).
        """
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if times is not None and times < 0:
            raise ValueError("times must be >= 0")
        rule = FaultRule(
            fault=fault,
            method=method,
            path=path,
            on=on,
            rate=1.0 if rate is None else rate,
            times=times,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        """Remove one rule (no error if it is already gone)."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def reseed(self, seed: int | None) -> None:
        """Restart the random generator from ``seed``."""
        with self._lock:
            self._random.seed(seed)

    def pick(
        self,
        method: str,
        path: str,
        *,
        only: frozenset[FaultKind] | None = None,
        skip: frozenset[FaultKind] = frozenset(),
    ) -> Fault | None:
        """The fault that applies to this request, if any (counts it as a hit).

        ``only``/``skip`` restrict the kinds considered.
        """
        with self._lock:
            for rule in self._rules:
                kind = rule.fault.kind
                if (only is not None and kind not in only) or kind in skip:
                    continue
                if not rule.matches(method, path):
                    continue
                if rule.rate < 1.0 and self._random.random() >= rule.rate:
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                return rule.fault
        return None
