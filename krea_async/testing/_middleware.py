"""Faults as ASGI middleware: the fake's :class:`~krea_async.testing.FaultPlan`
applied in front of its routes, in-process and under uvicorn alike."""

from __future__ import annotations

import logging

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._faults import Fault, FaultKind, FaultPlan

__all__ = ["IN_PROCESS_HEADER", "ConnectionDropped", "FaultMiddleware", "quiet_uvicorn"]

#: Header the in-process transport adds, so faults that need a socket are skipped.
IN_PROCESS_HEADER = "x-krea-fake-transport"


class ConnectionDropped(Exception):
    """Raised by the app to drop the connection (a ``drop_before``/``drop_after`` fault).

    Under uvicorn, the response has already started with a ``Content-Length``
    larger than what was sent, so the server closes the socket and the client
    sees an incomplete answer. :class:`FakeTransport` turns it into
    :class:`httpx.RemoteProtocolError`.
    """


async def _drop(send: Send, start: Message | None = None, body: bytes = b"") -> None:
    """Start an answer announcing more bytes than will come, send part, then drop."""
    start = start or {}
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(max(len(body), 1) + 512).encode()))
    await send(
        {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise ConnectionDropped("connection dropped by an injected fault")


class FaultMiddleware:
    """Applies the first matching fault of ``plan`` to each HTTP request (see ``_faults``)."""

    def __init__(self, app: ASGIApp, plan: FaultPlan) -> None:
        self.app = app
        self.plan = plan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        in_process = any(k == IN_PROCESS_HEADER.encode() for k, _ in scope.get("headers", []))
        skip: frozenset[FaultKind] = frozenset({"refuse_connection"} if in_process else ())
        fault = self.plan.pick(scope["method"], scope["path"], skip=skip)
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.kind == "slow" and fault.phase == "before":
            await anyio.sleep(fault.seconds)
            await self.app(scope, receive, send)
        elif fault.kind in ("status", "malformed"):
            headers = [*fault.headers(), (b"content-length", str(len(fault.body)).encode())]
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            await send({"type": "http.response.body", "body": fault.body})
        elif fault.kind in ("drop_before", "refuse_connection"):
            await _drop(send)
        else:  # drop_after, or slow after handling: let the app answer into a buffer
            await self._after(fault, scope, receive, send)

    async def _after(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        if fault.kind == "drop_after":
            await _drop(send, start, body)
        await anyio.sleep(fault.seconds)
        for message in messages:
            await send(message)


class _QuietDrops(logging.Filter):
    """Hides uvicorn's traceback for connections the fake dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, ConnectionDropped):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def quiet_uvicorn() -> None:
    """Hide uvicorn's tracebacks for connections dropped on purpose (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())
