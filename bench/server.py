"""A lean, fast fake of Krea's job endpoints for the benchmark, in its own process.

Raw asyncio (uvloop when installed), a small HTTP/1.1 parser, ``TCP_NODELAY`` and one
``write`` per response, so that the server is never what a benchmark measures. It serves
the job endpoints of ``https://docs.krea.ai/api-reference`` with the job semantics of the
project fake (:mod:`krea_async.testing`, ``lifecycle="simple"``):

- ``POST /generate/{image|video|enhance}/{provider}/{model}`` (a JSON object body with a
  ``prompt`` string; any non-empty ``Bearer`` token is an account) answers the pending
  job: ``job_id``, ``status: "queued"``, ``created_at``, ``completed_at: null``,
  ``result: null``, ``type``.
- ``GET /jobs/{id}``: ``queued`` for the first 30 % of the job's time, then
  ``processing``, then ``completed`` ``--job-seconds`` (default 3) after creation with
  ``result.urls`` and ``completed_at``; ``404 {"error": ...}`` for an unknown id or
  another account's job.
- ``GET /jobs?limit=1..1000&cursor=<ISO time>&status=<status>&types=a,b``: the account's
  jobs newest first, strictly created before ``cursor``, ``{"items": [...],
  "next_cursor": <created_at of the last item> | null}``; ``400`` on a bad query.
- ``DELETE /jobs/{id}``: cancels a pending job (``completed_at`` = now) and answers it.
- ``GET /_bench/stats`` (not counted): requests by kind, TCP connections opened, jobs
  created, the server's own CPU seconds and wall seconds since start.

Run: ``python -m bench.server --port 0 --job-seconds 3``; it prints ``LISTENING <port>``
on stdout once it accepts connections. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as _dt
import json
import resource
import signal
import socket
import sys
import time
import uuid
from typing import Any, cast
from urllib.parse import parse_qsl

__all__ = ["STATUSES", "JobStore", "main"]

#: Share of a job's time spent ``queued`` (as the project fake's ``QUEUED_SHARE``).
QUEUED_SHARE = 0.3
#: Every status Krea documents, in order (as the project fake's ``STATUSES``).
STATUSES = (
    "backlogged",
    "queued",
    "scheduled",
    "processing",
    "sampling",
    "intermediate-complete",
    "completed",
    "failed",
    "cancelled",
)
_TYPES = {"image": "externalImage", "video": "externalVideo", "enhance": "externalEnhance"}
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found"}
#: Largest request head or body the server reads (bytes); larger closes the connection.
_MAX_REQUEST = 1 << 20


def iso(us: int) -> str:
    """Microseconds since the epoch as ISO 8601 UTC with ``Z`` (as the project fake)."""
    return (_EPOCH + _dt.timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso_us(value: str) -> int:
    parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class ApiError(Exception):
    """An error answer: HTTP ``status`` with body ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Job:
    __slots__ = ("cancelled_at", "created", "id", "owner", "type", "url")

    def __init__(self, job_id: str, owner: str, type_: str, created: int, url: str) -> None:
        self.id = job_id
        self.owner = owner
        self.type = type_
        self.created = created  # microseconds since the epoch, unique and increasing
        self.cancelled_at: int | None = None
        self.url = url


