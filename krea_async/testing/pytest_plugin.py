"""pytest fixtures that test your app against the Krea-compatible fake.

Installed with the ``fake`` extra (``pip install 'krea-async[fake]'``), the plugin
loads by itself (a ``pytest11`` entry point) and gives every test:

- ``krea_fake``: a fresh :class:`~krea_async.testing.FakeKrea` per test
  (``time_scale=0.05``: a Flux image takes 0.35 s; a ``krea_fake`` marker or an
  indirect parameter changes its options).
- ``krea_client``: an :class:`~krea_async.AsyncKrea` bound in-process to
  ``krea_fake`` (no socket), polling every 0.05 s
  (``jobs=JobSettings(poll_interval=0.05)``; no webhooks, whatever
  ``KREA_WEBHOOK_URL`` says: ``webhooks=WebhookSettings(url="")``), with retry waits off
  (:func:`~krea_async.testing.no_backoff`) while it is open; an async fixture,
  so the test runs under anyio's pytest plugin (``@pytest.mark.anyio``, asyncio
  or trio through the ``anyio_backend`` fixture).
- ``krea_fake_url``: ``krea_fake`` served by uvicorn on ``127.0.0.1`` (a
  random port) for apps that build their own client:
  ``"http://127.0.0.1:54321"``.
- ``krea_env``: ``KREA_BASE_URL`` set to ``krea_fake_url``, ``KREA_API_KEY``
  to the fake's key (``"fake-key"`` unless ``api_key`` was set),
  ``KREA_POLL_INTERVAL`` to 0.05 (the app's own clients poll the fast fake
  every 0.05 s, not every 2 s) and ``KREA_WEBHOOK_URL`` unset, for apps that
  read the environment; yields the URL.

Markers script what the fake does::

    @pytest.mark.krea_fake(balance=0.05)                        # FakeKrea(**options)
    @pytest.mark.krea_client(retry=RetryPolicy(max_retries=0))  # AsyncKrea(**options)
    @pytest.mark.krea_script("failed", prompt="cat", error="nsfw")   # fake.script(...)
    @pytest.mark.krea_fault("rate_limited", retry_after=1, on="submit", times=1)
    @pytest.mark.krea_fault("http_error", 503, on="poll", times=2)
    @pytest.mark.krea_fail("nsfw", prompt="^cat")                 # fake.fail_jobs(...)
    @pytest.mark.krea_fail("timeout", share=0.5)                  # hangs, then Krea's time-out
    @pytest.mark.krea_deprecate("image/bfl/flux-1-dev", "2027-01-31")  # fake.deprecate(...)
    @pytest.mark.krea_sunset("image/bfl/flux-1-dev")              # fake.sunset(...): 410
    @pytest.mark.krea_rate_limit(4, on="status", retry_after=False)   # fake.rate_limit(...)

``krea_fault`` takes a :class:`~krea_async.testing.Fault` or the name of a fault
factory of :mod:`krea_async.testing` (``http_error``, ``rate_limited``,
``drop_before``, ``drop_after``, ``slow``, ``malformed``,
``refuse_connection``) with its arguments; ``on``, ``method``, ``path``,
``rate`` and ``times`` go to :meth:`~krea_async.testing.FakeKrea.inject`.
``@pytest.mark.parametrize("krea_fake", [{"balance": 0}], indirect=True)`` also
sets the fake's options. Markers on a class or module apply to all its tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from krea_async import AsyncKrea, JobSettings, WebhookSettings
from krea_async.testing import (
    FakeKrea,
    Fault,
    drop_after,
    drop_before,
    http_error,
    malformed,
    no_backoff,
    rate_limited,
    refuse_connection,
    slow,
)

__all__ = ["krea_client", "krea_env", "krea_fake", "krea_fake_url"]

#: Options of ``krea_fake`` when nothing sets them.
FAKE_DEFAULTS: dict[str, Any] = {"time_scale": 0.05}
#: Options of ``krea_client`` when nothing sets them (seconds between polls).
FAST_POLL_INTERVAL = 0.05
"""Seconds between polls of the fast fake: ``krea_client``'s and ``krea_env``'s."""

CLIENT_DEFAULTS: dict[str, Any] = {
    "jobs": JobSettings(poll_interval=FAST_POLL_INTERVAL),
    "webhooks": WebhookSettings(url=""),
}

_FACTORIES: dict[str, Callable[..., Fault]] = {
    "http_error": http_error,
    "rate_limited": rate_limited,
    "drop_before": drop_before,
    "drop_after": drop_after,
    "slow": slow,
    "malformed": malformed,
    "refuse_connection": refuse_connection,
}
_INJECT_KEYS = ("on", "method", "path", "rate", "times")


def _marker_options(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    # Farthest first (module, class, function): the closest marker wins.
    for marker in reversed(list(request.node.iter_markers(name))):
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{name} takes keyword arguments only")
        options.update(marker.kwargs)
    return options


def _fault_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Fault:
    if not args:
        raise pytest.UsageError("@pytest.mark.krea_fault needs a fault or a fault name")
    fault, *rest = args
    if isinstance(fault, Fault):
        if rest or kwargs:
            raise pytest.UsageError(f"krea_fault: unexpected arguments {rest} {kwargs}")
        return fault
    factory = _FACTORIES.get(fault) if isinstance(fault, str) else None
    if factory is None:
        raise pytest.UsageError(
            f"krea_fault: {fault!r} is not a Fault nor one of {sorted(_FACTORIES)}"
        )
    return factory(*rest, **kwargs)


@pytest.fixture
def krea_fake(request: pytest.FixtureRequest) -> Iterator[FakeKrea]:
    """A fresh :class:`~krea_async.testing.FakeKrea` for this test, with the
    ``krea_fake`` marker's options (or an indirect parameter's dict), the
    ``krea_script`` rules, the ``krea_fault`` faults, the ``krea_fail`` failure
    rules, the ``krea_deprecate``/``krea_sunset`` models and the
    ``krea_rate_limit`` limits applied."""
    options = {**FAKE_DEFAULTS, **_marker_options(request, "krea_fake")}
    param = getattr(request, "param", None)
    if param is not None:
        if not isinstance(param, dict):
            raise pytest.UsageError("an indirect krea_fake parameter must be a dict of options")
        options.update(param)
    fake = FakeKrea(**options)
    for marker in request.node.iter_markers("krea_script"):
        fake.script(*marker.args, **marker.kwargs)
    for marker in request.node.iter_markers("krea_fault"):
        inject = {k: marker.kwargs[k] for k in _INJECT_KEYS if k in marker.kwargs}
        factory_kwargs = {k: v for k, v in marker.kwargs.items() if k not in _INJECT_KEYS}
        fake.inject(_fault_of(marker.args, factory_kwargs), **inject)
    for marker in request.node.iter_markers("krea_fail"):
        fake.fail_jobs(*marker.args, **marker.kwargs)
    for marker in request.node.iter_markers("krea_deprecate"):
        fake.deprecate(*marker.args, **marker.kwargs)
    for marker in request.node.iter_markers("krea_sunset"):
        fake.sunset(*marker.args, **marker.kwargs)
    for marker in request.node.iter_markers("krea_rate_limit"):
        fake.rate_limit(*marker.args, **marker.kwargs)
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
async def krea_client(
    krea_fake: FakeKrea, request: pytest.FixtureRequest
) -> AsyncIterator[AsyncKrea]:
    """An :class:`~krea_async.AsyncKrea` bound in-process to ``krea_fake``; closed
    after the test. Options: ``@pytest.mark.krea_client(...)`` (default
    ``jobs=JobSettings(poll_interval=0.05)``, replaced whole by a ``jobs=`` given
    there); retry waits are off unless ``backoff=True``."""
    options = {**CLIENT_DEFAULTS, **_marker_options(request, "krea_client")}
    backoff = bool(options.pop("backoff", False))
    with contextlib.nullcontext() if backoff else no_backoff():
        async with krea_fake.client(**options) as krea:
            yield krea


@pytest.fixture
def krea_fake_url(krea_fake: FakeKrea) -> Iterator[str]:
    """``krea_fake`` served on a real socket (uvicorn, ``127.0.0.1``, a free port);
    yields its base URL, e.g. ``"http://127.0.0.1:54321"``. Any token is accepted
    unless the fake was given an ``api_key``."""
    with krea_fake.serve_in_thread() as url:
        yield url


@pytest.fixture
def krea_env(krea_fake: FakeKrea, krea_fake_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``KREA_BASE_URL`` and ``KREA_API_KEY`` pointing at the served fake for this
    test, ``KREA_POLL_INTERVAL`` at :data:`FAST_POLL_INTERVAL` (a client given
    no ``poll_interval`` polls that often instead of Krea's 2 s), and no
    ``KREA_WEBHOOK_URL`` (nothing would deliver there); restored after; returns
    the base URL."""
    monkeypatch.delenv("KREA_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("KREA_POLL_INTERVAL", str(FAST_POLL_INTERVAL))
    monkeypatch.setenv("KREA_BASE_URL", krea_fake_url)
    monkeypatch.setenv("KREA_API_KEY", krea_fake.api_key or "fake-key")
    return krea_fake_url
