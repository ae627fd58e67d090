"""The settings objects :class:`~krea_async.AsyncKrea` takes, grouped as httpx groups
its own into ``Timeout`` and ``Limits``: :class:`Limits` (the connection pool and the
admission limit in front of it), :class:`JobSettings` (how jobs are waited for and
cancelled) and :class:`WebhookSettings` (how webhooks wake those waits); and
:func:`aiohttp_client`, an ``httpx.AsyncClient`` on aiohttp to pass as
``AsyncKrea(http_client=...)``.

Each object is frozen and checks its fields when it is made: a bad value raises
:class:`~krea_async.ConfigurationError` there, not at the first request. Change one
field of a copy with ``attrs.evolve(settings, deadline=60)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import attrs
import httpx

from .._errors import ConfigurationError
from .._http._transports.choice import aiohttp_transport
from .._http.transport import DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT
from .._jobs.outcome import CancelFailedCallback
from .._jobs.poller import POLLING_MODES, PollingMode
from .._jobs.polling import DEFAULT_DEADLINE, DEFAULT_SAFETY_POLL

if TYPE_CHECKING:
    from .._webhooks.events import JobEvents

__all__ = ["JobSettings", "Limits", "WebhookSettings", "aiohttp_client"]

WEBHOOK_VERIFY_MODES = ("fetch", "token")

_Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _seconds(*, positive: bool = False, optional: bool = False) -> _Validator:
    """An attrs validator: a number of seconds >= 0 (> 0 with ``positive``; ``None``
    allowed with ``optional``), else :class:`~krea_async.ConfigurationError`."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        where = f"{type(instance).__name__}.{attribute.name}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ConfigurationError(f"{where} must be a number of seconds, got {value!r}")
        if positive and not value > 0:
            raise ConfigurationError(f"{where} must be > 0 seconds (math.inf for none)")
        if value < 0:
            raise ConfigurationError(f"{where} must be >= 0 seconds, got {value!r}")

    return check


