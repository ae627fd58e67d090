"""A hostile HTTP/1.1 server on raw asyncio streams, for tests that need every byte.

The fake (``krea_async.testing``) is faithful to Krea; this server is not. Each
request is answered by a scripted *action* that writes exactly the bytes it is
told to: any status line, duplicate or missing headers, a body that lies about
its length, one byte a second, a dropped connection, JSON nested 100,000 deep, a
gzip bomb, a redirect anywhere.

It runs on its own asyncio event loop in a background thread, bound to
``127.0.0.1`` on a free port, so asyncio and trio tests use it alike: the test
talks to it only over loopback TCP, and sets routes and reads the recorded
requests through thread-safe, synchronous methods::

    with HostileServer() as server:
        server.on("POST", "/generate/", respond(200, json={"job_id": "../../X", ...}))
        server.on("GET", "/jobs/", trickle(b"HTTP/1.1 200 OK\\r\\n...", duration=3))
        ...  # point the SDK at server.url
        assert server.requests[0].method == "POST"

Routes match on method and path prefix, most recent first; a route given several
actions plays them in order, then repeats the last one. Unmatched requests get a
404 JSON body. Every action is bounded in time (``duration=``), and ``close()``
cancels whatever still runs, so no test can hang on this server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json as _json
import struct
import threading
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = [
    "Action",
    "Conn",
    "HostileServer",
    "Request",
    "drop",
    "gzip_bomb",
    "hang",
    "job_json",
    "nested_json",
    "raw",
    "redirect",
    "respond",
    "trickle",
]


@dataclass(frozen=True)
class Request:
    """One request as the server read it (header names lower-cased; last one wins)."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes
    header_lines: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> str:
        """The request target without its query string."""
        return self.target.split("?", 1)[0]


@dataclass
class Conn:
    """The connection an action writes to."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    closed: bool = False

    async def write(self, data: bytes) -> None:
        """Write ``data`` and flush it to the socket."""
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        """Close the connection (no more requests are read from it)."""
        if not self.closed:
            self.closed = True
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()


Action = Callable[[Request, Conn], Awaitable[None]]
"""An async callable that answers one request by writing to the connection."""


# --------------------------------------------------------------------------- actions


def _head(status: int, reason: str, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    status: int = 200,
    body: bytes | str = b"",
    *,
    json: Any = None,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    reason: str = "OK",
    content_type: str | None = None,
    close: bool = False,
) -> Action:
    """Answer with ``status``, ``headers`` and ``body`` (or ``json``, encoded as is).

    ``Content-Length`` is added unless ``headers`` set it (or ``Transfer-Encoding``),
    so a test can also send a length that lies. ``close`` closes the connection
    after the answer (with ``Connection: close``).
    """
    if json is not None:
        payload = _json.dumps(json).encode() if not isinstance(json, bytes) else json
        content_type = content_type or "application/json"
    else:
        payload = body.encode() if isinstance(body, str) else body
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
    names = {k.lower() for k, _ in pairs}
    if content_type and "content-type" not in names:
        pairs.append(("Content-Type", content_type))
    if "content-length" not in names and "transfer-encoding" not in names:
        pairs.append(("Content-Length", str(len(payload))))
    if close:
        pairs.append(("Connection", "close"))
    data = _head(status, reason, pairs) + payload

    async def action(request: Request, conn: Conn) -> None:
        await conn.write(data)
        if close:
            await conn.close()

    return action


def raw(data: bytes, *, close: bool = True) -> Action:
    """Write ``data`` verbatim (status line included), then close the connection."""

    async def action(request: Request, conn: Conn) -> None:
        await conn.write(data)
        if close:
            await conn.close()

    return action


def trickle(
    head: bytes, chunk: bytes = b" ", *, interval: float = 0.2, duration: float = 3.0
) -> Action:
    """Write ``head``, then ``chunk`` every ``interval`` seconds for ``duration``
    seconds, then close: a server that keeps a read timeout from ever firing."""

    async def action(request: Request, conn: Conn) -> None:
        await conn.write(head)
        loop = asyncio.get_running_loop()
        end = loop.time() + duration
        while loop.time() < end:
            await asyncio.sleep(interval)
            await conn.write(chunk)
        await conn.close()

    return action


def drop() -> Action:
    """Close the connection without answering."""

    async def action(request: Request, conn: Conn) -> None:
        await conn.close()

    return action


def hang(duration: float = 3.0) -> Action:
    """Answer nothing for ``duration`` seconds, then close."""

    async def action(request: Request, conn: Conn) -> None:
        await asyncio.sleep(duration)
        await conn.close()

    return action


def redirect(location: str, status: int = 302) -> Action:
    """Answer ``status`` with ``Location: location`` (written as given)."""
    return respond(status, headers=[("Location", location)], reason="Found")


def nested_json(depth: int = 100_000, inner: bytes = b"") -> bytes:
    """``[[[...]]]`` nested ``depth`` deep: valid JSON that blows a recursive parser."""
    return b"[" * depth + inner + b"]" * depth


def job_json(
    job_id: str,
    status: str = "completed",
    urls: Sequence[str] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A Krea job state (``GET /jobs/{id}`` shape) with any fields overridden."""
    job: dict[str, Any] = {
        "job_id": job_id,
        "status": status,
        "created_at": "2026-01-01T00:00:00.000Z",
        "completed_at": "2026-01-01T00:00:05.000Z" if status == "completed" else None,
        "result": {"urls": list(urls)} if urls else {},
    }
    job.update(extra)
    return job


