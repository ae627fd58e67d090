"""``AsyncKrea``: the client, the top layer.

Mirrors the Node SDK (``@krea-ai/sdk``): ``krea.image()``, ``krea.video()``,
``krea.enhance()``, ``krea.generate()`` (the Node SDK's ``generateRaw``),
``krea.subscribe()``, ``krea.jobs``, ``krea.assets``, ``krea.styles``,
``krea.node_apps`` and ``krea.models``. It builds the request layer
(:class:`~krea_async._http.request.Requester`) and binds the resources to it; all
settings live in one :class:`~krea_async._client.config.ClientSettings` (assembled
and checked in :mod:`krea_async._client.config`), so :meth:`AsyncKrea.with_options`
goes through the constructor. The download methods come from
:class:`~krea_async._client.files.ClientFiles`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import httpx

from .._deprecation import warn_renamed
from .._errors import ConfigurationError
from .._generated.methods import GeneratedMethods
from .._http._transports.choice import HttpTransportChoice
from .._http.credentials import REDACTED
from .._http.request import Requester
from .._http.retry import RetryPolicy
from .._http.transport import DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, SharedState
from .._http.urls import webhook_base_url
from .._jobs.poller import PollingMode
from .._jobs.polling import DEFAULT_DEADLINE, DEFAULT_SAFETY_POLL, CancelFailedCallback
from .._models import Job
from .._resources.assets import Assets
from .._resources.generations import Generations
from .._resources.jobs import Jobs
from .._resources.models import Models
from .._resources.node_apps import NodeApps
from .._resources.styles import Styles
from .._types import NOT_GIVEN, NotGiven
from .config import DEFAULT_BASE_URL, configure, copy_arguments
from .subscribe import ClientSubscribe

if TYPE_CHECKING:  # imported with webhooks on only (issue 8: import time)
    from .._jobs.wakeup import Wakeup
    from .._webhooks.events import JobEvents
    from .._webhooks.receiver import WebhookReceiver

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_DEADLINE", "AsyncKrea"]


class AsyncKrea(GeneratedMethods, ClientSubscribe):
    """An async client for the Krea API (asyncio and trio, through anyio and httpx).

    ::

        async with AsyncKrea() as krea:          # api_key from KREA_API_KEY
            result = await krea.subscribe("image/bfl/flux-1-dev",
                                          input={"prompt": "a red fox"})
            print(result.data.urls[0])

    Parameters:

    - ``api_key``: the bearer token; defaults to ``$KREA_API_KEY``. A missing key,
      or one with a character an HTTP header cannot carry (whitespace inside,
      control characters, non-ASCII), raises :class:`~krea_async.ConfigurationError`
      here, not a 401 later (the message never shows the key).
    - ``base_url``: defaults to ``$KREA_BASE_URL``, else ``https://api.krea.ai``.
      Plain ``http://`` is refused for non-loopback hosts unless
      ``allow_insecure_http=True`` (the key would travel in clear text).
    - ``timeout``: per-request HTTP timeouts in seconds, an ``httpx.Timeout`` or a
      float (``None``: no HTTP timeout); default ``Timeout(connect=10, read=60,
      write=120, pool=30)``. Only the HTTP requests: the whole-job deadline is
      ``default_deadline``.
    - ``max_retries`` / ``retry``: the :class:`~krea_async.RetryPolicy` (default 3
      retries of idempotent requests, exponential backoff with full jitter; the
      submit POST is never replayed when it may have created a job).
    - ``poll_interval``: seconds between polls. Default: as Krea's docs poll, 2 s
      for image and enhance jobs and 5 s for video in ``subscribe()`` (which knows
      the endpoint), and 2 s in ``jobs.stream()``/``jobs.wait()`` (which do not;
      pass ``poll_interval=5`` there for video). After 30 s the interval grows 1.5x
      per poll up to ``max_poll_interval`` seconds (default 15).
    - ``default_deadline``: the default deadline of a whole job in seconds
      (:data:`DEFAULT_DEADLINE`, 1800) for ``subscribe()``, ``jobs.wait()`` and
      ``jobs.stream()``; each takes its own ``deadline=``.
    - ``cancel_timeout``: bound in seconds on the shielded ``DELETE /jobs/{id}``
      sent when a ``subscribe()`` is abandoned (default 5), from when it is sent;
      waiting for a free connection, it goes first and waits as long as the
      server keeps answering requests (so that cancelling 10,000 ``subscribe()``
      calls at once cancels all 10,000 jobs), and gives up after
      ``cancel_timeout`` seconds without an answer. Also the grace a submit in
      flight gets to answer once its ``subscribe()`` is cancelled (past it, the
      submit is abandoned and a WARNING says the job is uncertain).
    - ``on_cancel_failed``: ``callback(job_id, reason)``, called synchronously when
      such a ``DELETE`` failed or had no answer within ``cancel_timeout`` (the job
      may still run, and be billed); a WARNING naming the job is logged either way.
    - ``allow_insecure_http``: allow ``http://`` base URLs to non-loopback hosts
      (the key then travels in clear text); also lets downloads use ``http://``.
    - ``default_headers``: extra headers sent with every API request.
    - ``http_client``: your own ``httpx.AsyncClient`` (its transport, proxies,
      limits); you close it. ``transport``: an httpx transport for the client this
      one creates (``krea_async.testing`` uses it for the in-process fake).
    - ``max_connections``: size of the connection pool this client creates (default
      100, all kept alive) and of the admission limit in front of it: at most that
      many API requests are in flight, the others wait their turn in a FIFO (a
      submit still waiting has sent nothing). With your own ``http_client``, pass
      its pool size here. See docs/content/scale.md.
    - ``polling``: how the client's one shared poller asks for the states of the
      jobs its ``subscribe()``/``jobs.wait()``/``jobs.stream()`` calls wait for:
      ``"per-job"`` (``GET /jobs/{id}`` at each job's interval), ``"list"``
      (``GET /jobs?limit=1000`` every 0.25 s, checking by id a job the listing
      does not show) or ``"auto"`` (default: lists when that takes fewer requests).
    - ``http_transport``: ``"auto"`` (default) and ``"httpx"`` use httpx's own
      transport; ``"aiohttp"`` uses ``httpx-aiohttp`` (``krea-async[aiohttp]``)
      under asyncio (trio keeps httpx's). Only for the client this one creates.
    - ``webhook_url``: the public URL where this app mounts :attr:`webhooks` (e.g.
      ``"https://app.example/krea/webhooks"``); defaults to ``$KREA_WEBHOOK_URL``
      (``""`` turns webhooks off). With one, every submit without a ``webhook_url``
      of its own sends ``X-Webhook-URL`` with a per-job capability URL (that base
      plus a 256-bit token), and ``subscribe()`` / ``jobs.wait()`` on those jobs
      wake when the webhook arrives instead of polling: see
      https://docs.krea.ai/developers/webhooks. ``http://`` is refused for
      non-loopback hosts unless ``allow_insecure_http=True``.
    - ``events``: the job-event bus shared by the receiver and the waiters
      (default: in-process; ``RedisEvents("redis://...")`` for several replicas);
      ignored without a webhook URL. If it is down, calls poll instead (logged).
    - ``webhook_verify``: ``"fetch"`` (default: confirm each delivery with one
      ``GET /jobs/{id}``) or ``"token"`` (trust the body once its token matches).
    - ``webhook_safety_poll``: seconds without news after which a webhook-woken
      wait polls once anyway, in case a delivery was lost (default 30).
    - ``job_timeout``: deprecated spelling of ``default_deadline``
      (:class:`DeprecationWarning`; removed in the next release).

    Use it as an async context manager or call :meth:`aclose`. One client per event
    loop, shared by all tasks of that loop; a closed client or one used from
    another loop raises :class:`~krea_async.ClientStateError`. There is no global
    client and no cleanup in ``__del__``.
    """

    jobs: Jobs
    assets: Assets
    styles: Styles
    node_apps: NodeApps
    models: Models

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll_interval: float | None = None,
        max_poll_interval: float = 15.0,
        default_deadline: float = DEFAULT_DEADLINE,
        cancel_timeout: float = 5.0,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_insecure_http: bool = False,
        default_headers: Mapping[str, str] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        polling: PollingMode = "auto",
        http_transport: HttpTransportChoice = "auto",
        job_timeout: float | NotGiven = NOT_GIVEN,
        webhook_url: str | None = None,
        events: JobEvents | None = None,
        webhook_verify: Literal["fetch", "token"] = "fetch",
        webhook_safety_poll: float = DEFAULT_SAFETY_POLL,
        on_cancel_failed: CancelFailedCallback | None = None,
        _shared: SharedState | None = None,
        _wakeup: Wakeup | None = None,
    ) -> None:
        if not isinstance(job_timeout, NotGiven):
            warn_renamed("AsyncKrea", "job_timeout", "default_deadline")
            default_deadline = job_timeout
        self._settings, self._state = configure(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            default_deadline=default_deadline,
            cancel_timeout=cancel_timeout,
            http_client=http_client,
            transport=transport,
            allow_insecure_http=allow_insecure_http,
            default_headers=default_headers,
            max_connections=max_connections,
            polling=polling,
            http_transport=http_transport,
            on_cancel_failed=on_cancel_failed,
            shared=_shared,
        )
        requester = Requester(
            state=self._state,
            base_url=self._settings.base_url,
            secret=self._settings.api_key,
            timeout=self._settings.timeout,
            retry=self._settings.retry,
            headers=self._settings.headers,
        )
        settings = self._settings.polling
        self.jobs = Jobs(requester, settings)
        self._job_calls = (self.jobs.get, self.jobs._cancel_within)  # not one pair per call
        self.assets = Assets(requester, settings)
        self.styles = Styles(requester, settings)
        self.node_apps = NodeApps(requester, settings)
        self.models = Models(requester, settings)
        self._generations = Generations(requester, settings)
        if _wakeup is None and webhook_base_url(webhook_url):
            from .._jobs.wakeup import wakeup_for  # the webhook wiring: imported when used

            _wakeup = wakeup_for(
                webhook_url,
                events=events,
                verify=webhook_verify,
                safety_poll=webhook_safety_poll,
                fetch=self.jobs.get,
                polling=self._settings.polling,
                allow_insecure_http=allow_insecure_http,
            )
        self._wakeup = _wakeup
        self.jobs._wakeup = self._wakeup

    # -- lifecycle -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API's base URL, e.g. ``https://api.krea.ai``."""
        return str(self._settings.base_url)

    @property
    def is_closed(self) -> bool:
        """``True`` once :meth:`aclose` ran (on this client or a ``with_options`` copy)."""
        return self._state.closed or self._state.http_client.is_closed

    async def aclose(self) -> None:
        """Close the connection pool (unless it is an ``http_client`` you passed in).

        Shared with every ``with_options()`` copy. Idempotent.
        """
        await self._state.aclose()

    async def __aenter__(self) -> AsyncKrea:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def webhooks(self) -> WebhookReceiver:
        """The webhook receiver: mount ``krea.webhooks.asgi_app()`` at the path of
        ``webhook_url`` (``app.mount("/krea/webhooks", krea.webhooks.asgi_app())``), or
        call ``await krea.webhooks.handle(token, body)`` from any framework. Shared by
        ``with_options()`` copies. Raises :class:`~krea_async.ConfigurationError`
        without a webhook URL."""
        if self._wakeup is None:
            raise ConfigurationError(
                "webhooks are off: pass AsyncKrea(webhook_url=...) or set KREA_WEBHOOK_URL"
            )
        return self._wakeup.receiver

    def __repr__(self) -> str:
        url = self._settings.base_url
        if url.password:
            url = url.copy_with(password=REDACTED)
        return f"AsyncKrea(base_url={str(url)!r}, api_key='**********')"

    def with_options(
        self,
        *,
        api_key: str | NotGiven = NOT_GIVEN,
        base_url: str | NotGiven = NOT_GIVEN,
        timeout: httpx.Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        poll_interval: float | NotGiven | None = NOT_GIVEN,
        max_poll_interval: float | NotGiven = NOT_GIVEN,
        default_deadline: float | NotGiven = NOT_GIVEN,
        cancel_timeout: float | NotGiven = NOT_GIVEN,
        allow_insecure_http: bool | NotGiven = NOT_GIVEN,
        default_headers: Mapping[str, str] | NotGiven = NOT_GIVEN,
        job_timeout: float | NotGiven = NOT_GIVEN,
    ) -> AsyncKrea:
        """A copy with other settings that shares this client's connection pool.

        Cheap (no new connections): ``krea.with_options(max_retries=0, timeout=5)``.
        Every argument means what it means for :class:`AsyncKrea`; those not given
        keep this client's value (``default_headers`` are merged over this client's
        headers); the copy shares the webhook receiver and bus, and, on the same API
        key and base URL, the shared poller (its status requests keep the settings of
        the client that first polled), so ``krea.with_options(...).subscribe(...)`` per
        call in a batch of 10,000 is polled like the client's own calls. Closing either
        client closes the shared pool. ``job_timeout`` is the deprecated spelling of
        ``default_deadline``.
        """
        if not isinstance(job_timeout, NotGiven):
            warn_renamed("with_options", "job_timeout", "default_deadline")
            default_deadline = job_timeout
        return type(self)(
            **copy_arguments(
                self._settings,
                api_key=api_key,
                base_url=base_url,
                timeout=timeout,
                max_retries=max_retries,
                retry=retry,
                poll_interval=poll_interval,
                max_poll_interval=max_poll_interval,
                default_deadline=default_deadline,
                cancel_timeout=cancel_timeout,
                allow_insecure_http=allow_insecure_http,
                default_headers=default_headers,
            ),
            _shared=self._state,
            webhook_url="",
            _wakeup=self._wakeup,
        )

    # -- generation ----------------------------------------------------------------

    async def generate(self, endpoint: str, input: Any, *, webhook_url: str | None = None) -> Job:
        """Submit a generation to any endpoint and return the pending :class:`~krea_async.Job`.

        ``endpoint`` is ``"image/bfl/flux-1-dev"`` (or the full path
        ``"/generate/image/bfl/flux-1-dev"``), including endpoints newer than this
        SDK; ``input`` a dict (or a typed input from :mod:`krea_async.inputs`).
        Deprecated camelCase keys the spec lists for the endpoint are renamed with a
        :class:`DeprecationWarning`. ``webhook_url`` is sent as ``X-Webhook-URL``:
        Krea POSTs the job there once terminal; without one, a client with a
        webhook URL sends a capability URL of its :attr:`webhooks` receiver.

        This is ``POST /generate/{category}/{provider}/{model}`` (the Node SDK's
        ``generateRaw``). Raises :class:`~krea_async.BadRequestError` (400),
        :class:`~krea_async.InsufficientCreditsError` (402),
        :class:`~krea_async.EndpointNotFoundError` (404: no such endpoint),
        :class:`~krea_async.RateLimitError` (429, after retries), and
        :class:`~krea_async.UncertainSubmitError` when the job may have been
        created but no response came (never replayed).

        Cancelled while the POST is in flight (a web client that hung up, see
        :func:`krea_async.web.follow_client`), the request gets ``cancel_timeout``
        seconds to answer and the job it created is cancelled (``DELETE /jobs/{id}``)
        as soon as its id is known: nobody else could learn that id.
        """
        cancel = self._job_calls[1]

        def create(url: str | None) -> Awaitable[Job]:
            return self._generations.create_cancellable(
                endpoint, input, webhook_url=url, cancel=cancel
            )

        if webhook_url is None and self._wakeup is not None:
            return await self._wakeup.submit(create)
        return await create(webhook_url)

    async def _submit_model(
        self, category: str, model: str, input: Any, *, webhook_url: str | None
    ) -> Job:
        return await self.generate(f"{category}/{model}", input, webhook_url=webhook_url)
