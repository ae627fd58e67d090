"""Issue 7 / issue 10 §4: renamed arguments (old spellings still work, with a
DeprecationWarning), ``with_options`` through the constructor, typed not-found
errors, readable ``Job`` text, integer asset sizes. All through the public API,
against the fake."""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Iterator

import httpx
import pytest

import krea_async
from krea_async import (
    DEFAULT_DEADLINE,
    NOT_GIVEN,
    AsyncKrea,
    EndpointNotFoundError,
    Job,
    JobStatus,
    JobTimeoutError,
    KreaError,
    ModelNotFoundError,
    NotFoundError,
    parse_job,
)
from krea_async.testing import FakeKrea, png

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff_waits")]


@pytest.fixture
def fake() -> Iterator[FakeKrea]:
    with FakeKrea(time_scale=0.02) as fake:
        yield fake


# ------------------------------------------------------------------ deprecations


async def test_jobs_wait_old_names_warn_and_still_work(fake: FakeKrea) -> None:
    seen: list[Job] = []
    async with fake.client() as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "old names"})
        with pytest.warns(DeprecationWarning, match="is deprecated") as record:
            done = await krea.jobs.wait(
                job.job_id, interval=0.005, timeout=30, on_update=seen.append
            )
    assert done.status is JobStatus.COMPLETED
    assert seen
    assert seen[-1] == done
    messages = " ".join(str(w.message) for w in record)
    for old, new in (("interval", "poll_interval"), ("timeout", "deadline")):
        assert f"{old}=" in messages
        assert f"{new}=" in messages
    assert "on_update=" in messages
    assert "on_queue_update=" in messages
    assert all(w.filename == __file__ for w in record)  # points at the caller


async def test_new_names_do_not_warn(fake: FakeKrea) -> None:
    seen: list[Job] = []
    async with fake.client() as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "new names"})
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            done = await krea.jobs.wait(
                job.job_id, poll_interval=0.005, deadline=30, on_queue_update=seen.append
            )
            result = await krea.subscribe(
                "image/bfl/flux-1-dev", input={"prompt": "x"}, poll_interval=0.005, deadline=30
            )
    assert done.status is JobStatus.COMPLETED
    assert seen
    assert result.request_id == result.job.job_id


async def test_stream_old_names_warn(fake: FakeKrea) -> None:
    async with fake.client() as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "stream"})
        with pytest.warns(DeprecationWarning, match="jobs.stream\\(interval="):
            stream = krea.jobs.stream(job.job_id, interval=0.005)
        states = [s async for s in stream]
    assert states[-1].status is JobStatus.COMPLETED


async def test_old_and_new_name_together_is_a_type_error(fake: FakeKrea) -> None:
    async with fake.client() as krea:
        with (
            pytest.warns(DeprecationWarning, match="timeout"),
            pytest.raises(TypeError, match="deadline"),
        ):
            krea.jobs.stream("job", deadline=1, timeout=1)


async def test_subscribe_timeout_is_the_deprecated_deadline(fake: FakeKrea) -> None:
    fake.script("completed", seconds=3600)
    async with fake.client(poll_interval=0.005) as krea:
        with (
            pytest.warns(DeprecationWarning, match="subscribe\\(timeout="),
            pytest.raises(JobTimeoutError) as info,
        ):
            await krea.subscribe("image/bfl/flux-1-dev", input={"prompt": "x"}, timeout=0.2)
    assert info.value.deadline == 0.2


def test_client_job_timeout_is_the_deprecated_default_deadline() -> None:
    with pytest.warns(DeprecationWarning, match="job_timeout"):
        krea = AsyncKrea("k", base_url="http://127.0.0.1:9", job_timeout=12.0)
    with pytest.warns(DeprecationWarning, match="job_timeout"):
        krea.with_options(job_timeout=3.0)
    with pytest.warns(DeprecationWarning, match="DEFAULT_DEADLINE"):
        old = krea_async.DEFAULT_JOB_TIMEOUT
    assert old == DEFAULT_DEADLINE == 1800.0


# ------------------------------------------------------------------ with_options


async def test_with_options_changes_every_setting_and_keeps_the_pool(fake: FakeKrea) -> None:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    fake.script("completed", seconds=3600)
    async with httpx.AsyncClient(
        transport=fake.transport(), event_hooks={"request": [record]}
    ) as http:
        krea = AsyncKrea(
            "fake-key", base_url="http://fake.krea.test", http_client=http, allow_insecure_http=True
        )
        copy = krea.with_options(
            base_url="http://other.krea.test",
            default_headers={"X-Trace": "1"},
            timeout=7.0,
            poll_interval=0.005,
            default_deadline=0.2,
            cancel_timeout=1.0,
            max_retries=0,
        )
        assert copy.base_url == "http://other.krea.test"
        assert krea.base_url == "http://fake.krea.test"
        with pytest.raises(JobTimeoutError) as info:
            await copy.subscribe("image/bfl/flux-1-dev", input={"prompt": "slow"})
        assert info.value.deadline == 0.2
        assert info.value.cancelled_remote
        assert sent[0].url.host == "other.krea.test"
        assert sent[0].headers["X-Trace"] == "1"
        assert sent[0].extensions["timeout"]["read"] == 7.0
        assert all(r.headers.get("User-Agent", "").startswith("krea-async/") for r in sent)
        before = len(sent)
        await krea.jobs.get(info.value.job_id)
        assert sent[before].url.host == "fake.krea.test"
        assert "X-Trace" not in sent[before].headers
        # None for timeout means "no HTTP timeout", distinct from NOT_GIVEN.
        untimed = krea.with_options(timeout=None, default_headers=NOT_GIVEN)
        await untimed.jobs.get(info.value.job_id)
        assert sent[-1].extensions["timeout"]["read"] is None