@functools.lru_cache(maxsize=4)
def gzip_bomb(decoded_mib: int = 512) -> bytes:
    """A valid gzip body of ``decoded_mib`` MiB of zeros (512 MiB -> about 520 KB).

    Built from one full-flushed deflate segment per MiB, which is the same bytes
    for every MiB of zeros, so it costs milliseconds rather than compressing
    512 MiB.
    """
    block = bytes(1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(decoded_mib):
        crc = zlib.crc32(block, crc)
    size = (decoded_mib << 20) & 0xFFFFFFFF
    # b"\x03\x00" is an empty final fixed-Huffman block; then CRC-32 and size.
    return first + again * (decoded_mib - 1) + b"\x03\x00" + struct.pack("<II", crc, size)


# --------------------------------------------------------------------------- server


@dataclass
class _Route:
    method: str
    prefix: str
    actions: list[Action]
    used: int = 0

    def next(self) -> Action:
        action = self.actions[min(self.used, len(self.actions) - 1)]
        self.used += 1
        return action


@dataclass
class HostileServer:
    """The server; use it as a context manager (or ``start()`` / ``close()``)."""

    host: str = "127.0.0.1"
    read_limit: int = 16 * 1024 * 1024
    _routes: list[_Route] = field(default_factory=list)
    # Not in the repr: a traceback formatted with its locals shows the test's frame,
    # and the server's record of a request holds the key the server was sent.
    _requests: list[Request] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _open: int = 0
    _accepted: int = 0
    port: int = 0

    # -- public, thread-safe ----------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    def on(self, method: str, prefix: str, *actions: Action) -> None:
        """Answer ``method`` requests whose path starts with ``prefix`` with ``actions``
        (in order, the last one repeating). Newer routes win over older ones."""
        if not actions:
            raise ValueError("give at least one action")
        with self._lock:
            self._routes.insert(0, _Route(method.upper(), prefix, list(actions)))

    @property
    def requests(self) -> list[Request]:
        """Every request read so far, in order."""
        with self._lock:
            return list(self._requests)

    def count(self, method: str, prefix: str = "/") -> int:
        """How many ``method`` requests to paths under ``prefix`` were read."""
        return sum(
            1 for r in self.requests if r.method == method.upper() and r.path.startswith(prefix)
        )

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed (by either side)."""
        with self._lock:
            return self._open

    @property
    def accepted_connections(self) -> int:
        """Connections accepted since start."""
        with self._lock:
            return self._accepted

    def start(self) -> HostileServer:
        """Start the loop thread and listen; return once the port is bound."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(
                        self._serve, self.host, 0, limit=self.read_limit, reuse_address=True
                    )
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # pragma: no cover - reported to start()
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="hostile-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def close(self) -> None:
        """Cancel every running action, close the listener and stop the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        loop.call_soon_threadsafe(lambda: loop.create_task(shutdown()))
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the loop thread ------------------------------------------------------------

    def _pick(self, request: Request) -> Action:
        with self._lock:
            self._requests.append(request)
            for route in self._routes:
                if route.method == request.method and request.path.startswith(route.prefix):
                    return route.next()
        return respond(404, json={"error": f"no route for {request.method} {request.path}"})

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        with self._lock:
            self._open += 1
            self._accepted += 1
        conn = Conn(reader, writer)
        try:
            while not conn.closed:
                request = await _read_request(reader)
                if request is None:
                    break
                await self._pick(request)(request, conn)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            with self._lock:
                self._open -= 1
            self._tasks.discard(task)  # type: ignore[arg-type]
            if not conn.closed:
                conn.closed = True
                writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = ([*lines[0].split(" ", 2), "", ""])[:3]
    pairs: list[tuple[str, str]] = []
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            pairs.append((name.strip().lower(), value.strip()))
    headers = dict(pairs)
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip() or b"0", 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(data[:-2])
        body = b"".join(chunks)
    elif headers.get("content-length"):
        body = await reader.readexactly(int(headers["content-length"]))
    return Request(method.upper(), target, headers, body, tuple(pairs))
