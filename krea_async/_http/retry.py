"""Retry policy: named conditions only, exponential backoff with full jitter, caps.

Modelled on stamina: a request is retried only for the conditions listed in
:class:`RetryPolicy`, waits grow exponentially with full jitter and are capped
per wait, and both the number of attempts and the total time are capped. A test
switch (:func:`set_backoff_enabled`, :func:`no_backoff`) makes every wait zero.

What is retried, and why the submit POST is special, is documented on
:class:`RetryPolicy`; the source is Krea's docs (https://docs.krea.ai): no
idempotency key, 429 when the backlog is full, ``Retry-After`` undocumented but
honoured when present. :func:`decide` makes every retry decision as a pure
function of the policy; the request loop only applies it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import random
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import attrs

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "Decision",
    "Outcome",
    "RetryPolicy",
    "decide",
    "no_backoff",
    "on_retry",
    "parse_retry_after",
    "rate_limit_pause",
    "set_backoff_enabled",
]

DEFAULT_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Transient statuses: request timeout, rate limit, server errors (retried and, while
polling a job, polled through)."""

on_retry: ContextVar[Callable[[], None] | None] = ContextVar("krea_on_retry", default=None)
"""Called once per retry of a request made in this context (and its child tasks): a
job's trace counts its retries with it (:mod:`krea_async._jobs.tracing`)."""

_backoff_enabled = True


def set_backoff_enabled(enabled: bool) -> None:
    """Turn every retry wait (backoff and ``Retry-After``) on or off, process-wide.

    Meant for tests: with ``False``, retries still happen, with the same caps on
    attempts, but without waiting. Poll intervals are not affected (set
    ``poll_interval`` for those).
    """
    global _backoff_enabled
    _backoff_enabled = enabled


@contextlib.contextmanager
def no_backoff() -> Iterator[None]:
    """Context manager form of ``set_backoff_enabled(False)``; restores the previous value."""
    previous = _backoff_enabled
    set_backoff_enabled(False)
    try:
        yield
    finally:
        set_backoff_enabled(previous)


def backoff_enabled() -> bool:
    """Whether retry waits are currently on (see :func:`set_backoff_enabled`)."""
    return _backoff_enabled


def parse_retry_after(value: str | None, *, now: _dt.datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3).

    Returns seconds (>= 0) or ``None`` when absent or unparseable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN check
    try:
        import email.utils  # only for an HTTP-date Retry-After (import cost)

        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    current = now or _dt.datetime.now(_dt.timezone.utc)
    return max(0.0, (when - current).total_seconds())


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how long to retry a request.

    Retried, on idempotent requests (GET, DELETE, PATCH, and the share-with-workspace
    POST, which sets a state): connection errors, HTTP timeouts, and the statuses in
    ``retry_statuses`` (408, 429, 500, 502, 503, 504). A DELETE of an asset or a
    workspace share whose retry answers 404, after an attempt whose connection
    dropped once the request was sent, counts as done: the lost attempt deleted it.

    The submit POST (``/generate/...``, ``/styles/train``, ``/node-apps/{id}/execute``,
    ``/assets``) is retried only where the server certainly did not act on it: the
    connection was never established (connect error or connect/pool timeout), or
    the server answered 429 (the job was refused). Everywhere else, a read timeout,
    a connection dropped after the body was sent, or a 5xx, the client raises
    :class:`~krea_async.UncertainSubmitError` (so do a 408 and a 2xx whose body
    cannot be read) and never replays the POST, since
    Krea has no idempotency key and a replay can start and bill a second job.

    Waits: attempt ``n`` (0-based) waits a uniformly random time in
    ``[0, min(max_backoff, initial_backoff * 2**n)]`` seconds ("full jitter"). A
    ``Retry-After`` header (seconds or HTTP-date) replaces that wait when present,
    up to ``max_retry_after`` seconds; a longer one is not waited for and the error
    is raised. No retry starts once ``deadline`` seconds have passed since the
    first attempt, and the request layer ends the whole call (attempt in flight
    included) at ``deadline``: :class:`~krea_async.APITimeoutError`, or
    :class:`~krea_async.UncertainSubmitError` for a submit. So a server that
    trickles its answer a byte at a time, which per-read timeouts never catch,
    cannot hold a call longer. ``math.inf``: no bound (``0``: no bound and no
    retry). A file upload gets at least 900 s (``krea_async._http.request.UPLOAD_DEADLINE``).

    Fields (seconds unless stated): ``max_retries`` (retries after the first
    attempt; ``0`` means exactly one attempt), ``initial_backoff`` (0.5),
    ``max_backoff`` (8.0), ``deadline`` (60.0: the total deadline of one
    call), ``max_retry_after`` (60.0),
    ``retry_statuses``.
    """

    max_retries: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    initial_backoff: float = attrs.field(default=0.5, validator=_non_negative)
    max_backoff: float = attrs.field(default=8.0, validator=_non_negative)
    deadline: float = attrs.field(default=60.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES

    def backoff(
        self, attempt: int, retry_after: float | None = None, *, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or ``None`` when the
        server's ``Retry-After`` is longer than ``max_retry_after`` (do not retry)."""
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            return retry_after if _backoff_enabled else 0.0
        if not _backoff_enabled:
            return 0.0
        cap = min(self.max_backoff, self.initial_backoff * (2 ** min(attempt, 32)))
        return (rng or _RANDOM).uniform(0.0, cap)


