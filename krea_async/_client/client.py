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

import functools
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from .._errors import ConfigurationError
from .._generated.methods import GeneratedMethods
from .._http.credentials import REDACTED
from .._http.request import Requester
from .._http.retry import RetryPolicy
from .._http.transport import DEFAULT_TIMEOUT, SharedState
from .._jobs.polling import DEFAULT_DEADLINE
from .._jobs.waiter import WebhookOptions
from .._models import Job
from .._resources.assets import Assets
from .._resources.generations import Generations
from .._resources.jobs import Jobs
from .._resources.models import Models
from .._resources.node_apps import NodeApps
from .._resources.styles import Styles
from .._types import NOT_GIVEN, NotGiven
from .config import DEFAULT_BASE_URL, configure, copy_arguments
from .options import JobSettings, Limits, WebhookSettings
from .subscribe import ClientSubscribe

if TYPE_CHECKING:  # imported with webhooks on only (import time)
    from .._jobs.wakeup import Wakeup
    from .._webhooks.receiver import WebhookReceiver

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_DEADLINE", "AsyncKrea"]


class AsyncKrea(GeneratedMethods, ClientSubscribe):
    """An async client for the Krea API (asyncio and trio, through anyio and httpx).

    ::

        async with AsyncKrea() as krea:          # api_key from KREA_API_KEY
            result = await krea.subscribe("image/bfl/flux-1-dev",
                                          input={"prompt": "a red fox"})
            print(result.data.urls[0])

    Parameters (at most ten; the rest are grouped in settings objects, as httpx
    groups its own in ``Timeout`` and ``Limits``):

    - ``api_key``: the bearer token; defaults to ``$KREA_API_KEY``. A missing key,
      or one with a character an HTTP header cannot carry (whitespace inside,
      control characters, non-ASCII), raises :class:`~krea_async.ConfigurationError`
      here, not a 401 later (the message never shows the key).
    - ``base_url``: defaults to ``$KREA_BASE_URL``, else ``https://api.krea.ai``.
      Plain ``http://`` is refused for non-loopback hosts unless
      ``allow_insecure_http=True`` (the key would travel in clear text).
    - ``timeout``: the bound on one HTTP exchange, in seconds: an ``httpx.Timeout``
      or a float (``None``: no HTTP timeout); default ``Timeout(connect=10, read=60,
      write=120, pool=30)``. Total bounds are deadlines: one API call's is
      ``RetryPolicy.deadline``, a whole job's ``JobSettings.deadline``.
    - ``retry``: the :class:`~krea_async.RetryPolicy` (default 3 retries of
      idempotent requests, exponential backoff with full jitter, a 60 s deadline
      per call; the submit POST is never replayed when it may have created a job).
    - ``limits``: :class:`~krea_async.Limits`, the size of the connection pool this
      client creates and of the admission limit in front of it (default 100): at
      most that many API requests are in flight, the others wait their turn in a
      FIFO. With your own ``http_client``, give its pool size here.
    - ``jobs``: :class:`~krea_async.JobSettings`, how jobs are waited for and
      cancelled: poll interval and its cap, the default job ``deadline`` (8100 s),
      ``cancel_deadline`` and ``submit_grace``, the shared poller's mode, and the
      ``on_cancel_failed`` callback.
    - ``webhooks``: :class:`~krea_async.WebhookSettings`: the public URL where this
      app mounts :attr:`webhooks` (default ``$KREA_WEBHOOK_URL``; ``""`` turns
      webhooks off), the job-event bus, the verification of deliveries and the
      safety poll. With a URL, ``subscribe()`` / ``jobs.wait()`` wake when Krea's
      webhook arrives instead of polling (https://docs.krea.ai/developers/webhooks).
    - ``http_client``: your own ``httpx.AsyncClient`` (its transport, proxies,
      pool); you close it. :func:`~krea_async.aiohttp_client` makes one on aiohttp
      (asyncio only); ``httpx.AsyncClient(transport=...)`` plugs in any httpx
      transport.
    - ``default_headers``: extra headers sent with every API request.
    - ``allow_insecure_http``: allow ``http://`` base and webhook URLs to
      non-loopback hosts (the key then travels in clear text); also lets downloads
      use ``http://``.

    A settings argument of the wrong type (a dict for ``jobs=``, say) raises
    :class:`~krea_async.ConfigurationError`; each settings object checks its own
    fields when it is made.

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
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        jobs: JobSettings | None = None,
        webhooks: WebhookSettings | None = None,
        http_client: httpx.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        webhooks = webhooks if webhooks is not None else WebhookSettings()
        if not isinstance(webhooks, WebhookSettings):
            raise ConfigurationError(
                f"webhooks must be a krea_async.WebhookSettings, got {type(webhooks).__name__}"
            )
        self._setup(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            limits=limits,
            jobs=jobs,
            http_client=http_client,
            default_headers=default_headers,
            allow_insecure_http=allow_insecure_http,
            shared=None,
            webhooks=WebhookOptions(
                url=webhooks.url,
                events=webhooks.events,
                verify=webhooks.verify,
                safety_poll=webhooks.safety_poll,
                allow_insecure_http=allow_insecure_http,
            ),
        )

    def _setup(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: httpx.Timeout | float | None,
        retry: RetryPolicy | None,
        limits: Limits | None,
        jobs: JobSettings | None,
        http_client: httpx.AsyncClient | None,
        default_headers: Mapping[str, str] | None,
        allow_insecure_http: bool,
        shared: SharedState | None,
        webhooks: WebhookOptions | Wakeup | None,
    ) -> None:
        """Check the settings and bind the resources to a request layer on ``shared``
        (a ``with_options()`` copy's) or on a new pool; ``webhooks``: the options of
        the waiter's webhook wiring, or the wiring a ``with_options()`` copy shares."""
        self._settings, self._state = configure(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            limits=limits,
            jobs=jobs,
            http_client=http_client,
            default_headers=default_headers,
            allow_insecure_http=allow_insecure_http,
            shared=shared,
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
        self.jobs = Jobs(requester, settings, webhooks=webhooks)
        self.assets = Assets(requester, settings)
        self.styles = Styles(requester, settings)
        self.node_apps = NodeApps(requester, settings)
        self.models = Models(requester, settings)
        self._generations = Generations(requester, settings)
        self._submit = self._generations.create
        self._submit_cancellable = functools.partial(
            self._generations.create_cancellable, cancel=self.jobs.waiter.cancel
        )

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
        receiver = self.jobs.waiter.receiver
        if receiver is None:
            raise ConfigurationError(
                "webhooks are off: pass AsyncKrea(webhooks=WebhookSettings(url=...)) "
                "or set KREA_WEBHOOK_URL"
            )
        return receiver

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
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        jobs: JobSettings | NotGiven = NOT_GIVEN,
        default_headers: Mapping[str, str] | NotGiven = NOT_GIVEN,
        allow_insecure_http: bool | NotGiven = NOT_GIVEN,
    ) -> AsyncKrea:
        """A copy with other settings that shares this client's connection pool.

        Cheap (no new connections):
        ``krea.with_options(retry=RetryPolicy(max_retries=0), timeout=5)``. Every
        argument means what it means for :class:`AsyncKrea`; those not given keep
        this client's value; a settings object given replaces this client's whole
        (``jobs=attrs.evolve(settings, deadline=60)`` to change one field of one you
        kept); ``default_headers`` are merged over this client's headers. What
        belongs to the shared pool cannot change here: ``limits`` and
        ``http_client`` are this client's, and the copy shares its webhook receiver
        and bus (``webhooks``). On the same API key and base URL the copy shares the
        poller too (its status requests keep the settings of the client that first
        polled), so ``krea.with_options(...).subscribe(...)`` per call in a batch of
        10,000 is polled like the client's own calls. Closing either client closes
        the shared pool. Raises what :class:`AsyncKrea` raises for a bad setting.
        """
        arguments = copy_arguments(
            self._settings,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            jobs=jobs,
            allow_insecure_http=allow_insecure_http,
            default_headers=default_headers,
        )
        copy = type(self).__new__(type(self))
        copy._setup(
            **arguments,
            limits=None,
            http_client=None,
            shared=self._state,
            webhooks=self.jobs.waiter.webhooks,
        )
        return copy

    # -- generation ----------------------------------------------------------------

    async def generate(self, endpoint: str, input: Any, *, webhook_url: str | None = None) -> Job:
        """Submit a generation to any endpoint and return the pending :class:`~krea_async.Job`.

        ``endpoint`` is ``"image/bfl/flux-1-dev"`` (or the full path
        ``"/generate/image/bfl/flux-1-dev"``), including endpoints newer than this
        SDK; ``input`` a dict (or a typed input from :mod:`krea_async.inputs`).
        Deprecated camelCase keys the spec lists for the endpoint (keys Krea itself
        renamed) are rewritten with a :class:`DeprecationWarning`. ``webhook_url`` is
        sent as ``X-Webhook-URL``: Krea POSTs the job there once terminal; without
        one, a client with a webhook URL sends a capability URL of its
        :attr:`webhooks` receiver.

        This is ``POST /generate/{category}/{provider}/{model}`` (the Node SDK's
        ``generateRaw``). Raises :class:`~krea_async.BadRequestError` (400),
        :class:`~krea_async.InsufficientCreditsError` (402),
        :class:`~krea_async.EndpointNotFoundError` (404: no such endpoint),
        :class:`~krea_async.RateLimitError` (429, after retries), and
        :class:`~krea_async.UncertainSubmitError` when the job may have been
        created but no response came (never replayed).

        Cancelled while the POST is in flight (a web client that hung up, see
        :func:`krea_async.web.follow_client`), the request gets
        ``JobSettings.submit_grace`` seconds to answer and the job it created is
        cancelled (``DELETE /jobs/{id}``) as soon as its id is known: nobody else could
        learn that id.
        """
        return await self.jobs.waiter.submit(
            functools.partial(self._create, endpoint, input),
            webhook_url=webhook_url,
            endpoint=endpoint,
        )

    async def _create(self, endpoint: str, input: Any, webhook_url: str | None) -> Job:
        return await self._generations.create_cancellable(
            endpoint, input, webhook_url=webhook_url, cancel=self.jobs.waiter.cancel
        )

    async def _submit_model(
        self, category: str, model: str, input: Any, *, webhook_url: str | None
    ) -> Job:
        return await self.generate(f"{category}/{model}", input, webhook_url=webhook_url)
