"""Shared fixtures: every async test runs under asyncio and trio (anyio's pytest plugin)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from _virtual_clock import VirtualClock

from krea_async.testing import no_backoff

_VIRTUAL = pytest.StashKey[VirtualClock]()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str | tuple[str, dict[str, Any]]:
    """Run each ``@pytest.mark.anyio`` test once per event loop; a test marked
    ``virtual_clock`` runs on virtual time (tests/_virtual_clock.py)."""
    backend = str(request.param)
    if request.node.get_closest_marker("virtual_clock") is None:
        return backend
    clock = request.node.stash[_VIRTUAL] = VirtualClock(backend)
    return backend, clock.options


@pytest.fixture
def virtual_clock(
    anyio_backend: str | tuple[str, dict[str, Any]], request: pytest.FixtureRequest
) -> VirtualClock:
    """The virtual time of a test marked ``virtual_clock``: pass it to the fake
    (``FakeKrea(clock=virtual_clock)``) and read it with ``virtual_clock.now()``."""
    if _VIRTUAL not in request.node.stash:
        raise pytest.UsageError("the virtual_clock fixture needs @pytest.mark.virtual_clock")
    return request.node.stash[_VIRTUAL]


@pytest.fixture(autouse=True)
def _no_webhook_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``KREA_WEBHOOK_URL`` in the developer's shell would make every client of the
    suite wait for webhooks nobody sends; tests that want one set it themselves."""
    monkeypatch.delenv("KREA_WEBHOOK_URL", raising=False)


@pytest.fixture
def no_backoff_waits() -> Iterator[None]:
    """Retry waits (backoff, ``Retry-After``) are zero; caps on attempts stay."""
    with no_backoff():
        yield


REAL_PARTS = ("browser", "redis")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under ``KREA_REQUIRE_REAL_PARTS=1`` (set by ``.ci/run``, which installs them), a
    browser or Redis test that would be skipped for a missing part fails instead: a
    green CI run must have driven the real Chromium and redis-server."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("KREA_REQUIRE_REAL_PARTS") == "1"
        and any(item.get_closest_marker(name) for name in REAL_PARTS)
    ):
        report.outcome = "failed"
        why = f"skipped, but KREA_REQUIRE_REAL_PARTS=1: {report.longrepr}"
        report.longrepr = f"{item.nodeid}: {why}"