async def test_closing_a_copy_closes_the_shared_pool(fake: FakeKrea) -> None:
    krea = fake.client()
    copy = krea.with_options(poll_interval=0.01)
    await copy.aclose()
    assert krea.is_closed
    assert copy.is_closed
    krea2 = fake.client()
    copy2 = krea2.with_options()
    await krea2.aclose()
    assert copy2.is_closed


# ------------------------------------------------------------------ errors and models


async def test_models_are_async_and_unknown_model_is_typed(fake: FakeKrea) -> None:
    async with fake.client() as krea:
        info = await krea.models.get("bfl/flux-1-dev")
        assert info.endpoint == "image/bfl/flux-1-dev"
        assert len(await krea.models.list("video")) > 0
        with pytest.raises(ModelNotFoundError) as err:
            await krea.models.get("acme/nope")
    assert isinstance(err.value, KreaError)
    assert isinstance(err.value, KeyError)
    assert err.value.model == "acme/nope"
    assert str(err.value) == "unknown model 'acme/nope'; see krea.models.list()"


async def test_unknown_endpoint_404_hint_is_about_endpoints(fake: FakeKrea) -> None:
    async with fake.client() as krea:
        with pytest.raises(EndpointNotFoundError) as err:
            await krea.generate("image/acme/nope", {"prompt": "x"})
    assert isinstance(err.value, NotFoundError)
    text = str(err.value)
    assert "krea.models.list()" in text
    assert "job" not in text.lower()
    assert "account" not in text.lower()


async def test_asset_sizes_are_ints(fake: FakeKrea) -> None:
    async with fake.client() as krea:
        asset = await krea.assets.upload(png(64, 32), filename="a.png")
        fetched = await krea.assets.get(asset.id)
    for a in (asset, fetched):
        assert (a.width, a.height) == (64, 32)
        assert all(type(v) is int for v in (a.width, a.height, a.size_bytes))


def test_job_has_a_short_str_and_compact_repr() -> None:
    job = parse_job(
        {
            "job_id": "7f3a9c1e-0000-4000-8000-000000000000",
            "status": "processing",
            "created_at": "2026-01-02T03:04:05Z",
            "result": {"urls": ["https://x/a.png", "https://x/b.png"]},
        }
    )
    assert str(job) == "Job 7f3a9c1e… processing, 2 urls"
    assert repr(job) == (
        "Job(job_id='7f3a9c1e-0000-4000-8000-000000000000', status='processing', "
        "created_at='2026-01-02T03:04:05+00:00', urls=2)"
    )
    pending = Job(job_id="abc", status=JobStatus.QUEUED, created_at=_dt.datetime(2026, 1, 1))
    assert str(pending) == "Job abc queued"


# ------------------------------------------------------------------ webhooks (issue 9)

WEBHOOK_NAMES = (
    "WebhookReceiver",
    "WebhookResult",
    "JobEvents",
    "LocalEvents",
    "RedisEvents",
)


def test_webhook_names_are_public_documented_and_the_same_in_web() -> None:
    import inspect

    import krea_async.web

    for name in WEBHOOK_NAMES:
        assert name in krea_async.__all__
        obj = getattr(krea_async, name)
        assert obj is getattr(krea_async.web, name)
        assert (obj.__doc__ or "").strip(), name
    params = inspect.signature(AsyncKrea).parameters
    for name, default in (
        ("webhook_url", None),
        ("events", None),
        ("webhook_verify", "fetch"),
        ("webhook_safety_poll", 30.0),
    ):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == default
    assert "docs.krea.ai/developers/webhooks" in (AsyncKrea.__doc__ or "")
    assert (AsyncKrea.webhooks.__doc__ or "").strip()


async def test_with_options_copies_share_the_webhook_wiring(
    fake: FakeKrea, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KREA_WEBHOOK_URL", raising=False)
    async with fake.client(webhook_url="https://app.example/hooks") as krea:
        copy = krea.with_options(max_retries=0, poll_interval=0.01)
        assert copy.webhooks is krea.webhooks
        await copy.generate("image/bfl/flux-1-dev", {"prompt": "x"})
        assert (fake.ledger[-1].webhook_url or "").startswith("https://app.example/hooks/")
    async with fake.client() as plain:
        await plain.with_options(max_retries=0).generate("image/bfl/flux-1-dev", {"prompt": "y"})
        assert fake.ledger[-1].webhook_url is None
