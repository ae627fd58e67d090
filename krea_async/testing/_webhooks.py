"""Webhook delivery of the fake, for real: when a job created with an
``X-Webhook-URL`` header becomes terminal, the fake POSTs the job JSON to that
URL (docs: https://docs.krea.ai/developers/webhooks; Krea does not sign them and
may deliver one more than once).

A background thread (one per :class:`~krea_async.testing.FakeKrea` that
delivers) ticks the fake's lazy clock every ``tick`` seconds, so jobs become
terminal without anyone polling, and hands each due copy to a pool of
``workers`` sender threads (a shared blocking :class:`httpx.Client`), so a
receiver that is slow or dead holds one sender for up to ``timeout`` seconds and
every other delivery goes on. Threads (not tasks) because the fake runs
in-process under asyncio or trio, or behind uvicorn in its own thread: threads
work beside all three. :class:`WebhookPolicy` makes delivery as unreliable as the
real thing may be: duplicates, delay, reordering and loss, drawn from a seeded
random generator.
"""

from __future__ import annotations

import concurrent.futures
import datetime as _dt
import heapq
import itertools
import queue
import random
import threading
from collections.abc import Callable

import attrs
import httpx

from ._records import WebhookAttempt, WebhookDelivery
from ._state import State

__all__ = ["WebhookPolicy", "WebhookSender"]


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0")


def _probability(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be between 0 and 1")


@attrs.frozen(kw_only=True)
class WebhookPolicy:
    """How the fake delivers webhooks (``FakeKrea(deliver_webhooks=WebhookPolicy(...))``).

    - ``duplicates``: extra copies of each delivery (``1``: every webhook arrives
      twice, as Krea may do). Default 0.
    - ``delay``: seconds on the fake's clock between the job becoming terminal and
      its POST (real seconds unless the fake runs on a
      :class:`~krea_async.testing.ManualClock`; then the clock must pass them).
    - ``reorder``: a window in seconds on the fake's clock: each copy waits a further
      random 0..``reorder`` s, so copies and deliveries of different jobs arrive out
      of order. Default 0 (in order).
    - ``loss``: probability (0..1) that a copy is dropped and never sent.
    - ``timeout``: seconds the fake waits for the receiver's answer (default 5).
    - ``tick``: real seconds between two looks at the clock (default 0.02).
    - ``workers``: deliveries in flight at once (default 8). Copies due at the
      same moment race, so their arrival order is not reproducible; ``1`` sends
      one at a time in the seeded order, and one dead receiver then delays every
      later webhook by ``timeout``.
    - ``seed``: seed of the random draws (``None``: unseeded).
    """

    duplicates: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    delay: float = attrs.field(default=0.0, validator=_non_negative)
    reorder: float = attrs.field(default=0.0, validator=_non_negative)
    loss: float = attrs.field(default=0.0, validator=_probability)
    timeout: float = attrs.field(default=5.0, validator=_non_negative)
    tick: float = attrs.field(default=0.02, validator=_non_negative)
    workers: int = attrs.field(default=8, validator=attrs.validators.ge(1))
    seed: int | None = 0


class WebhookSender:
    """The delivery thread of one fake (internal; see the module docstring)."""

    def __init__(self, policy: WebhookPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock  # the fake's clock: delay and reorder are on it
        self.attempts: list[WebhookAttempt] = []
        self._state: State | None = None
        self._inbox: queue.SimpleQueue[tuple[float, WebhookDelivery]] = queue.SimpleQueue()
        self._due: list[tuple[float, int, WebhookDelivery, WebhookAttempt]] = []
        self._order = itertools.count()
        self._random = random.Random(policy.seed)
        self._lock = threading.Lock()
        self._sending = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="krea-fake-webhooks", daemon=True)

    def start(self, state: State) -> None:
        """Start the thread, ticking ``state``'s clock."""
        self._state = state
        self._thread.start()

    def put(self, delivery: WebhookDelivery) -> None:
        """Queue a delivery (called by the state with its lock held: never blocks)."""
        # delay and reorder count from the transition, on the fake's clock
        self._inbox.put((delivery.recorded_at.timestamp(), delivery))

    def sent(self) -> list[WebhookAttempt]:
        """A copy of :attr:`attempts`, taken under the sender's lock."""
        with self._lock:
            return list(self.attempts)

    def pending(self) -> int:
        """Copies queued or waiting for their time (not yet sent or lost)."""
        with self._lock:
            return len(self._due) + self._inbox.qsize() + self._sending

    def close(self) -> None:
        """Stop the thread and join it (idempotent); undelivered copies are dropped."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.policy.timeout + 5)

    def _schedule(self, now: float, delivery: WebhookDelivery) -> None:
        policy = self.policy
        for copy in range(policy.duplicates + 1):
            attempt = WebhookAttempt(
                url=delivery.url,
                job_id=delivery.job_id,
                status=delivery.status,
                payload=delivery.payload,
                copy=copy,
            )
            if policy.loss and self._random.random() < policy.loss:
                attempt.lost = True
                self.attempts.append(attempt)
                continue
            due = now + policy.delay + self._random.uniform(0.0, policy.reorder)
            heapq.heappush(self._due, (due, next(self._order), delivery, attempt))

    def _run(self) -> None:
        state = self._state
        assert state is not None
        workers = self.policy.workers
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="krea-fake-hook")
        http = httpx.Client(timeout=self.policy.timeout, follow_redirects=False, limits=limits)
        try:
            while not self._stop.wait(self.policy.tick):
                with state.lock:
                    state.advance()
                with self._lock:
                    while not self._inbox.empty():
                        self._schedule(*self._inbox.get())
                while True:
                    with self._lock:
                        if not self._due or self._due[0][0] > self._clock():
                            break
                        _, _, delivery, attempt = heapq.heappop(self._due)
                        self._sending += 1
                    pool.submit(self._send, http, delivery, attempt)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            http.close()

    def _send(self, http: httpx.Client, delivery: WebhookDelivery, attempt: WebhookAttempt) -> None:
        attempt.sent_at = _dt.datetime.now(_dt.timezone.utc)
        try:
            answer = http.post(attempt.url, json=dict(attempt.payload))
            attempt.response_status = answer.status_code
        except httpx.HTTPError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._sending -= 1
            self.attempts.append(attempt)
            if delivery.response_status is None and delivery.error is None:
                delivery.response_status = attempt.response_status
                delivery.error = attempt.error
