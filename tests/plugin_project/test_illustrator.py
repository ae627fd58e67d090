"""Tests of the app, using only krea-async's pytest plugin fixtures and markers."""

from __future__ import annotations

import pytest
from illustrator import illustrate, illustrate_from_env, submit_with_httpx

from krea_async import AsyncKrea, InsufficientCreditsError, RetryPolicy
from krea_async.testing import FakeKrea, http_error

pytestmark = pytest.mark.anyio


async def test_illustrate_returns_the_image_url(
    krea_client: AsyncKrea, krea_fake: FakeKrea
) -> None:
    url = await illustrate(krea_client, "a red fox")
    assert url is not None
    assert url.endswith(".png")
    assert [e.prompt for e in krea_fake.ledger] == ["a red fox"]


@pytest.mark.krea_script("failed", prompt="cat", error="nsfw")
async def test_a_failed_job_gives_none(krea_client: AsyncKrea, krea_fake: FakeKrea) -> None:
    assert await illustrate(krea_client, "a cat") is None
    assert await illustrate(krea_client, "a dog") is not None
    assert [e.status for e in krea_fake.ledger] == ["failed", "completed"]


@pytest.mark.krea_fault("rate_limited", retry_after=30, on="submit", times=2)
async def test_rate_limits_are_retried_without_waiting(
    krea_client: AsyncKrea, krea_fake: FakeKrea
) -> None:
    assert await illustrate(krea_client, "a fox") is not None  # no 30 s waits
    assert len(krea_fake.ledger) == 1


@pytest.mark.krea_fault(http_error(503), on="poll", times=2)
async def test_a_fault_object_works_too(krea_client: AsyncKrea) -> None:
    assert await illustrate(krea_client, "a fox") is not None


@pytest.mark.krea_fake(balance=0)
async def test_no_credits(krea_client: AsyncKrea) -> None:
    with pytest.raises(InsufficientCreditsError):
        await illustrate(krea_client, "a fox")


@pytest.mark.parametrize("krea_fake", [{"balance": 0.0}], indirect=True)
async def test_indirect_options(krea_client: AsyncKrea, krea_fake: FakeKrea) -> None:
    assert krea_fake.balance == 0.0
    with pytest.raises(InsufficientCreditsError):
        await illustrate(krea_client, "a fox")


@pytest.mark.krea_client(retry=RetryPolicy(max_retries=0))
@pytest.mark.krea_fault("rate_limited", on="submit", times=1)
async def test_client_options(krea_client: AsyncKrea) -> None:
    from krea_async import RateLimitError

    with pytest.raises(RateLimitError):
        await illustrate(krea_client, "a fox")


@pytest.mark.krea_fake(time_scale=0)
async def test_an_app_that_reads_the_environment(krea_env: str) -> None:
    url = await illustrate_from_env("a fox")
    assert url is not None
    assert url.startswith(krea_env)


@pytest.mark.krea_fake(api_key="secret-token")
class TestOwnClient:
    def test_an_app_with_its_own_http_client(self, krea_fake_url: str, krea_fake: FakeKrea) -> None:
        assert krea_fake_url.startswith("http://127.0.0.1:")
        job_id = submit_with_httpx(krea_fake_url, "secret-token", "a fox")
        assert [e.job_id for e in krea_fake.ledger] == [job_id]

    def test_a_wrong_token_is_refused(self, krea_fake_url: str) -> None:
        import httpx

        with pytest.raises(httpx.HTTPStatusError) as info:
            submit_with_httpx(krea_fake_url, "wrong", "a fox")
        assert info.value.response.status_code == 401
