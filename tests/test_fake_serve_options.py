"""``python -m krea_async.testing serve`` options and the pytest plugin's markers
reach the same fake behaviour as the Python API: documented failures
(docs.krea.ai/developers/job-lifecycle), deprecation and sunset
(docs.krea.ai/developers/deprecations), rate limits, cursor spellings, the cancel
answer, webhooks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from krea_async.testing import FakeKrea, ManualClock
from krea_async.testing.__main__ import configure, main
from tests._served import served_fake

FLUX = "/generate/image/bfl/flux-1-dev"
AUTH = {"Authorization": "Bearer any"}

SERVE_OPTIONS = (
    "--host",
    "--port",
    "--time-scale",
    "--api-key",
    "--concurrency",
    "--max-backlog",
    "--balance",
    "--lifecycle",
    "--fail-share",
    "--fail-prompt",
    "--fail-cause",
    "--time-outs",
    "--cancel-refused",
    "--deprecate",
    "--sunset",
    "--rate-limit",
    "--rate-limit-retry-after",
    "--cursor-key",
    "--webhooks",
    "--webhook-workers",
    "--webhook-duplicates",
    "--webhook-delay",
    "--webhook-reorder",
    "--webhook-loss",
    "--webhook-timeout",
    "--seed",
)


def test_help_lists_every_option_and_the_docs_do_too() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    docs = (Path(__file__).parents[1] / "docs" / "content" / "testing.md").read_text()
    for option in SERVE_OPTIONS:
        assert option in result.output, option
        assert f"`{option}" in docs, f"docs/content/testing.md does not list {option}"


def test_configure_applies_failures_lifecycle_and_rates() -> None:
    fake = FakeKrea(clock=ManualClock())
    configure(
        fake,
        fail_share=0.25,
        fail_prompt=("^cat", "dog$"),
        fail_cause="nsfw",
        deprecate=("image/bfl/flux-1-dev:2027-01-31:image/krea/krea-2/medium",),
        sunset=("video/kling/kling-1",),
        rate_limit=("status=4", "submit=2"),
        retry_after=False,
    )
    rules = fake._state.failures
    assert [(r.cause, r.share, r.prompt.pattern if r.prompt else None) for r in rules] == [
        ("nsfw", None, "^cat"),
        ("nsfw", None, "dog$"),
        ("nsfw", 0.25, None),
    ]
    by_model = {d.model: d for d in fake.deprecations}
    assert str(by_model["image/bfl/flux-1-dev"].sunset) == "2027-01-31"
    assert by_model["image/bfl/flux-1-dev"].replacement == "image/krea/krea-2/medium"
    assert by_model["video/kling/kling-1"].is_gone(fake.clock())
    limits = fake._limiter.limits
    assert [(lim.on, lim.per_second, lim.retry_after) for lim in limits] == [
        ("status", 4, False),
        ("submit", 2, False),
    ]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("rate_limit", ("polls=3",)),
        ("rate_limit", ("status=0",)),
        ("fail_prompt", ("(unclosed",)),
        ("deprecate", ("image/bfl/flux-1-dev:someday",)),
        ("sunset", ("not-a-model",)),
    ],
)
def test_configure_refuses_malformed_values(option: str, value: tuple[str, ...]) -> None:
    with pytest.raises(click.BadParameter):
        configure(FakeKrea(), **{option: value})  # type: ignore[arg-type]


def _wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_the_served_fake_fails_sunsets_limits_and_spells_cursors() -> None:
    options = (
        *("--time-scale", "0.001", "--fail-prompt", "^cat", "--fail-cause", "ip_detected"),
        *("--sunset", "video/kling/kling-1:video/kling/kling-2.1"),
        *("--deprecate", "image/bfl/flux-1-dev:2099-01-01"),
        *("--rate-limit", "submit=100", "--cursor-key", "both", "--cancel-refused", "409"),
    )
    with served_fake(*options) as base, httpx.Client(base_url=base, headers=AUTH) as c:
        job = c.post(FLUX, json={"prompt": "cat"})
        assert job.headers["deprecation"] == "true"
        job_id = job.json()["job_id"]
        _wait_for(lambda: c.get(f"/jobs/{job_id}").json()["status"] == "failed")
        failed = c.get(f"/jobs/{job_id}").json()
        assert failed["error"]["code"] == "ip_detected"
        refused = c.delete(f"/jobs/{job_id}")
        assert refused.status_code == 409
        gone = c.post("/generate/video/kling/kling-1", json={"prompt": "x"})
        assert gone.status_code == 410
        assert gone.json()["replacement"] == "video/kling/kling-2.1"
        page = c.get("/jobs").json()
        assert "nextCursor" in page
        assert "next_cursor" in page
        spec = httpx.get(base + "/openapi.json").json()
        assert spec["paths"][FLUX]["post"]["deprecated"] is True


# -- the pytest plugin's markers --------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.krea_fake(clock=ManualClock(), time_scale=1.0)
@pytest.mark.krea_fail("invalid_parameters", prompt="^bad")
@pytest.mark.krea_deprecate("image/bfl/flux-1-dev", "2099-01-01")
@pytest.mark.krea_sunset("video/kling/kling-1")
@pytest.mark.krea_rate_limit(2, on="submit", retry_after=False)
async def test_markers_configure_the_fake(anyio_backend: str, krea_fake: FakeKrea) -> None:
    clock = krea_fake.clock
    assert isinstance(clock, ManualClock)
    async with httpx.AsyncClient(
        transport=krea_fake.transport(), base_url="http://f", headers=AUTH
    ) as c:
        bad = await c.post(FLUX, json={"prompt": "bad input"})
        assert bad.headers["deprecation"] == "true"
        gone = await c.post("/generate/video/kling/kling-1", json={"prompt": "x"})
        assert gone.status_code == 410
        limited = await c.post(FLUX, json={"prompt": "third submit in a second"})
        assert limited.status_code == 429
        assert "retry-after" not in limited.headers
        clock.advance(10)
        job = (await c.get(f"/jobs/{bad.json()['job_id']}")).json()
    assert job["error"]["code"] == "invalid_parameters"
