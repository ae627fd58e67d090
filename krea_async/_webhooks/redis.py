"""The Redis job-event bus (:class:`RedisEvents`): one shared pub/sub connection per
instance, for several processes or hosts (the ``krea-async[redis]`` extra).

See :mod:`krea_async._webhooks.events` for what a bus does (:class:`~krea_async.JobEvents`).
asyncio only: redis-py's asyncio client has no trio support.

Webhooks: https://docs.krea.ai/developers/webhooks
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    import asyncio

from .._converter import unstructure
from .._errors import ConfigurationError
from .._models import Job
from .events import DEFAULT_TTL, EventsUnavailableError, _newer, status_rank, token_digest
from .redis_hub import _Hub, _parse

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

# Shorten a key's life, never lengthen it (EXPIRE's LT option needs Redis 7).
_SHORTEN_LUA = """
local left = redis.call('TTL', KEYS[1])
if left > tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return left
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

    #: Other processes can publish here: under ``verify="fetch"`` a state read from
    #: this bus is a hint, confirmed with ``GET /jobs/{id}`` (:mod:`krea_async._jobs.trust`).
    shared = True

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
        self._shorten: Any = self._redis.register_script(_SHORTEN_LUA)
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

    def _hub_ended(self, hub: _Hub, emptied: bool) -> None:
        """A hub failed (new waiters get a new one) or lost its last waiter (forgotten)."""
        if self._hub is hub:
            self._hub = None
        if emptied:
            self._hubs.discard(hub)

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        from redis.exceptions import RedisError

        _require_asyncio()
        try:
            return await call()
        except (RedisError, OSError) as exc:
            raise EventsUnavailableError(f"Redis is unavailable: {type(exc).__name__}") from exc
        except UnicodeDecodeError as exc:  # a value someone stored is not UTF-8
            raise EventsUnavailableError("unreadable data on the Redis bus") from exc

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
            hub = self._hub = _Hub(
                self._redis,
                reply_timeout=self._reply_timeout,
                key_of=self._key,
                on_end=self._hub_ended,
            )
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

    async def revoke_token(self, token: str, *, after: float = 0.0) -> None:
        """See :meth:`JobEvents.revoke_token` (``after`` rounded up to whole seconds)."""
        key = f"{self._prefix}token:{token_digest(token)}"
        if after <= 0:
            await self._call(lambda: self._redis.delete(key))
        else:
            seconds = max(1, math.ceil(after))
            await self._call(lambda: self._shorten(keys=[key], args=[seconds]))


class _Retry(Exception):
    """A batched read was abandoned (its reader was cancelled): read again."""


def _best(a: Job | None, b: Job | None) -> Job | None:
    if a is None:
        return b
    return b if b is not None and _newer(b, a) else a


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
