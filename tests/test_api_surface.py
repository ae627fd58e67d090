"""The 0.1.0 public API: at most ten constructor parameters, settings grouped in
frozen objects, no renamed-argument shim; ``with_options`` through the constructor,
typed not-found errors, readable ``Job`` text, integer asset sizes. All through the
public API, against the fake."""

from __future__ import annotations

import datetime as _dt
import importlib
import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest

import krea_async
from krea_async import (
    DEFAULT_DEADLINE,
    NOT_GIVEN,
    AsyncKrea,
    ConfigurationError,
    EndpointNotFoundError,
    Job,
    JobSettings,
    JobStatus,
    JobStream,
    JobTimeoutError,
    KreaError,
    Limits,
    ModelNotFoundError,
    NotFoundError,
    RetryPolicy,
    WebhookSettings,
    parse_job,
)
from krea_async.testing import FakeKrea, png

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff_waits")]


@pytest.fixture
def fake() -> Iterator[FakeKrea]:
    with FakeKrea(time_scale=0.02) as fake:
        yield fake


# ------------------------------------------------------------------ the 0.1.0 API

#: Names that were renamed before 0.1.0; none of them is accepted any more.
REMOVED_CLIENT_ARGUMENTS = (
    "max_retries",
    "poll_interval",
    "max_poll_interval",
    "default_deadline",
    "job_timeout",
    "cancel_timeout",
    "transport",
    "max_connections",
    "polling",
    "http_transport",
    "webhook_url",
    "events",
    "webhook_verify",
    "webhook_safety_poll",
    "on_cancel_failed",
)


def test_the_constructor_has_at_most_ten_public_parameters() -> None:
    params = inspect.signature(AsyncKrea).parameters
    assert list(params) == [
        "api_key",
        "base_url",
        "timeout",
        "retry",
        "limits",
        "jobs",
        "webhooks",
        "http_client",
        "default_headers",
        "allow_insecure_http",
    ]
    assert len(params) <= 10
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(params.values())[1:])
    for name in REMOVED_CLIENT_ARGUMENTS:
        assert name not in params


def test_with_options_takes_the_constructors_settings_that_do_not_own_the_pool() -> None:
    client = inspect.signature(AsyncKrea).parameters
    copy = inspect.signature(AsyncKrea.with_options).parameters
    names = [n for n in copy if n != "self"]
    assert not [n for n in names if n.startswith("_")]
    # Same names, same order as the constructor; the pool's own settings stay out.
    assert names == [n for n in client if n not in ("limits", "webhooks", "http_client")]
    for name in names:
        assert copy[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert copy[name].default is NOT_GIVEN


@pytest.mark.parametrize("name", REMOVED_CLIENT_ARGUMENTS)
def test_removed_client_arguments_are_refused(name: str) -> None:
    with pytest.raises(TypeError, match=name):
        AsyncKrea("k", base_url="http://127.0.0.1:9", **{name: 1})
    krea = AsyncKrea("k", base_url="http://127.0.0.1:9")
    with pytest.raises(TypeError, match=name):
        krea.with_options(**{name: 1})


async def test_removed_call_arguments_are_refused(fake: FakeKrea) -> None:
    async with fake.client() as krea:
        for old in ("interval", "timeout", "on_update"):
            with pytest.raises(TypeError, match=old):
                await krea.jobs.wait("job", **{old: 1})
        for old in ("interval", "timeout"):
            with pytest.raises(TypeError, match=old):
                krea.jobs.stream("job", **{old: 1})
        with pytest.raises(TypeError, match="timeout"):
            await krea.subscribe("image/bfl/flux-1-dev", input={"prompt": "x"}, timeout=1)
        for old in ("interval", "max_interval", "timeout", "cancel_timeout"):
            with pytest.raises(TypeError, match=old):
                JobStream(get=krea.jobs.get, cancel=krea.jobs.cancel, job_id="j", **{old: 1})
    assert fake.ledger == []  # nothing was submitted
    with pytest.raises(TypeError, match="media_type_"):
        krea_async.files.data_uri(b"\x89PNG", media_type_="image/png")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="total_timeout"):
        RetryPolicy(total_timeout=5)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        krea_async.DEFAULT_JOB_TIMEOUT  # noqa: B018
    with pytest.raises(ImportError):
        importlib.import_module("krea_async._deprecation")


async def test_current_names_do_not_warn(fake: FakeKrea) -> None:
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


