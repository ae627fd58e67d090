"""Shared fixtures: every async test runs under asyncio and trio (anyio's pytest plugin)."""

from __future__ import annotations

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
