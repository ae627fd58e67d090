"""``KREA_POLL_INTERVAL`` sets the poll interval of a client given none, and the
pytest plugin's ``krea_env`` sets it, so that an app's own ``AsyncKrea()`` polls the
fast fake quickly. Times are virtual: trio's ``MockClock`` drives both the client's
sleeps and the fake's job clock."""

from __future__ import annotations

import os

import pytest
import trio
import trio.testing

from krea_async import ConfigurationError, WebhookSettings
from krea_async.testing import FakeKrea
from krea_async.testing.pytest_plugin import FAST_POLL_INTERVAL

ENDPOINT = "image/bfl/flux-1-dev"
START = 1_785_542_400.0


def _wait_for_one_job() -> tuple[float, int]:
    """Virtual seconds from submit to the end of a 1 s job, and the polls it took,
    with a client that sets no poll interval."""

    async def main() -> tuple[float, int]:
        fake = FakeKrea(clock=lambda: START + trio.current_time())
        fake.script("completed", seconds=1.0)
        async with fake.client(webhooks=WebhookSettings(url="")) as krea:
            job = await krea.generate(ENDPOINT, {"prompt": "a fox"})
            begun = trio.current_time()
            polls = 0
            async with krea.jobs.stream(job.job_id) as states:
                async for _ in states:
                    polls += 1
            return trio.current_time() - begun, polls

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_the_environment_sets_the_default_poll_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KREA_POLL_INTERVAL", raising=False)
    assert _wait_for_one_job() == (2.0, 2)  # Krea's 2 s: polled at 0 s and 2 s
    monkeypatch.setenv("KREA_POLL_INTERVAL", "0.25")
    elapsed, polls = _wait_for_one_job()
    assert elapsed == pytest.approx(1.0, abs=0.25 + 1e-6)
    assert polls == pytest.approx(5, abs=1)


@pytest.mark.parametrize("value", ["fast", "-1", "nan", "inf"])
def test_a_bad_poll_interval_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("KREA_POLL_INTERVAL", value)
    with pytest.raises(ConfigurationError, match="KREA_POLL_INTERVAL must be a number"):
        _wait_for_one_job()


@pytest.mark.loopback
def test_krea_env_makes_the_apps_own_client_poll_fast(krea_env: str) -> None:
    assert os.environ["KREA_BASE_URL"] == krea_env
    assert os.environ["KREA_POLL_INTERVAL"] == str(FAST_POLL_INTERVAL)
    from krea_async._jobs.polling import default_poll_interval

    assert default_poll_interval("video") == FAST_POLL_INTERVAL
