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
from typing import TypedDict, TypeVar

import attrs
import httpx

from .._errors import ConfigurationError
from .._http._transports.choice import default_transport
from .._http.credentials import Secret, check_api_key
from .._http.retry import RetryPolicy
from .._http.transport import DEFAULT_TIMEOUT, SharedState
from .._http.urls import DEFAULT_BASE_URL, check_base_url
from .._jobs.polling import PollingSettings
from .._types import NotGiven, given
from .._version import __version__
from .options import JobSettings, Limits

__all__ = [
    "DEFAULT_BASE_URL",
    "ClientSettings",
    "CopyArguments",
    "configure",
    "copy_arguments",
]


T = TypeVar("T")


@attrs.frozen(kw_only=True)
class ClientSettings:
    """Every setting of one client configuration (what ``with_options`` can change):
    the checked values, and ``jobs`` as given (a copy starts from it)."""

    api_key: Secret
    base_url: httpx.URL
    timeout: httpx.Timeout
    retry: RetryPolicy
    headers: Mapping[str, str]
    jobs: JobSettings
    polling: PollingSettings
    allow_insecure_http: bool


class CopyArguments(TypedDict):
    """The settings arguments :func:`copy_arguments` gives a ``with_options()`` copy."""

    api_key: str
    base_url: str
    timeout: httpx.Timeout | float | None
    retry: RetryPolicy
    jobs: JobSettings
    allow_insecure_http: bool
    default_headers: Mapping[str, str]


def configure(
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
) -> tuple[ClientSettings, SharedState]:
    """The checked settings, and ``shared`` or else a new pool (an ``httpx.AsyncClient``
    this client owns unless ``http_client`` is given). Raises
    :class:`~krea_async.ConfigurationError` for a missing or malformed key, a refused
    base URL or a settings argument of the wrong type."""
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
    policy = _of_type("retry", retry, RetryPolicy)
    jobs = _of_type("jobs", jobs, JobSettings)
    limits = _of_type("limits", limits, Limits)
    if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
        raise ConfigurationError(
            f"http_client must be an httpx.AsyncClient, got {type(http_client).__name__}"
        )
    settings = ClientSettings(
        api_key=Secret(key),
        base_url=url,
        timeout=_as_timeout(timeout),
        retry=policy,
        headers={"User-Agent": _user_agent(), **(default_headers or {})},
        jobs=jobs,
        polling=PollingSettings(
            poll_interval=jobs.poll_interval,
            max_poll_interval=jobs.max_poll_interval,
            default_deadline=jobs.deadline,
            cancel_deadline=jobs.cancel_deadline,
            submit_grace=jobs.submit_grace,
            transient_statuses=policy.retry_statuses,
            on_cancel_failed=jobs.on_cancel_failed,
            mode=jobs.polling,
        ),
        allow_insecure_http=allow_insecure_http,
    )
    if shared is None:
        owns = http_client is None
        client = http_client or httpx.AsyncClient(
            transport=default_transport(limits.to_httpx()),
            timeout=DEFAULT_TIMEOUT,
            limits=limits.to_httpx(),
            follow_redirects=False,
        )
        shared = SharedState(client, owns_client=owns, max_connections=limits.max_connections)
    return settings, shared


def copy_arguments(
    cur: ClientSettings,
    *,
    api_key: str | NotGiven,
    base_url: str | NotGiven,
    timeout: httpx.Timeout | float | NotGiven | None,
    retry: RetryPolicy | NotGiven,
    jobs: JobSettings | NotGiven,
    allow_insecure_http: bool | NotGiven,
    default_headers: Mapping[str, str] | NotGiven,
) -> CopyArguments:
    """The settings arguments of :class:`~krea_async.AsyncKrea` for a ``with_options()``
    copy of a client configured with ``cur``: each argument given, else ``cur``'s value
    (``default_headers`` merged over ``cur``'s headers, its ``User-Agent`` dropped: the
    copy sets its own; a settings object given replaces ``cur``'s whole)."""
    headers = {k: v for k, v in cur.headers.items() if k != "User-Agent"}
    headers.update(given(default_headers, {}))
    return {
        "api_key": given(api_key, cur.api_key.reveal()),
        "base_url": given(base_url, str(cur.base_url)),
        "timeout": given(timeout, cur.timeout),
        "retry": given(retry, cur.retry),
        "jobs": given(jobs, cur.jobs),
        "allow_insecure_http": given(allow_insecure_http, cur.allow_insecure_http),
        "default_headers": headers,
    }


def _of_type(name: str, value: T | None, kind: type[T]) -> T:
    """``value``, or ``kind()`` for ``None``; :class:`~krea_async.ConfigurationError` for
    anything that is not a ``kind`` (a dict of fields, say)."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise ConfigurationError(
            f"{name} must be a krea_async.{kind.__name__}, got {type(value).__name__}"
        )
    return value


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
