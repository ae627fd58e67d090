"""``AsyncKrea``: the client.

Mirrors the Node SDK (``@krea-ai/sdk``; NOTES.md, "The Node SDK"):
``krea.image()``, ``krea.video()``, ``krea.enhance()``, ``krea.generate()``
(the Node SDK's ``generateRaw``), ``krea.subscribe()``, ``krea.jobs``,
``krea.assets``, ``krea.styles``, ``krea.node_apps`` and ``krea.models``.
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import attrs
import httpx

from . import files as _files
from ._errors import ConfigurationError
from ._generated.methods import GeneratedMethods
from ._http import DEFAULT_TIMEOUT, HttpCore, Secret, SharedState, check_base_url
from ._inputs_runtime import to_body
from ._models import Job, SubscribeResult
from ._polling import QueueUpdateCallback, cancel_quietly
from ._resources._base import parse, webhook_headers
from ._resources.assets import Assets
from ._resources.jobs import Jobs, _drain
from ._resources.models import Models
from ._resources.node_apps import NodeApps
from ._resources.styles import Styles
from ._retry import RetryPolicy

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_JOB_TIMEOUT", "AsyncKrea"]


DEFAULT_BASE_URL = "https://api.krea.ai"
"""Krea's API; no version prefix (NOTES.md, "Transport")."""

DEFAULT_JOB_TIMEOUT = 1800.0
"""Default deadline of a whole job, in seconds, for ``wait()``, ``stream()`` and
``subscribe()``: 30 minutes. Krea's slowest documented models take about 5
minutes and a job may first wait in the account's backlog; Krea itself times out
hosted jobs after 3 minutes and external providers after 2 hours. A finite
default means a stuck job cannot hang a web request or a batch forever; pass a
larger ``timeout`` (or ``math.inf``) for LoRA training."""

#: Poll intervals (seconds) of Krea's docs: 2 s for images, 5 s for video.
_DEFAULT_INTERVALS = {"image": 2.0, "enhance": 2.0, "video": 5.0}
_UNSET: Any = object()
_SEGMENT = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]+")


@attrs.frozen(kw_only=True)
class _PollingConfig:
    interval: float | None
    max_interval: float
    job_timeout: float
    cancel_timeout: float

    def interval_for(self, category: str | None) -> float:
        if self.interval is not None:
            return self.interval
        return _DEFAULT_INTERVALS.get(category or "image", 2.0)


def _split_endpoint(endpoint: str) -> tuple[str | None, str]:
    """``"image/bfl/flux-1-dev"`` or ``"/generate/image/bfl/flux-1-dev"`` -> (category, path)."""
    if not isinstance(endpoint, str) or not endpoint.strip("/ "):
        raise ValueError(
            f"endpoint must be a path such as 'image/bfl/flux-1-dev', got {endpoint!r}"
        )
    path = endpoint.strip().strip("/")
    if path.startswith("generate/"):
        path = path[len("generate/") :]
    segments = path.split("/")
    if len(segments) < 2 or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise ValueError(
            f"endpoint must be a path such as 'image/bfl/flux-1-dev' (segments of letters, "
            f"digits, '.', '_' and '-'), got {endpoint!r}"
        )
    category = segments[0]
    return (category if category in _DEFAULT_INTERVALS else None), "/generate/" + path


