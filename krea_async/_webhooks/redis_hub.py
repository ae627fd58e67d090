"""The shared pub/sub subscriber of :class:`~krea_async.RedisEvents`: one connection
and one reader task (:class:`_Hub`) serving every waiting call, and the waiters of one
job on it (:class:`_Channel`).

The hub is given what it needs of its owner when it is made (the Redis client, the
reply timeout, the channel naming rule and a callback for its end), so this module does
not import :mod:`krea_async._webhooks.redis`.
asyncio only: redis-py's asyncio client has no trio support.

Webhooks: https://docs.krea.ai/developers/webhooks
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    import asyncio

from .._converter import WireFormatError, parse_job
from .._models import Job
from .events import EventsUnavailableError, _newer

__all__: list[str] = []

logger = logging.getLogger("krea_async.events")


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
    """One pub/sub connection of a :class:`~krea_async.RedisEvents` and the reader task on it.

    Waiters :meth:`join` (synchronously) and :meth:`leave`; the connection and the reader
    start at the first :meth:`subscribe` and end with the last :meth:`leave` (or
    :meth:`close`). SUBSCRIBE / UNSUBSCRIBE go out under one lock, each time making the
    server's subscriptions match the channels that have waiters, so a waiter arriving
    while the last one of the same job leaves is never left unsubscribed. A failure
    (connection lost, no confirmation within the reply timeout) ends the hub: every
    waiter on it raises :class:`EventsUnavailableError`, and new waiters get a new hub.
    """

    def __init__(
        self,
        redis: Any,
        *,
        reply_timeout: float,
        key_of: Callable[[str], str],
        on_end: Callable[[_Hub, bool], None],
    ) -> None:
        """``redis``: the ``redis.asyncio.Redis`` client (its pool makes the pub/sub
        connection); ``reply_timeout``: seconds Redis has to confirm a subscription or
        take a command; ``key_of``: the channel of a job id; ``on_end(hub, emptied)``:
        called when the hub fails (``emptied`` false: new waiters must get a new hub)
        and when its last waiter leaves (``emptied`` true: forget it)."""
        import asyncio  # here, not at import: `import krea_async` stays cheap

        self._redis = redis
        self._reply_timeout = reply_timeout
        self._key_of = key_of
        self._on_end = on_end
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
        self._on_end(self, False)
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
            with anyio.fail_after(self._reply_timeout):
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
            self._on_end(self, True)
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

        conn = self._redis.connection_pool.make_connection()
        # Messages arrive as bytes, decoded (or dropped) here: a reply the parser had
        # to decode and could not would leave the connection unusable.
        encoder = conn.encoder
        conn.encoder = type(encoder)(encoder.encoding, encoder.encoding_errors, False)
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
            with anyio.CancelScope(shield=True), anyio.fail_after(self._reply_timeout):
                await conn.send_packed_command(conn.pack_command(*args), check_health=False)
        except (RedisError, OSError, TimeoutError) as exc:
            self.fail(exc)
            self.check()

    async def _read(self, conn: Any) -> None:
        """The reader task: dispatch confirmations and messages until the connection
        fails (then :meth:`fail`) or the task is cancelled (:meth:`close`)."""
        try:
            while True:
                try:
                    response = await conn.read_response(push_request=True)
                    self._dispatch(response)
                except (UnicodeDecodeError, WireFormatError, TypeError, KeyError) as exc:
                    # bad data someone PUBLISHed (the whole reply was read): dropped, so
                    # one malformed message does not end every waiter's bus
                    _bad_data(exc)
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
            if channel is None:
                return
            job = _parse(response[2])
            if job is None or self._key_of(job.job_id) != key:
                _bad_data(WireFormatError("not a state of this channel's job"))
                return
            if _newer(job, channel.last):
                channel.last = job
                channel.wake()


_logged_bad_data = False


def _bad_data(exc: BaseException) -> None:
    """Log the first unreadable message of the process (a warning), the rest at DEBUG."""
    global _logged_bad_data
    level = logging.DEBUG if _logged_bad_data else logging.WARNING
    _logged_bad_data = True
    logger.log(level, "dropped unreadable data on the Redis job-event bus (%s)", type(exc).__name__)


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


async def _disconnect(conn: Any) -> None:
    from redis.exceptions import RedisError

    with contextlib.suppress(RedisError, OSError):  # the connection is gone anyway
        await conn.disconnect(nowait=True)


def _parse(raw: object) -> Job | None:
    if not isinstance(raw, (str, bytes)):
        return None
    try:
        return parse_job(raw)
    except (WireFormatError, ValueError):
        return None