_RANDOM = random.Random()


@attrs.frozen(kw_only=True)
class Outcome:
    """What one failed attempt of a request ended with.

    ``status`` is the HTTP error status, or ``None`` when no response came (a
    connection error or an HTTP timeout); ``sent`` tells, for those, whether the
    request may have reached the server (``False`` for a refused connection or a
    connect/pool timeout); ``retry_after`` is the server's ``Retry-After`` in seconds.
    """

    status: int | None = None
    sent: bool = True
    retry_after: float | None = None

    @property
    def certainly_not_done(self) -> bool:
        """``True`` when the server certainly did not carry the request out: a 4xx
        other than 408 (a refusal), or a request that never left this machine."""
        if self.status is not None:
            return self.status < 500 and self.status != 408
        return not self.sent


@attrs.frozen
class Decision:
    """What to do after a failed attempt: wait ``wait`` seconds and retry, or stop
    (``wait is None``). ``uncertain`` is ``True`` when it stopped because a request that
    must not be replayed may have been carried out (an
    :class:`~krea_async.UncertainSubmitError`)."""

    wait: float | None
    uncertain: bool = False

    @property
    def stop(self) -> bool:
        """``True`` when no further attempt should be made."""
        return self.wait is None


STOP = Decision(None)
UNCERTAIN = Decision(None, uncertain=True)


def decide(
    policy: RetryPolicy,
    *,
    attempt: int,
    outcome: Outcome,
    replay_safe: bool,
    elapsed: float = 0.0,
    rng: random.Random | None = None,
    shared_rate_limit: bool = False,
) -> Decision:
    """Decide, from the policy alone, whether and when to retry a failed attempt.

    ``attempt`` is the 0-based number of the attempt that failed; ``elapsed`` the
    seconds since the first attempt started; ``replay_safe`` whether sending the
    request again cannot do the work twice (idempotent methods). Return a
    :class:`Decision`: ``UNCERTAIN`` when a non-replayable request may have been
    carried out; ``STOP`` for a status the policy does not retry, when the retries
    or ``deadline`` are used up, or when ``Retry-After`` exceeds
    ``max_retry_after``; else the wait in seconds (see :meth:`RetryPolicy.backoff`).
    ``shared_rate_limit``: a 429 is not retried by the request itself (``STOP``):
    its caller pauses as a whole (the shared poller, :func:`rate_limit_pause`).
    """
    if shared_rate_limit and outcome.status == 429:
        return STOP
    if not replay_safe and not outcome.certainly_not_done:
        return UNCERTAIN
    retryable = outcome.status is None or outcome.status in policy.retry_statuses
    if not retryable or attempt >= policy.max_retries:
        return STOP
    wait = policy.backoff(attempt, outcome.retry_after, rng=rng)
    if wait is None or elapsed + wait > policy.deadline:
        return STOP
    return Decision(wait)


def rate_limit_pause(
    policy: RetryPolicy,
    strikes: int,
    retry_after: float | None,
    *,
    rng: random.Random | None = None,
) -> float:
    """Seconds a whole group of requests (a client's shared poller) pauses after a
    ``429``: the server's ``Retry-After`` when present (at most ``max_retry_after``),
    else exponential backoff with "equal jitter", a uniformly random time in
    ``[cap / 2, cap]`` where ``cap = min(max_backoff, initial_backoff * 2**strikes)``
    (at least 0.25 s, so that a pause always slows the group down). ``strikes``: the
    429s in a row before this one (0 for the first). ``0.0`` while backoff is off
    (:func:`set_backoff_enabled`). Krea answers 429 when an account sends too much
    (https://docs.krea.ai/developers/job-lifecycle); ``Retry-After`` is honoured when
    present, as for single requests (:class:`RetryPolicy`)."""
    if not _backoff_enabled:
        return 0.0
    if retry_after is not None:
        return min(retry_after, policy.max_retry_after)
    cap = max(0.25, min(policy.max_backoff, policy.initial_backoff * (2 ** min(strikes, 32))))
    return (rng or _RANDOM).uniform(cap / 2, cap)