def test_the_settings_objects_are_public_frozen_and_documented() -> None:
    for kind in (Limits, JobSettings, WebhookSettings, RetryPolicy):
        assert kind.__name__ in krea_async.__all__
        assert attrs.has(kind)
        assert (kind.__doc__ or "").strip()
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            kind().__setattr__(attrs.fields(kind)[0].name, None)
    assert [f.name for f in attrs.fields(JobSettings)] == [
        "poll_interval",
        "max_poll_interval",
        "deadline",
        "cancel_deadline",
        "submit_grace",
        "polling",
        "on_cancel_failed",
    ]
    assert [f.name for f in attrs.fields(WebhookSettings)] == [
        "url",
        "events",
        "verify",
        "safety_poll",
    ]
    assert JobSettings().deadline == DEFAULT_DEADLINE == 8100.0
    assert Limits().max_connections == 100
    assert "aiohttp_client" in krea_async.__all__


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: JobSettings(deadline=0), "JobSettings.deadline"),
        (lambda: JobSettings(poll_interval=-1), "JobSettings.poll_interval"),
        (lambda: JobSettings(max_poll_interval=float("nan")), "JobSettings.max_poll_interval"),
        (lambda: JobSettings(cancel_deadline=-1), "JobSettings.cancel_deadline"),
        (lambda: JobSettings(submit_grace=-0.5), "JobSettings.submit_grace"),
        (lambda: JobSettings(polling="sometimes"), "JobSettings.polling"),  # type: ignore[arg-type]
        (lambda: Limits(max_connections=0), "Limits.max_connections"),
        (lambda: Limits(max_connections=True), "Limits.max_connections"),
        (lambda: WebhookSettings(verify="trust"), "WebhookSettings.verify"),  # type: ignore[arg-type]
        (lambda: WebhookSettings(safety_poll=0), "WebhookSettings.safety_poll"),
        (lambda: AsyncKrea("k", jobs={"deadline": 5}), "jobs must be"),  # type: ignore[arg-type]
        (lambda: AsyncKrea("k", limits=httpx.Limits()), "limits must be"),  # type: ignore[arg-type]
        (lambda: AsyncKrea("k", webhooks="https://a.example"), "webhooks must be"),  # type: ignore[arg-type]
        (lambda: AsyncKrea("k", http_client=httpx.Client()), "http_client must be"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_setting_is_refused_where_it_is_made(make: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        make()


async def test_settings_reach_the_waits(fake: FakeKrea) -> None:
    """``JobSettings.deadline`` is the default deadline of subscribe() and jobs.wait();
    a call's own ``deadline=`` wins."""
    fake.script("completed", seconds=3600, times=None)
    jobs = JobSettings(poll_interval=0.005, deadline=0.2, cancel_deadline=1.0)
    async with fake.client(jobs=jobs) as krea:
        with pytest.raises(JobTimeoutError) as info:
            await krea.subscribe("image/bfl/flux-1-dev", input={"prompt": "x"})
        assert info.value.deadline == 0.2
        assert info.value.cancelled_remote
        job = await krea.image("bfl/flux-1-dev", {"prompt": "y"})
        with pytest.raises(JobTimeoutError) as info:
            await krea.jobs.wait(job.job_id, deadline=0.1)
        assert info.value.deadline == 0.1


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
            retry=RetryPolicy(max_retries=0),
            jobs=JobSettings(
                poll_interval=0.005, deadline=0.2, cancel_deadline=1.0, submit_grace=1.0
            ),
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
    copy = krea.with_options(jobs=JobSettings(poll_interval=0.01))
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
    import krea_async.web

    for name in WEBHOOK_NAMES:
        assert name in krea_async.__all__
        obj = getattr(krea_async, name)
        assert obj is getattr(krea_async.web, name)
        assert (obj.__doc__ or "").strip(), name
    params = inspect.signature(AsyncKrea).parameters
    assert params["webhooks"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["webhooks"].default is None
    assert WebhookSettings() == WebhookSettings(
        url=None, events=None, verify="fetch", safety_poll=30.0
    )
    assert "docs.krea.ai/developers/webhooks" in (AsyncKrea.__doc__ or "")
    assert (AsyncKrea.webhooks.__doc__ or "").strip()


async def test_with_options_copies_share_the_webhook_wiring(
    fake: FakeKrea, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KREA_WEBHOOK_URL", raising=False)
    async with fake.client(webhooks=WebhookSettings(url="https://app.example/hooks")) as krea:
        copy = krea.with_options(
            retry=RetryPolicy(max_retries=0), jobs=JobSettings(poll_interval=0.01)
        )
        assert copy.webhooks is krea.webhooks
        await copy.generate("image/bfl/flux-1-dev", {"prompt": "x"})
        assert (fake.ledger[-1].webhook_url or "").startswith("https://app.example/hooks/")
    async with fake.client() as plain:
        await plain.with_options(retry=RetryPolicy(max_retries=0)).generate(
            "image/bfl/flux-1-dev", {"prompt": "y"}
        )
        assert fake.ledger[-1].webhook_url is None
