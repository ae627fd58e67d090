"""What :class:`~krea_async.AsyncKrea`'s constructor assembles before it binds the
resources: the checked settings of one client configuration (:class:`ClientSettings`)
and the connection pool every ``with_options()`` copy shares, both made by
:func:`configure`; and the constructor arguments of a ``with_options()`` copy
(:func:`copy_arguments`). The parameters mean what :class:`~krea_async.AsyncKrea`
documents.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TypedDict

import attrs
import httpx

from .._errors import ConfigurationError
from .._http._transports.choice import HttpTransportChoice, make_transport
from .._http.credentials import Secret, check_api_key
from .._http.retry import RetryPolicy
from .._http.transport import DEFAULT_TIMEOUT, SharedState
from .._http.urls import DEFAULT_BASE_URL, check_base_url
from .._jobs.poller import POLLING_MODES, PollingMode
from .._jobs.polling import CancelFailedCallback, PollingSettings
from .._types import NotGiven, given
from .._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "ClientSettings",
    "CopyArguments",
    "configure",
    "copy_arguments",
]


"""Krea's API; no version prefix (https://docs.krea.ai)."""


@attrs.frozen(kw_only=True)
class ClientSettings:
    """Every setting of one client configuration (what ``with_options`` can change)."""

    api_key: Secret
    base_url: httpx.URL
    timeout: httpx.Timeout
    retry: RetryPolicy
    headers: Mapping[str, str]
    polling: PollingSettings
    allow_insecure_http: bool


class CopyArguments(TypedDict):
    """The settings arguments :func:`copy_arguments` gives a ``with_options()`` copy."""

    api_key: str
    base_url: str
    timeout: httpx.Timeout | float | None
    retry: RetryPolicy
    poll_interval: float | None
    max_poll_interval: float
    default_deadline: float
    cancel_timeout: float
    allow_insecure_http: bool
    default_headers: Mapping[str, str]
    on_cancel_failed: CancelFailedCallback | None
    polling: PollingMode


def configure(
    *,
    api_key: str | None,
    base_url: str | None,
    timeout: httpx.Timeout | float | None,
    max_retries: int | None,
    retry: RetryPolicy | None,
    poll_interval: float | None,
    max_poll_interval: float,
    default_deadline: float,
    cancel_timeout: float,
    http_client: httpx.AsyncClient | None,
    transport: httpx.AsyncBaseTransport | None,
    allow_insecure_http: bool,
    default_headers: Mapping[str, str] | None,
    max_connections: int,
    polling: PollingMode,
    http_transport: HttpTransportChoice,
    on_cancel_failed: CancelFailedCallback | None,
    shared: SharedState | None,
) -> tuple[ClientSettings, SharedState]:
    """The checked settings, and ``shared`` or else a new pool (an ``httpx.AsyncClient``
    this client owns unless ``http_client`` is given). Raises
    :class:`~krea_async.ConfigurationError` for a missing or malformed key, a refused
    base URL or any out-of-range setting."""
    key = api_key if api_key is not None else os.environ.get("KREA_API_KEY")
    if not key or not key.strip():
        raise ConfigurationError(
            "no Krea API key: pass AsyncKrea(api_key=...) or set KREA_API_KEY "
            "(tokens are made at krea.ai/settings/api-tokens). For offline use, "
            "see krea_async.testing.FakeKrea"
        )
    key = check_api_key(key)
    url = httpx.URL(base_url or os.environ.get("KREA_BASE_URL") or DEFAULT_BASE_URL)
    check_base_url(url, allow_insecure_http=allow_insecure_http)
    if http_client is not None and transport is not None:
        raise ConfigurationError("pass either http_client or transport, not both")
    if not default_deadline > 0:
        raise ConfigurationError("default_deadline must be > 0 seconds (math.inf for none)")
    if (poll_interval is not None and poll_interval < 0) or max_poll_interval < 0:
        raise ConfigurationError("poll intervals must be >= 0 seconds")
    if cancel_timeout < 0:
        raise ConfigurationError("cancel_timeout must be >= 0 seconds")
    if isinstance(max_connections, bool) or not (
        isinstance(max_connections, int) and max_connections >= 1
    ):
        raise ConfigurationError(f"max_connections must be >= 1, got {max_connections!r}")
    if polling not in POLLING_MODES:
        raise ConfigurationError(f"polling must be one of {POLLING_MODES}, got {polling!r}")
    policy = retry or RetryPolicy()
    if max_retries is not None:
        policy = attrs.evolve(policy, max_retries=max_retries)
    settings = ClientSettings(
        api_key=Secret(key),
        base_url=url,
        timeout=_as_timeout(timeout),
        retry=policy,
        headers={"User-Agent": _user_agent(), **(default_headers or {})},
        polling=PollingSettings(
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            default_deadline=default_deadline,
            cancel_timeout=cancel_timeout,
            transient_statuses=policy.retry_statuses,
            on_cancel_failed=on_cancel_failed,
            mode=polling,
        ),
        allow_insecure_http=allow_insecure_http,
    )
    if shared is None:
        owns = http_client is None
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        if transport is None and http_client is None:
            transport = make_transport(http_transport, limits)
        client = http_client or httpx.AsyncClient(
            transport=transport,
            timeout=DEFAULT_TIMEOUT,
            limits=limits,
            follow_redirects=False,
        )
        shared = SharedState(client, owns_client=owns, max_connections=max_connections)
    return settings, shared


def copy_arguments(
    cur: ClientSettings,
    *,
    api_key: str | NotGiven,
    base_url: str | NotGiven,
    timeout: httpx.Timeout | float | NotGiven | None,
    max_retries: int | NotGiven,
    retry: RetryPolicy | NotGiven,
    poll_interval: float | NotGiven | None,
    max_poll_interval: float | NotGiven,
    default_deadline: float | NotGiven,
    cancel_timeout: float | NotGiven,
    allow_insecure_http: bool | NotGiven,
    default_headers: Mapping[str, str] | NotGiven,
) -> CopyArguments:
    """The settings arguments of :class:`~krea_async.AsyncKrea` for a ``with_options()``
    copy of a client configured with ``cur``: each argument given, else ``cur``'s value
    (``default_headers`` merged over ``cur``'s headers, its ``User-Agent`` dropped: the
    copy sets its own)."""
    policy = given(retry, cur.retry)
    if not isinstance(max_retries, NotGiven):
        policy = attrs.evolve(policy, max_retries=max_retries)
    headers = {k: v for k, v in cur.headers.items() if k != "User-Agent"}
    headers.update(given(default_headers, {}))
    return {
        "api_key": given(api_key, cur.api_key.reveal()),
        "base_url": given(base_url, str(cur.base_url)),
        "timeout": given(timeout, cur.timeout),
        "retry": policy,
        "poll_interval": given(poll_interval, cur.polling.poll_interval),
        "max_poll_interval": given(max_poll_interval, cur.polling.max_poll_interval),
        "default_deadline": given(default_deadline, cur.polling.default_deadline),
        "cancel_timeout": given(cancel_timeout, cur.polling.cancel_timeout),
        "allow_insecure_http": given(allow_insecure_http, cur.allow_insecure_http),
        "default_headers": headers,
        "on_cancel_failed": cur.polling.on_cancel_failed,
        "polling": cur.polling.mode,
    }


def _as_timeout(timeout: httpx.Timeout | float | None) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is None:
        return httpx.Timeout(None)
    if not math.isfinite(timeout) or timeout <= 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return httpx.Timeout(timeout)


def _user_agent() -> str:
    return f"krea-async/{__version__} httpx/{httpx.__version__}"
