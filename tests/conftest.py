"""Shared fixtures: every async test runs under asyncio and trio (anyio's pytest plugin)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from krea_async.testing import no_backoff


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test once per event loop."""
    return str(request.param)


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