class AsyncKrea(GeneratedMethods):
    """An async client for the Krea API (asyncio and trio, through anyio and httpx).

    ::

        async with AsyncKrea() as krea:          # api_key from KREA_API_KEY
            result = await krea.subscribe("image/bfl/flux-1-dev",
                                          input={"prompt": "a red fox"})
            print(result.data.urls[0])

    Parameters:

    - ``api_key``: the bearer token; defaults to ``$KREA_API_KEY``. A missing key
      raises :class:`~krea_async.ConfigurationError` here, not a 401 later.
    - ``base_url``: defaults to ``$KREA_BASE_URL``, else ``https://api.krea.ai``.
      Plain ``http://`` is refused for non-loopback hosts unless
      ``allow_insecure_http=True`` (the key would travel in clear text).
    - ``timeout``: per-request HTTP timeouts in seconds, an ``httpx.Timeout`` or a
      float; default ``Timeout(connect=10, read=60, write=120, pool=30)``.
    - ``max_retries`` / ``retry``: the :class:`~krea_async.RetryPolicy` (default 3
      retries of idempotent requests, exponential backoff with full jitter; the
      submit POST is never replayed when it may have created a job).
    - ``poll_interval``: seconds between polls. Default: as Krea's docs poll, 2 s
      for image and enhance jobs and 5 s for video in ``subscribe()`` (which knows
      the endpoint), and 2 s in ``jobs.stream()``/``jobs.wait()`` (which do not;
      pass ``interval=5`` there for video). After 30 s the interval grows 1.5x per
      poll up to ``max_poll_interval`` seconds (default 15).
    - ``job_timeout``: the default deadline of a whole job in seconds
      (:data:`DEFAULT_JOB_TIMEOUT`, 1800).
    - ``cancel_timeout``: bound in seconds on the shielded ``DELETE /jobs/{id}``
      sent when a ``subscribe()`` is abandoned (default 5).
    - ``allow_insecure_http``: allow ``http://`` base URLs to non-loopback hosts
      (the key then travels in clear text); also lets downloads use ``http://``.
    - ``default_headers``: extra headers sent with every API request.
    - ``http_client``: your own ``httpx.AsyncClient`` (its transport, proxies,
      limits); you close it. ``transport``: an httpx transport for the client this
      one creates (``krea_async.testing`` uses it for the in-process fake).

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
        job_timeout: float = DEFAULT_JOB_TIMEOUT,
        cancel_timeout: float = 5.0,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_insecure_http: bool = False,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("KREA_API_KEY")
        if not key or not key.strip():
            raise ConfigurationError(
                "no Krea API key: pass AsyncKrea(api_key=...) or set KREA_API_KEY "
                "(tokens are made at krea.ai/settings/api-tokens). For offline use, "
                "see krea_async.testing.FakeKrea"
            )
        url = httpx.URL(base_url or os.environ.get("KREA_BASE_URL") or DEFAULT_BASE_URL)
        check_base_url(url, allow_insecure_http=allow_insecure_http)
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass either http_client or transport, not both")
        if job_timeout <= 0:
            raise ConfigurationError("job_timeout must be > 0 seconds (math.inf for none)")
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = attrs.evolve(policy, max_retries=max_retries)
        self._allow_insecure_http = allow_insecure_http
        owns = http_client is None
        client = http_client or httpx.AsyncClient(
            transport=transport,
            timeout=DEFAULT_TIMEOUT,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            follow_redirects=False,
        )
        self._state = SharedState(client, owns_client=owns)
        self._core = HttpCore(
            state=self._state,
            base_url=url,
            secret=Secret(key.strip()),
            timeout=_as_timeout(timeout),
            retry=policy,
            headers={"User-Agent": _user_agent(), **(default_headers or {})},
        )
        self._polling = _PollingConfig(
            interval=poll_interval,
            max_interval=max_poll_interval,
            job_timeout=job_timeout,
            cancel_timeout=cancel_timeout,
        )
        self._bind()

    def _bind(self) -> None:
        self.jobs = Jobs(self)
        self.assets = Assets(self)
        self.styles = Styles(self)
        self.node_apps = NodeApps(self)
        self.models = Models(self)

    # -- lifecycle -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API's base URL, e.g. ``https://api.krea.ai``."""
        return str(self._core.base_url)

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

    def __repr__(self) -> str:
        return f"AsyncKrea(base_url={self.base_url!r}, api_key='**********')"

    def with_options(
        self,
        *,
        timeout: httpx.Timeout | float | None = _UNSET,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        poll_interval: float | None = _UNSET,
        job_timeout: float | None = None,
        cancel_timeout: float | None = None,
    ) -> AsyncKrea:
        """A copy with other settings that shares this client's connection pool.

        Cheap (no new connections): ``krea.with_options(max_retries=0, timeout=5)``.
        Arguments mean what they mean for :class:`AsyncKrea`; those not given are
        kept. Closing either closes the shared pool.
        """
        clone = copy.copy(self)
        core = copy.copy(self._core)
        if timeout is not _UNSET:
            core.timeout = _as_timeout(timeout)
        policy = retry or core.retry
        if max_retries is not None:
            policy = attrs.evolve(policy, max_retries=max_retries)
        core.retry = policy
        clone._core = core
        changes: dict[str, Any] = {}
        if poll_interval is not _UNSET:
            changes["interval"] = poll_interval
        if job_timeout is not None:
            if job_timeout <= 0:
                raise ConfigurationError("job_timeout must be > 0 seconds")
            changes["job_timeout"] = job_timeout
        if cancel_timeout is not None:
            changes["cancel_timeout"] = cancel_timeout
        clone._polling = attrs.evolve(self._polling, **changes)
        clone._bind()
        return clone

    # -- generation ----------------------------------------------------------------

    async def generate(self, endpoint: str, input: Any, *, webhook_url: str | None = None) -> Job:
        """Submit a generation to any endpoint and answer the pending :class:`~krea_async.Job`.

        ``endpoint`` is ``"image/bfl/flux-1-dev"`` (or the full path
        ``"/generate/image/bfl/flux-1-dev"``), including endpoints newer than this
        SDK; ``input`` a dict (or a typed input from :mod:`krea_async.inputs`).
        Deprecated camelCase keys the spec lists for the endpoint are renamed with a
        :class:`DeprecationWarning`. ``webhook_url`` is sent as ``X-Webhook-URL``:
        Krea POSTs the job there once terminal (NOTES.md, "Webhooks").

        This is ``POST /generate/{category}/{provider}/{model}`` (the Node SDK's
        ``generateRaw``). Raises :class:`~krea_async.BadRequestError` (400),
        :class:`~krea_async.InsufficientCreditsError` (402),
        :class:`~krea_async.RateLimitError` (429, after retries), and
        :class:`~krea_async.UncertainSubmitError` when the job may have been
        created but no answer came (never replayed).
        """
        return await self._generate(endpoint, input, webhook_url=webhook_url)

    async def _generate(
        self, endpoint: str, input: Any, *, webhook_url: str | None, stop: anyio.Event | None = None
    ) -> Job:
        _, path = _split_endpoint(endpoint)
        body = to_body(path[len("/generate/") :], input)
        return await self._core.submit(
            path,
            lambda b, r: parse(b, r, Job),
            json_body=body,
            headers=webhook_headers(webhook_url),
            stop=stop,
        )

    async def _submit_outliving_cancellation(
        self, endpoint: str, input: Any, *, webhook_url: str | None
    ) -> Job:
        """Submit so that a cancellation arriving meanwhile can still cancel the new job.

        The POST runs in a child task that shields itself; the caller waits for it
        unshielded. If the caller is cancelled (an anyio scope, or a plain asyncio
        ``task.cancel()``), no further retry starts, the request in flight finishes
        (bounded by the HTTP timeouts), and a job it created is cancelled (shielded,
        bounded by ``cancel_timeout``) before the cancellation propagates.
        """
        created: list[Job] = []
        failed: list[Exception] = []
        done = anyio.Event()
        abandoned = anyio.Event()

        async def submit() -> None:
            with anyio.CancelScope(shield=True):
                try:
                    created.append(
                        await self._generate(
                            endpoint, input, webhook_url=webhook_url, stop=abandoned
                        )
                    )
                except Exception as exc:  # handed to the caller below
                    failed.append(exc)
                finally:
                    done.set()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(submit)
                try:
                    await done.wait()
                except BaseException:
                    abandoned.set()
                    raise
        except BaseException:
            if created:
                await cancel_quietly(
                    self.jobs.cancel, created[0].job_id, self._polling.cancel_timeout
                )
            raise
        if failed:
            raise failed[0]
        return created[0]

    async def _submit_model(
        self, category: str, model: str, input: Any, *, webhook_url: str | None
    ) -> Job:
        return await self.generate(f"{category}/{model}", input, webhook_url=webhook_url)

    async def _subscribe_endpoint(
        self,
        endpoint: str,
        *,
        input: Any,
        on_queue_update: QueueUpdateCallback | None,
        webhook_url: str | None,
        poll_interval: float | None,
        timeout: float | None,
        cancel_on_exit: bool,
    ) -> SubscribeResult:
        category, _ = _split_endpoint(endpoint)
        if cancel_on_exit:
            job = await self._submit_outliving_cancellation(
                endpoint, input, webhook_url=webhook_url
            )
        else:
            job = await self.generate(endpoint, input, webhook_url=webhook_url)
        stream = self.jobs._stream(
            job.job_id,
            interval=poll_interval,
            timeout=timeout,
            cancel_on_exit=cancel_on_exit,
            category=category,
            first=job,
        )
        final = await _drain(stream, on_queue_update)
        return SubscribeResult(
            data=final.result, job=final, request_id=final.job_id, downloader=self._download_all
        )

    # -- files ---------------------------------------------------------------------

    async def download(self, url: str, dest: str | os.PathLike[str]) -> Path:
        """Stream one result URL to ``dest`` (a file path or a directory), atomically.

        Uses this client's connection pool but never sends the API key. See
        :func:`krea_async.files.download` for redirects, checks and errors.
        """
        self._state.check_usable()
        return await _files.download(
            url,
            dest,
            http_client=self._state.http_client,
            allow_http=self._allow_insecure_http,
        )

    async def _download_all(
        self, urls: Sequence[str], dest: str | os.PathLike[str], stem: str | None
    ) -> list[Path]:
        self._state.check_usable()
        return await _files.download_all(
            urls,
            dest,
            http_client=self._state.http_client,
            allow_http=self._allow_insecure_http,
            stem=stem,
        )


def _as_timeout(timeout: httpx.Timeout | float | None) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is None:
        return httpx.Timeout(None)
    if not math.isfinite(timeout) or timeout <= 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return httpx.Timeout(timeout)


def _user_agent() -> str:
    from . import __version__

    return f"krea-async/{__version__} httpx/{httpx.__version__}"