class JobStore:
    """Jobs on the wall clock: no background task, the status follows from the time."""

    def __init__(self, job_us: int, base_url: str) -> None:
        self.job_us = job_us
        self.base_url = base_url
        self.jobs: dict[str, _Job] = {}
        self.by_owner: dict[str, list[_Job]] = {}  # creation order
        self._last = 0

    def _stamp(self) -> int:
        self._last = max(time.time_ns() // 1000, self._last + 1)
        return self._last

    def status(self, job: _Job, now: int) -> tuple[str, int | None]:
        """The job's status and ``completed_at`` (microseconds) at ``now``."""
        if job.cancelled_at is not None:
            return "cancelled", job.cancelled_at
        end = job.created + self.job_us
        if now >= end:
            return "completed", end
        if now - job.created < QUEUED_SHARE * self.job_us:
            return "queued", None
        return "processing", None

    def json_of(self, job: _Job, now: int, *, submit: bool = False) -> dict[str, Any]:
        """The job as Krea answers it (``submit=True``: the submit answer's shape)."""
        status, end = self.status(job, now)
        result: dict[str, Any] | None
        if submit:
            result, end = None, None
        elif status == "completed":
            result = {"urls": [job.url]}
        else:
            result = {}
        return {
            "job_id": job.id,
            "status": status,
            "created_at": iso(job.created),
            "completed_at": iso(end) if end is not None else None,
            "result": result,
            "type": job.type,
        }

    def submit(self, owner: str, category: str) -> dict[str, Any]:
        job_id = str(uuid.uuid4())
        created = self._stamp()
        job = _Job(
            job_id, owner, _TYPES[category], created, f"{self.base_url}/_fake/files/{job_id}/0.png"
        )
        self.jobs[job_id] = job
        self.by_owner.setdefault(owner, []).append(job)
        return self.json_of(job, created, submit=True)

    def find(self, job_id: str, owner: str) -> _Job:
        job = self.jobs.get(job_id)
        if job is None or job.owner != owner:
            raise ApiError(404, f"Job {job_id} not found")
        return job

    def cancel(self, job_id: str, owner: str) -> dict[str, Any]:
        job = self.find(job_id, owner)
        now = time.time_ns() // 1000
        if self.status(job, now)[0] not in ("completed", "cancelled"):
            job.cancelled_at = now
        return self.json_of(job, now)

    def list(self, owner: str, query: dict[str, str]) -> dict[str, Any]:
        cursor_s = query.get("cursor") or ""
        try:
            cursor = _parse_iso_us(cursor_s) if cursor_s else None
        except ValueError:
            raise ApiError(400, f"cursor: {cursor_s!r} is not an ISO 8601 date-time") from None
        limit_s = query.get("limit") or ""
        try:
            limit = int(limit_s) if limit_s else 100
        except ValueError:
            raise ApiError(400, f"limit: {limit_s!r} is not an integer") from None
        if not 1 <= limit <= 1000:
            raise ApiError(400, f"limit: {limit} is not between 1 and 1000")
        status = query.get("status") or None
        if status is not None and status not in STATUSES:
            raise ApiError(400, f"status: {status!r} is not one of {list(STATUSES)}")
        types = {t.strip() for t in (query.get("types") or "").split(",") if t.strip()}
        jobs = self.by_owner.get(owner, [])
        # Creation order is time order: everything strictly before the cursor.
        stop = len(jobs) if cursor is None else bisect.bisect_left(jobs, cursor, key=_created)
        now = time.time_ns() // 1000
        page: list[_Job] = []
        more = False
        for i in range(stop - 1, -1, -1):
            job = jobs[i]
            if types and job.type not in types:
                continue
            if status is not None and self.status(job, now)[0] != status:
                continue
            if len(page) == limit:
                more = True
                break
            page.append(job)
        return {
            "items": [self.json_of(j, now) for j in page],
            "next_cursor": iso(page[-1].created) if more and page else None,
        }


def _created(job: _Job) -> int:
    return job.created


class Stats:
    """What the server counts: requests by kind and TCP connections opened."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.connections = 0
        self.open_connections = 0
        self.peak_open_connections = 0
        self.requests: dict[str, int] = {
            "submit": 0,
            "get": 0,
            "list": 0,
            "delete": 0,
            "file": 0,
            "other": 0,
        }
        self.errors: dict[str, int] = {}

    def as_json(self, store: JobStore) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "requests": dict(self.requests),
            "total_requests": sum(self.requests.values()),
            "connections": self.connections,
            "peak_open_connections": self.peak_open_connections,
            "jobs": len(store.jobs),
            "cancelled_jobs": sum(1 for j in store.jobs.values() if j.cancelled_at is not None),
            "error_answers": dict(self.errors),
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "wall_s": time.monotonic() - self.started,
            "loop": type(asyncio.get_running_loop()).__module__,
        }


def _response(status: int, payload: Any, keep_alive: bool) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n" % (
        status,
        _REASONS.get(status, b"Error"),
        len(body),
        b"" if keep_alive else b"connection: close\r\n",
    )
    return head + body


#: The result file every job's URL serves: a PNG signature and 2 KiB of filler.
RESULT_FILE = b"\x89PNG\r\n\x1a\n" + bytes(2048)


def _file_response(keep_alive: bool) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: %d\r\n%s\r\n" % (
        len(RESULT_FILE),
        b"" if keep_alive else b"connection: close\r\n",
    )
    return head + RESULT_FILE


class _Protocol(asyncio.Protocol):
    __slots__ = ("buf", "control", "stats", "store", "transport")

    def __init__(self, store: JobStore, stats: Stats) -> None:
        self.store = store
        self.stats = stats
        self.buf = b""
        self.control = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stats.connections += 1
        self.stats.open_connections += 1
        self.stats.peak_open_connections = max(
            self.stats.peak_open_connections, self.stats.open_connections
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.open_connections -= 1
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out: list[bytes] = []
        close = False
        while self.transport is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > _MAX_REQUEST:
                    close = True
                break
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                close = True
                break
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                close = True
                break
            if (
                length < 0
                or length > _MAX_REQUEST
                or "chunked" in headers.get("transfer-encoding", "")
            ):
                close = True
                break
            if len(self.buf) < end + 4 + length:
                break
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            conn = headers.get("connection", "").lower()
            keep_alive = conn != "close" and (version == "HTTP/1.1" or conn == "keep-alive")
            out.append(self._handle(method, target, headers, body, keep_alive))
            if not keep_alive:
                close = True
                break
        if self.transport is not None:
            if out:
                self.transport.write(b"".join(out))  # one write per read, pipelined or not
            if close:
                self.transport.close()

    def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, keep_alive: bool
    ) -> bytes:
        path, _, query_s = target.partition("?")
        stats = self.stats
        if path == "/_bench/stats":
            if not self.control:  # the benchmark's own connection is not counted
                self.control = True
                stats.connections -= 1
            return _response(200, stats.as_json(self.store), keep_alive)
        if method == "GET" and path.startswith("/_fake/files/"):  # a result file (no key)
            stats.requests["file"] += 1
            return _file_response(keep_alive)
        try:
            kind, status, payload = self._route(method, path, query_s, headers, body)
        except ApiError as exc:
            kind = "other"
            if method == "POST" and path.startswith("/generate/"):
                kind = "submit"
            elif path.startswith("/jobs"):
                kind = {"GET": "list" if path == "/jobs" else "get", "DELETE": "delete"}.get(
                    method, "other"
                )
            status, payload = exc.status, {"error": exc.message}
            stats.errors[str(status)] = stats.errors.get(str(status), 0) + 1
        stats.requests[kind] += 1
        return _response(status, payload, keep_alive)

    def _route(
        self, method: str, path: str, query_s: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, int, Any]:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "Unauthorized: send an 'Authorization: Bearer <API token>' header")
        store = self.store
        if path.startswith("/jobs"):
            if path == "/jobs" and method == "GET":
                query = dict(parse_qsl(query_s))
                return "list", 200, store.list(token, query)
            job_id = path[len("/jobs/") :]
            if not path.startswith("/jobs/") or not job_id or "/" in job_id:
                raise ApiError(404, f"Not found: {method} {path}")
            if method == "GET":
                return "get", 200, store.json_of(store.find(job_id, token), time.time_ns() // 1000)
            if method == "DELETE":
                return "delete", 200, store.cancel(job_id, token)
        elif method == "POST" and path.startswith("/generate/"):
            parts = path.split("/")
            if len(parts) < 5 or parts[2] not in _TYPES or not all(parts[3:]):
                raise ApiError(404, f"Unknown generation endpoint {path}")
            try:
                data = json.loads(body)
            except ValueError:
                raise ApiError(400, "The request body is not valid JSON") from None
            if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
                raise ApiError(400, "prompt: required string")
            return "submit", 200, store.submit(token, parts[2])
        raise ApiError(404, f"Not found: {method} {path}")


async def _serve(port: int, job_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    store = JobStore(round(job_seconds * 1_000_000), "")
    server = await loop.create_server(
        lambda: _Protocol(store, stats), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    store.base_url = f"http://127.0.0.1:{bound}"
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"LISTENING {bound}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m bench.server", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument(
        "--job-seconds", type=float, default=3.0, help="seconds from submit to completed"
    )
    parser.add_argument("--no-uvloop", action="store_true", help="use asyncio's own loop")
    args = parser.parse_args(argv)
    runner: Any = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    runner(_serve(args.port, args.job_seconds))


if __name__ == "__main__":
    sys.exit(main())
