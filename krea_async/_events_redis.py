"""The Redis job-event bus (:class:`RedisEvents`): one shared pub/sub connection per
instance, for several processes or hosts (the ``krea-async[redis]`` extra).

See :mod:`krea_async._events` for what a bus does (:class:`~krea_async.JobEvents`).
asyncio only: redis-py's asyncio client has no trio support.

Webhooks: https://docs.krea.ai/developers/webhooks
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    import asyncio

from ._converter import WireFormatError, parse_job, unstructure
from ._errors import ConfigurationError
from ._events import DEFAULT_TTL, EventsUnavailableError, _newer, status_rank, token_digest
from ._models import Job

__all__ = ["RedisEvents"]

logger = logging.getLogger("krea_async.events")


_PUBLISH_LUA = """
local old = redis.call('HGET', KEYS[1], 'rank')
if old and tonumber(old) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'job', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
"""


class RedisEvents:
    """A bus on Redis pub/sub, for several processes or hosts (``krea-async[redis]``).

    ``RedisEvents("redis://127.0.0.1:6379/0")``: ``url`` is any redis-py URL;
    ``prefix`` namespaces the keys and channels (default ``"krea:"``); ``ttl`` is how
    long (seconds, rounded up) a job's latest state and a token live;
    ``connect_timeout`` (seconds) bounds each connection attempt, so a Redis that is
    down fails fast with :class:`EventsUnavailableError` instead of hanging (a command
    is retried once on a new connection, so a connection left stale by a Redis
    restart costs nothing).

    Keys: ``{prefix}job:{id}`` (a hash: rank and job JSON), ``{prefix}token:{sha256}``;
    channel ``{prefix}job:{id}``. Publishing is one Lua script (compare rank, store,
    ``PUBLISH``), so concurrent replicas never move a job backwards.

    Waiting calls share one pub/sub connection per instance (so per process and event
    loop): the first waiter for a job subscribes to its channel, the last one to leave
    unsubscribes, and one reader task dispatches the messages. The reader starts with
    the first waiter and stops when no waiter remains, or at :meth:`aclose`. A waiter
    reads the job's stored state once Redis has confirmed its subscription, so a state
    published just before cannot be missed; concurrent reads are batched into one
    pipeline. With 500 waiting calls an instance holds 2 connections (pub/sub and
    commands) instead of one per call. If that connection fails, every waiter on it gets
    :class:`EventsUnavailableError` (and polls); the next waiter reconnects.

    asyncio only: redis-py's asyncio client does not run under trio: there, every method
    raises :class:`~krea_async.ConfigurationError`. Close with :meth:`aclose` (or
    ``async with``).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "krea:",
        ttl: float = DEFAULT_TTL,
        connect_timeout: float = 1.0,
    ) -> None:
        try:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError as exc:  # depends on the installed extras
            raise ImportError(
                "RedisEvents needs the 'redis' extra: pip install 'krea-async[redis]'"
            ) from exc
        self._redis: Any = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=max(connect_timeout, 5.0),
            decode_responses=True,
            # one retry on a fresh connection: after Redis restarts, a pooled connection
            # is stale once (every command here is idempotent: the publish script
            # compares ranks)
            retry=Retry(NoBackoff(), 1),
        )
        self._prefix = prefix
        self._ttl = max(1, math.ceil(ttl))
        self._script: Any = self._redis.register_script(_PUBLISH_LUA)
        #: Seconds Redis has to confirm a subscription or take a command on the pub/sub
        #: connection before that connection counts as dead.
        self._reply_timeout = max(connect_timeout, 5.0)
        self._hub: _Hub | None = None  # the pub/sub connection new waiters join
        self._hubs: set[_Hub] = set()  # every hub with waiters (a failed one drains)
        self._closed = False
        self._reads: dict[str, asyncio.Future[object]] = {}  # job id -> pending read
        self._read_lock: asyncio.Lock | None = None

    async def __aenter__(self) -> RedisEvents:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the pub/sub reader (waiters still waiting get
        :class:`EventsUnavailableError` and poll) and close the connections."""
        self._closed = True
        self._hub = None
        hubs, self._hubs = list(self._hubs), set()
        for hub in hubs:
            await hub.close(EventsUnavailableError("RedisEvents was closed"))
        if self._read_lock is not None:
            async with self._read_lock:  # a batch read in flight finishes first
                pass
        await self._redis.aclose()

    def _key(self, job_id: str) -> str:
        return f"{self._prefix}job:{job_id}"

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        from redis.exceptions import RedisError

        _require_asyncio()
        try:
            return await call()
        except (RedisError, OSError) as exc:
            raise EventsUnavailableError(f"Redis is unavailable: {type(exc).__name__}") from exc

    async def publish(self, job: Job) -> bool:
        """See :meth:`JobEvents.publish`."""
        data = json.dumps(_job_json(job), separators=(",", ":"))
        key = self._key(job.job_id)
        done = await self._call(
            lambda: self._script(keys=[key, key], args=[status_rank(job.status), data, self._ttl])
        )
        return bool(done)

    async def latest(self, job_id: str) -> Job | None:
        """See :meth:`JobEvents.latest`. Concurrent calls share one pipeline of ``HGET``
        (one connection, one round trip per batch)."""
        import asyncio  # here, not at import: `import krea_async` stays cheap

        _require_asyncio()
        while True:
            read = self._reads.get(job_id)
            if read is None:
                read = self._reads[job_id] = asyncio.get_running_loop().create_future()
            if self._read_lock is None:
                self._read_lock = asyncio.Lock()
            async with self._read_lock:
                if not read.done():  # nobody read it for us: read the whole batch
                    if self._closed:
                        raise EventsUnavailableError("RedisEvents was closed")
                    await self._read_batch()
            try:
                return _parse(read.result())
            except _Retry:  # the batch's reader was cancelled: ask again
                continue

    async def _read_batch(self) -> None:
        batch, self._reads = self._reads, {}

        async def run() -> list[object]:
            pipe = self._redis.pipeline(transaction=False)
            for job_id in batch:
                pipe.hget(self._key(job_id), "job")
            return list(await pipe.execute())

        try:
            raws = await self._call(run)
        except BaseException as exc:
            for read in batch.values():
                if not read.done():
                    if isinstance(exc, EventsUnavailableError):
                        read.set_exception(exc)
                    else:  # cancelled, or a bug: the others read again
                        read.set_exception(_Retry())
                    read.exception()  # retrieved: no "never retrieved" warning
            raise
        for read, raw in zip(batch.values(), raws, strict=True):
            if not read.done():
                read.set_result(raw)

    async def next_state(self, job_id: str, *, after: Job | None, timeout: float) -> Job | None:
        """See :meth:`JobEvents.next_state`."""
        _require_asyncio()
        if self._closed:
            raise EventsUnavailableError("RedisEvents was closed")
        hub = self._hub
        if hub is None or hub.error is not None:
            hub = self._hub = _Hub(self)
            self._hubs.add(hub)
        key = self._key(job_id)
        channel = hub.join(key)
        try:
            with anyio.move_on_after(timeout):
                await hub.subscribe(key)
                stored = await self.latest(job_id)  # after the confirmation: no gap
                while True:
                    hub.check()
                    best = _best(channel.last, stored)
                    if best is not None and _newer(best, after):
                        return best
                    await channel.event.wait()
            return None
        finally:
            with anyio.CancelScope(shield=True):
                await hub.leave(key)

    async def add_token(self, token: str, job_id: str | None = None) -> None:
        """See :meth:`JobEvents.add_token`."""
        key = f"{self._prefix}token:{token_digest(token)}"
        value = f"{token_digest(token)}:{job_id or ''}"
        await self._call(lambda: self._redis.set(key, value, ex=self._ttl))

    async def bind_token(self, token: str, job_id: str) -> None:
        """See :meth:`JobEvents.bind_token`."""
        await self.add_token(token, job_id)

    async def token_job(self, token: str) -> tuple[str, str | None] | None:
        """See :meth:`JobEvents.token_job`."""
        key = f"{self._prefix}token:{token_digest(token)}"
        raw = await self._call(lambda: self._redis.get(key))
        if not isinstance(raw, str) or ":" not in raw:
            return None
        digest, _, job_id = raw.partition(":")
        return digest, (job_id or None)


class _Retry(Exception):
    """A batched read was abandoned (its reader was cancelled): read again."""


def _best(a: Job | None, b: Job | None) -> Job | None:
    if a is None:
        return b
    return b if b is not None and _newer(b, a) else a


class _Channel:
    """The waiters of one job on a :class:`_Hub`: how many, the newest state seen on
    the channel, and the event set (then replaced) when a newer one arrives."""

    __slots__ = ("event", "last", "users")

    def __init__(self) -> None:
        import asyncio  # here, not at import: `import krea_async` stays cheap

        self.users = 0
        self.last: Job | None = None
        self.event = asyncio.Event()

    def wake(self) -> None:
        import asyncio  # here, not at import: `import krea_async` stays cheap

        event, self.event = self.event, asyncio.Event()
        event.set()


class _Hub:
    """One pub/sub connection of a :class:`RedisEvents` and the reader task on it.

    Waiters :meth:`join` (synchronously) and :meth:`leave`; the connection and the reader
    start at the first :meth:`subscribe` and end with the last :meth:`leave` (or
    :meth:`close`). SUBSCRIBE / UNSUBSCRIBE go out under one lock, each time making the
    server's subscriptions match the channels that have waiters, so a waiter arriving
    while the last one of the same job leaves is never left unsubscribed. A failure
    (connection lost, no confirmation within the reply timeout) ends the hub: every
    waiter on it raises :class:`EventsUnavailableError`, and new waiters get a new hub.
    """

    def __init__(self, owner: RedisEvents) -> None:
        import asyncio  # here, not at import: `import krea_async` stays cheap

        self._owner = owner
        self.users = 0
        self.channels: dict[str, _Channel] = {}
        self.error: EventsUnavailableError | None = None
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # connecting and writing
        self._live: dict[str, asyncio.Event] = {}  # subscribed (set once confirmed)
        self._confirms: dict[str, collections.deque[asyncio.Event]] = {}

    def join(self, key: str) -> _Channel:
        channel = self.channels.get(key)
        if channel is None:
            channel = self.channels[key] = _Channel()
        channel.users += 1
        self.users += 1
        return channel

    def check(self) -> None:
        if self.error is not None:  # a fresh exception per waiter (own traceback)
            raise EventsUnavailableError(*self.error.args) from self.error.__cause__

    def fail(self, exc: BaseException) -> None:
        """End the hub: wake every waiter, who then raises ``EventsUnavailableError``."""
        if self.error is None:
            if isinstance(exc, EventsUnavailableError):
                self.error = exc
            else:
                self.error = EventsUnavailableError(f"Redis is unavailable: {type(exc).__name__}")
                self.error.__cause__ = exc
        if self._owner._hub is self:
            self._owner._hub = None
        for channel in self.channels.values():
            channel.wake()
        for event in self._live.values():
            event.set()

    async def subscribe(self, key: str) -> None:
        """Make sure ``key`` is subscribed and wait for Redis to confirm it."""
        async with self._lock:
            self.check()
            if self._conn is None:
                await self._connect()
            await self._sync(key)
            self.check()
            live = self._live[key]
        try:
            with anyio.fail_after(self._owner._reply_timeout):
                await live.wait()
        except TimeoutError as exc:
            self.fail(exc)
        self.check()

    async def leave(self, key: str) -> None:
        """One waiter of ``key`` leaves; the last of a job unsubscribes, the last of
        all closes the hub. Call shielded from cancellation."""
        channel = self.channels.get(key)
        if channel is not None:
            channel.users -= 1
            if channel.users <= 0:
                del self.channels[key]
        self.users -= 1
        if self.users <= 0:
            if self._owner._hub is self:
                self._owner._hub = None
            self._owner._hubs.discard(self)
            await self.close(EventsUnavailableError("no waiter left"))
            return
        if key not in self.channels and self.error is None:
            # a failed UNSUBSCRIBE ends the hub (its other waiters poll), not this call
            with contextlib.suppress(EventsUnavailableError):
                async with self._lock:
                    await self._sync(key)

    async def close(self, reason: EventsUnavailableError) -> None:
        """Stop the reader task (awaited) and drop the connection."""
        import asyncio  # here, not at import: `import krea_async` stays cheap

        self.fail(reason)
        task, self._task = self._task, None
        conn, self._conn = self._conn, None
        with anyio.CancelScope(shield=True):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            if conn is not None:
                with anyio.move_on_after(1.0):
                    await _disconnect(conn)

    async def _connect(self) -> None:
        import asyncio  # here, not at import: `import krea_async` stays cheap

        from redis.exceptions import RedisError

        conn = self._owner._redis.connection_pool.make_connection()
        try:
            await conn.connect()  # bounded by socket_connect_timeout / socket_timeout
        except BaseException as exc:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                await _disconnect(conn)
            if isinstance(exc, (RedisError, OSError)):
                self.fail(exc)
                self.check()
            raise
        conn.socket_timeout = None  # the reader waits for messages as long as it takes
        self._conn = conn
        self._task = asyncio.get_running_loop().create_task(self._read(conn))

    async def _sync(self, key: str) -> None:
        """Under the lock: SUBSCRIBE or UNSUBSCRIBE ``key`` so that the server's state
        matches whether it has waiters."""
        import asyncio  # here, not at import: `import krea_async` stays cheap

        want = key in self.channels
        if want == (key in self._live) or self.error is not None or self._conn is None:
            return
        if want:
            live = self._live[key] = asyncio.Event()
            self._confirms.setdefault(key, collections.deque()).append(live)
            await self._send("SUBSCRIBE", key)
        else:
            del self._live[key]
            await self._send("UNSUBSCRIBE", key)

    async def _send(self, *args: str) -> None:
        from redis.exceptions import RedisError

        conn = self._conn
        if conn is None or not conn.is_connected:
            self.fail(EventsUnavailableError("Redis is unavailable: connection lost"))
            self.check()
        try:
            # A write cut in half would garble the stream: it is not cancellable.
            with anyio.CancelScope(shield=True), anyio.fail_after(self._owner._reply_timeout):
                await conn.send_packed_command(conn.pack_command(*args), check_health=False)
        except (RedisError, OSError, TimeoutError) as exc:
            self.fail(exc)
            self.check()

    async def _read(self, conn: Any) -> None:
        """The reader task: dispatch confirmations and messages until the connection
        fails (then :meth:`fail`) or the task is cancelled (:meth:`close`)."""
        try:
            while True:
                self._dispatch(await conn.read_response(push_request=True))
        except Exception as exc:  # RedisError, OSError, a protocol surprise
            self.fail(exc)

    def _dispatch(self, response: object) -> None:
        if not isinstance(response, list) or len(response) < 3:
            return
        kind, key = _text(response[0]), _text(response[1])
        if kind == "subscribe":
            pending = self._confirms.get(key)
            if pending:
                pending.popleft().set()
                if not pending:
                    del self._confirms[key]
        elif kind == "message":
            channel = self.channels.get(key)
            job = _parse(response[2]) if channel is not None else None
            if channel is None or job is None or self._owner._key(job.job_id) != key:
                return
            if _newer(job, channel.last):
                channel.last = job
                channel.wake()


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


async def _disconnect(conn: Any) -> None:
    from redis.exceptions import RedisError

    with contextlib.suppress(RedisError, OSError):  # the connection is gone anyway
        await conn.disconnect(nowait=True)


def _require_asyncio() -> None:
    """:class:`~krea_async.ConfigurationError` unless running under asyncio."""
    import asyncio  # here, not at import: `import krea_async` stays cheap

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigurationError(
            "RedisEvents runs under asyncio only (redis-py's asyncio client); "
            "under trio use LocalEvents (one process)"
        ) from None


def _job_json(job: Job) -> Any:
    if job.raw:
        return dict(job.raw)
    return unstructure(job)


def _parse(raw: object) -> Job | None:
    if not isinstance(raw, (str, bytes)):
        return None
    try:
        return parse_job(raw)
    except (WireFormatError, ValueError):
        return None