def _check_max_connections(instance: Limits, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not (isinstance(value, int) and value >= 1):
        raise ConfigurationError(f"Limits.max_connections must be an int >= 1, got {value!r}")


def _check_polling(instance: JobSettings, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in POLLING_MODES:
        raise ConfigurationError(
            f"JobSettings.polling must be one of {POLLING_MODES}, got {value!r}"
        )


def _check_verify(instance: WebhookSettings, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in WEBHOOK_VERIFY_MODES:
        raise ConfigurationError(
            f"WebhookSettings.verify must be one of {WEBHOOK_VERIFY_MODES}, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class Limits:
    """The size of the connection pool a client creates, and of the admission limit in
    front of it: ``AsyncKrea(limits=Limits(max_connections=200))``.

    - ``max_connections``: at most this many API requests are in flight at once
      (default 100, all kept alive); the others wait their turn in a FIFO, so a
      submit still waiting has sent nothing. With your own ``http_client``, give its
      pool size here: the admission limit is the SDK's, the pool is yours. See
      docs/content/scale.md.

    Raises :class:`~krea_async.ConfigurationError` for anything but an int >= 1.
    """

    max_connections: int = attrs.field(
        default=DEFAULT_MAX_CONNECTIONS, validator=_check_max_connections
    )

    def to_httpx(self) -> httpx.Limits:
        """The same bound as an ``httpx.Limits`` (every connection kept alive)."""
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_connections,
        )


@attrs.frozen(kw_only=True)
class JobSettings:
    """How a client waits for its jobs and cancels them:
    ``AsyncKrea(jobs=JobSettings(deadline=600))``. Every duration is in seconds.

    - ``poll_interval``: seconds between polls. ``None`` (default): as Krea's docs
      poll (https://docs.krea.ai/developers/job-lifecycle), 2 s for image and
      enhance jobs and 5 s for video in ``subscribe()`` (which knows the endpoint),
      and 2 s in ``jobs.stream()``/``jobs.wait()`` (which do not; pass
      ``poll_interval=5`` there for video). After 30 s the interval grows 1.5x per
      poll up to ``max_poll_interval``.
    - ``max_poll_interval``: the cap of that growth (default 15).
    - ``deadline``: the default deadline of a whole job (:data:`~krea_async.DEFAULT_DEADLINE`,
      8100) for ``subscribe()``, ``jobs.wait()`` and ``jobs.stream()``; each call
      takes its own ``deadline=``. Past it, :class:`~krea_async.JobTimeoutError`.
      ``math.inf``: none.
    - ``cancel_deadline``: the bound on the shielded ``DELETE /jobs/{id}`` the SDK
      sends on its own (an abandoned ``subscribe()``, ``cancel_on_exit``), from when
      it is sent (default 5). Waiting for a free connection, that DELETE goes first
      and waits as long as the server keeps answering requests, so that cancelling
      10,000 ``subscribe()`` calls at once cancels all 10,000 jobs. It also bounds
      the retries of a cancel that finds the job ``backlogged`` or ``scheduled``
      (Krea cancels only ``queued`` or ``processing`` jobs,
      https://docs.krea.ai/developers/job-lifecycle), for ``krea.jobs.cancel()`` too.
    - ``submit_grace``: how long a submit already sent may still answer once the
      ``subscribe()`` that sent it is cancelled (default 5): a job it created is
      then cancelled; past the grace the submit is abandoned and a WARNING says the
      job is uncertain (Krea has no idempotency key).
    - ``polling``: how the client's one shared poller asks for the states of the
      jobs it waits for: ``"per-job"`` (``GET /jobs/{id}`` at each job's interval),
      ``"list"`` (``GET /jobs?limit=1000`` every 0.25 s, checking by id a job the
      listing does not show) or ``"auto"`` (default: lists when that takes fewer
      requests).
    - ``on_cancel_failed``: ``callback(job_id, reason)``, called synchronously when
      such a ``DELETE`` failed, had no answer within ``cancel_deadline``, or did not
      cancel the job (the job's state after it is not ``cancelled``: it completed
      first, or runs on; either way it is billed); a WARNING naming the job is
      logged either way.

    Raises :class:`~krea_async.ConfigurationError` for a negative duration, a
    deadline that is not > 0, or an unknown ``polling`` mode.
    """

    poll_interval: float | None = attrs.field(default=None, validator=_seconds(optional=True))
    max_poll_interval: float = attrs.field(default=15.0, validator=_seconds())
    deadline: float = attrs.field(default=DEFAULT_DEADLINE, validator=_seconds(positive=True))
    cancel_deadline: float = attrs.field(default=5.0, validator=_seconds())
    submit_grace: float = attrs.field(default=5.0, validator=_seconds())
    polling: PollingMode = attrs.field(default="auto", validator=_check_polling)
    on_cancel_failed: CancelFailedCallback | None = None


@attrs.frozen(kw_only=True)
class WebhookSettings:
    """How Krea's webhooks wake a client's waits:
    ``AsyncKrea(webhooks=WebhookSettings(url="https://app.example/krea/webhooks"))``.
    See https://docs.krea.ai/developers/webhooks.

    - ``url``: the public URL where this app mounts ``krea.webhooks`` (the
      :class:`~krea_async.WebhookReceiver`). ``None`` (default): ``$KREA_WEBHOOK_URL``;
      ``""`` turns webhooks off. With one, every submit without a ``webhook_url`` of
      its own sends ``X-Webhook-URL`` with a per-job capability URL (this base plus a
      256-bit token), and ``subscribe()`` / ``jobs.wait()`` on those jobs wake when
      the webhook arrives instead of polling. ``http://`` is refused for non-loopback
      hosts unless ``AsyncKrea(allow_insecure_http=True)``.
    - ``events``: the job-event bus shared by the receiver and the waiters (default:
      in-process; ``RedisEvents("redis://...")`` for several replicas). If it is
      down, calls poll instead (logged).
    - ``verify``: ``"fetch"`` (default: confirm each delivery with one
      ``GET /jobs/{id}``) or ``"token"`` (trust the body once its token matches).
    - ``safety_poll``: seconds without news after which a webhook-woken wait polls
      once anyway, in case a delivery was lost (default 30).

    Raises :class:`~krea_async.ConfigurationError` for an unknown ``verify`` or a
    ``safety_poll`` that is not > 0; the URL is checked by the client.
    """

    url: str | None = None
    events: JobEvents | None = None
    verify: Literal["fetch", "token"] = attrs.field(default="fetch", validator=_check_verify)
    safety_poll: float = attrs.field(default=DEFAULT_SAFETY_POLL, validator=_seconds(positive=True))


def aiohttp_client(
    limits: Limits | None = None, *, timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose requests go through aiohttp (``httpx-aiohttp``,
    the ``krea-async[aiohttp]`` extra), for ``AsyncKrea(http_client=...)``::

        limits = Limits(max_connections=200)
        async with aiohttp_client(limits) as http, AsyncKrea(
            http_client=http, limits=limits
        ) as krea:
            ...

    asyncio only: aiohttp does not run on trio, so under trio the same client uses
    httpx's own transport. The transport is picked at the first request, when the
    event loop is known. ``limits`` (default :class:`Limits`) sizes aiohttp's pool;
    pass the same object to ``AsyncKrea(limits=...)`` for the admission limit.
    ``timeout``: the per-request HTTP timeouts, as for :class:`~krea_async.AsyncKrea`.
    You close the client (``async with`` or ``await http.aclose()``), as any
    ``http_client`` you pass in. Raises :class:`~krea_async.ConfigurationError` when
    ``httpx-aiohttp`` is not installed.
    """
    limits = limits or Limits()
    return httpx.AsyncClient(
        transport=aiohttp_transport(limits.to_httpx()),
        timeout=timeout,
        limits=limits.to_httpx(),
        follow_redirects=False,
    )
