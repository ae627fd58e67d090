"""Every operation of the bundled spec has a public, typed SDK method that works.

``OPERATIONS`` maps each ``(METHOD, path template)`` of ``krea_async/_spec/openapi.json``
to the public method of :class:`~krea_async.AsyncKrea` that performs it and an
"exerciser" that calls that method against the in-process fake. The tests check that

- the table's keys are exactly the spec's operations (a new spec path without an
  SDK method, or a generation path without a generated input class, fails);
- each method is public (reached from the client through names without a leading
  underscore) and, for generation paths, typed (an ``@overload`` naming the model);
- calling it sends that exact operation (requests are recorded with an httpx event
  hook and matched against the path template);
- the answer parses into the SDK's model.

Each async test runs under asyncio and trio.
"""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import attrs
import httpx
import pytest
from test_inputs import minimal_kwargs, stub_signatures  # an endpoint's minimal input; methods.pyi

from krea_async import (
    Asset,
    AssetPage,
    AsyncKrea,
    Job,
    JobPage,
    JobSettings,
    JobStatus,
    NodeApp,
    NodeAppVersionPage,
    Style,
    StylePage,
    StyleShareLink,
    WorkspaceShare,
)
from krea_async._generated.methods import GeneratedMethods
from krea_async._spec.bundle import ModelInfo, generation_endpoints, load_spec
from krea_async.inputs import INPUT_TYPES
from krea_async.testing import SAMPLE_NODE_APP_ID, FakeKrea, png

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff_waits")]

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
BASE_URL = "http://fake.krea.test"
PNG = png(8, 8, "spec-coverage")


def spec_operations() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in load_spec()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^/{}]+\})", template)
    return re.compile(
        "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p) + r"\Z"
    )


TEMPLATES = {(m, p): template_regex(p) for m, p in spec_operations()}


def operation_of(method: str, path: str) -> tuple[str, str] | None:
    """The spec operation a request is, or ``None``. Literal paths win over templates
    (``/styles/train`` is not ``/styles/{id}``)."""
    matches = [op for op, rx in TEMPLATES.items() if op[0] == method and rx.match(path)]
    matches.sort(key=lambda op: op[1].count("{"))
    return matches[0] if matches else None


# --------------------------------------------------------------------------- context


@dataclass
class Ctx:
    """What an exerciser works with: the client, the fake, and the recorded requests.

    Only requests sent inside ``with ctx.act():`` count as the exercised ones; the
    set-up (training a style, uploading an asset) happens outside it.
    """

    krea: AsyncKrea
    fake: FakeKrea
    requests: list[tuple[str, str]] = field(default_factory=list)
    acted: list[tuple[str, str]] = field(default_factory=list)
    recording: bool = False

    async def hook(self, request: httpx.Request) -> None:
        entry = (request.method, request.url.path)
        self.requests.append(entry)
        if self.recording:
            self.acted.append(entry)

    def act(self) -> _Acting:
        return _Acting(self)

    async def job(self) -> Job:
        return await self.krea.image("bfl/flux-1-dev", {"prompt": "a job to look at"})

    async def asset(self) -> Asset:
        return await self.krea.assets.upload(PNG, description="spec coverage")

    async def own_style(self) -> str:
        job = await self.krea.styles.train(name="cov", urls=["https://example.com/a.png"])
        done = await self.krea.jobs.wait(job.job_id, poll_interval=0.005, deadline=10)
        assert done.result.style_id
        return done.result.style_id


class _Acting:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def __enter__(self) -> None:
        self.ctx.recording = True

    def __exit__(self, *exc: object) -> None:
        self.ctx.recording = False


# --------------------------------------------------------------------------- exercisers

Run = Callable[[Ctx, Any], Awaitable[object]]


@attrs.frozen
class Case:
    """``method``: the dotted public name on the client (``"styles.share_link"``);
    ``run(ctx, bound_method)`` calls it; ``expect``: the type(s) of the answer."""

    method: str
    run: Run
    expect: type | tuple[type, ...]


async def _collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


async def list_jobs(c: Ctx, list_page: Any) -> object:
    await c.job()
    with c.act():
        page = await list_page(limit=5)
    assert page.items
    return page


async def list_jobs_iter(c: Ctx, list_: Any) -> object:
    await c.job()
    with c.act():
        items = await _collect(list_(limit=5))
    assert items
    assert all(isinstance(j, Job) for j in items)
    return items[0]


async def get_job(c: Ctx, get: Any) -> object:
    job = await c.job()
    with c.act():
        got = await get(job.job_id)
    assert got.job_id == job.job_id
    return got


async def cancel_job(c: Ctx, cancel: Any) -> object:
    c.fake.script("completed", prompt="long", seconds=3600)  # time_scale=0 would end it at once
    job = await c.krea.video("kling/kling-2.1", {"prompt": "long", "start_image": "https://x/a"})
    assert not job.is_terminal
    with c.act():
        answer = await cancel(job.job_id)
    assert answer is not None
    assert answer.status is JobStatus.CANCELLED
    return answer


async def upload_asset(c: Ctx, upload: Any) -> object:
    with c.act():
        asset = await upload(PNG, description="d")
    assert asset.mime_type == "image/png"
    return asset


async def list_assets(c: Ctx, list_page: Any) -> object:
    made = await c.asset()
    with c.act():
        page = await list_page(limit=10)
    assert [a.id for a in page.items] == [made.id]
    return page


async def get_asset(c: Ctx, get: Any) -> object:
    made = await c.asset()
    with c.act():
        got = await get(made.id)
    assert got.id == made.id
    return got


async def delete_asset(c: Ctx, delete: Any) -> object:
    made = await c.asset()
    with c.act():
        return await delete(made.id)


async def train_style(c: Ctx, train: Any) -> object:
    with c.act():
        job = await train(name="my-dog", urls=["https://example.com/dog.png"])
    assert job.type == "loraTraining"
    return job


async def list_styles(c: Ctx, list_page: Any) -> object:
    with c.act():
        page = await list_page(filter="krea", limit=10)
    assert page.items
    return page


async def get_style(c: Ctx, get: Any) -> object:
    style_id = await c.own_style()
    with c.act():
        style = await get(style_id)
    assert style.id == style_id
    return style


async def patch_style(c: Ctx, update: Any) -> object:
    style_id = await c.own_style()
    with c.act():
        style = await update(style_id, title="renamed")
    assert style.title == "renamed"
    return style


async def share_link(c: Ctx, share_link: Any) -> object:
    style_id = await c.own_style()
    with c.act():
        link = await share_link(style_id)
    assert link.share_link.startswith("http")
    return link


async def share_workspace(c: Ctx, share: Any) -> object:
    style_id = await c.own_style()
    with c.act():
        shared = await share(style_id)
    assert shared.success
    assert shared.style_id == style_id
    return shared


async def unshare_workspace(c: Ctx, unshare: Any) -> object:
    style_id = await c.own_style()
    await c.krea.styles.share_with_workspace(style_id)
    with c.act():
        return await unshare(style_id)


async def get_node_app(c: Ctx, get: Any) -> object:
    with c.act():
        app = await get(SAMPLE_NODE_APP_ID)
    assert app.input_openapi_schema is not None
    return app


async def execute_node_app(c: Ctx, execute: Any) -> object:
    with c.act():
        jobs = await execute(SAMPLE_NODE_APP_ID, {"prompt": "a bottle", "num_images": 2})
    assert jobs
    assert all(isinstance(j, Job) for j in jobs)
    return jobs


async def node_app_versions(c: Ctx, versions_page: Any) -> object:
    with c.act():
        page = await versions_page(SAMPLE_NODE_APP_ID)
    assert [v.node_app_version_id for v in page.items] == [SAMPLE_NODE_APP_ID]
    return page


def generation_case(endpoint: str) -> Case:
    """Submit the endpoint's minimal input twice: as its typed input class, then as a dict."""
    cls = INPUT_TYPES[endpoint]
    category, model = endpoint.split("/", 1)

    async def run(c: Ctx, method: Any) -> object:
        info = await c.krea.models.get(endpoint)
        body = minimal_kwargs(info)
        with c.act():
            typed = await method(model, cls(**body))
            plain = await method(model, dict(body))
        ledger = {e.job_id: e for e in c.fake.ledger}
        for job in (typed, plain):
            assert job.status in (JobStatus.QUEUED, JobStatus.BACKLOGGED, JobStatus.PROCESSING)
            assert ledger[job.job_id].path == "/generate/" + endpoint
            assert ledger[job.job_id].body == body
        return typed

    return Case(category, run, Job)


#: Every operation of the spec: the public method performing it and its exerciser.
#: Generation paths come from the SDK's own generated table (``INPUT_TYPES``), not
#: from the spec, so a spec path the SDK was not regenerated for is missing here.
OPERATIONS: dict[tuple[str, str], Case] = {
    ("GET", "/jobs"): Case("jobs.list_page", list_jobs, JobPage),
    ("GET", "/jobs/{id}"): Case("jobs.get", get_job, Job),
    ("DELETE", "/jobs/{id}"): Case("jobs.cancel", cancel_job, Job),
    ("POST", "/assets"): Case("assets.upload", upload_asset, Asset),
    ("GET", "/assets"): Case("assets.list_page", list_assets, AssetPage),
    ("GET", "/assets/{id}"): Case("assets.get", get_asset, Asset),
    ("DELETE", "/assets/{id}"): Case("assets.delete", delete_asset, type(None)),
    ("POST", "/styles/train"): Case("styles.train", train_style, Job),
    ("GET", "/styles"): Case("styles.list_page", list_styles, StylePage),
    ("GET", "/styles/{id}"): Case("styles.get", get_style, Style),
    ("PATCH", "/styles/{id}"): Case("styles.update", patch_style, Style),
    ("GET", "/styles/{id}/share/link"): Case("styles.share_link", share_link, StyleShareLink),
    ("POST", "/styles/{id}/share/workspace"): Case(
        "styles.share_with_workspace", share_workspace, WorkspaceShare
    ),
    ("DELETE", "/styles/{id}/share/workspace"): Case(
        "styles.unshare_from_workspace", unshare_workspace, type(None)
    ),
    ("GET", "/node-apps/{id}"): Case("node_apps.get", get_node_app, NodeApp),
    ("POST", "/node-apps/{id}/execute"): Case("node_apps.execute", execute_node_app, tuple),
    ("GET", "/node-apps/{node_app_id}/versions"): Case(
        "node_apps.versions_page", node_app_versions, NodeAppVersionPage
    ),
    **{("POST", "/generate/" + e): generation_case(e) for e in sorted(INPUT_TYPES)},
}

#: Extra public methods that also perform an operation (iterators over pages).
ALSO: dict[tuple[str, str], Case] = {
    ("GET", "/jobs"): Case("jobs.list", list_jobs_iter, Job),
}

IDS = [f"{m} {p}" for m, p in OPERATIONS]


def resolve(krea: AsyncKrea, dotted: str) -> Any:
    """``krea.<a>.<b>``, refusing private names."""
    target: Any = krea
    for part in dotted.split("."):
        assert not part.startswith("_"), f"{dotted} is not public"
        target = getattr(target, part)
    return target


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def ctx() -> AsyncIterator[Ctx]:
    fake = FakeKrea(time_scale=0.0)
    holder: list[Ctx] = []

    async def hook(request: httpx.Request) -> None:
        await holder[0].hook(request)

    async with httpx.AsyncClient(transport=fake.transport(), event_hooks={"request": [hook]}) as h:
        krea = AsyncKrea(
            "spec-key",
            base_url=BASE_URL,
            http_client=h,
            allow_insecure_http=True,
            jobs=JobSettings(poll_interval=0.005),
        )
        holder.append(Ctx(krea=krea, fake=fake))
        async with krea:
            yield holder[0]


# --------------------------------------------------------------------------- tests


def test_the_table_covers_exactly_the_spec() -> None:
    ops = spec_operations()
    assert len(load_spec()["paths"]) == 73
    assert len(ops) == 78
    assert sum(p.startswith("/generate/") for _, p in ops) == 61
    missing = sorted(ops - set(OPERATIONS))
    extra = sorted(set(OPERATIONS) - ops)
    assert not missing, f"spec operations without an SDK method: {missing}"
    assert not extra, f"SDK methods for operations the spec lacks: {extra}"
    assert set(ALSO) <= ops


def test_templates_match_only_their_operation() -> None:
    assert operation_of("POST", "/styles/train") == ("POST", "/styles/train")
    assert operation_of("GET", "/styles/abc") == ("GET", "/styles/{id}")
    assert operation_of("GET", "/styles/abc/share/link") == ("GET", "/styles/{id}/share/link")
    assert operation_of("GET", "/styles/a/b") is None
    assert operation_of("POST", "/generate/image/bfl/flux-1-dev") == (
        "POST",
        "/generate/image/bfl/flux-1-dev",
    )
    assert operation_of("POST", "/generate/image/bfl/flux-1-dev/x") is None
    assert operation_of("PUT", "/jobs/1") is None


def _overloads_for(method: str, param: str) -> dict[str, str]:
    """Literal value of ``param`` -> the annotation of ``input``, per typed signature of
    ``method`` in ``methods.pyi`` (one ``@overload`` per model)."""
    out: dict[str, str] = {}
    for sig in stub_signatures(method):
        args = {a.arg: a for a in [*sig.args.args, *sig.args.kwonlyargs]}
        annotation, input_annotation = args[param].annotation, args["input"].annotation
        assert annotation is not None
        assert input_annotation is not None
        for value in re.findall(r"""Literal\[['"]([^'"]+)['"]\]""", ast.unparse(annotation)):
            out[value] = ast.unparse(input_annotation)
    return out


@pytest.mark.parametrize("info", generation_endpoints(), ids=lambda i: i.endpoint)
def test_generation_methods_are_typed(info: ModelInfo) -> None:
    # AsyncKrea's generation methods are the generated mixin's (typed by methods.pyi)
    assert getattr(AsyncKrea, info.category) is getattr(GeneratedMethods, info.category)
    by_model = _overloads_for(info.category, "model")
    assert info.id in by_model, f"AsyncKrea.{info.category} has no overload for {info.id}"
    name = INPUT_TYPES[info.endpoint].__name__
    assert re.search(rf"\b{name}\b", by_model[info.id])
    assert re.search(rf"\b{name}Dict\b", by_model[info.id])
    by_endpoint = _overloads_for("subscribe", "endpoint")
    assert re.search(rf"\b{name}\b", by_endpoint[info.endpoint])


def _check_case(ctx: Ctx, op: tuple[str, str], case: Case, answer: object) -> None:
    assert isinstance(answer, case.expect), f"{case.method} answered {answer!r}"
    acted = [operation_of(m, p) for m, p in ctx.acted]
    assert acted, f"{case.method} sent nothing"
    assert None not in acted, f"{case.method} sent requests outside the spec: {ctx.acted}"
    assert set(acted) == {op}, f"{case.method} sent {ctx.acted}, expected only {op}"
    # The path sent is the template with the id filled in, nothing more.
    assert all(TEMPLATES[op].match(p) for _, p in ctx.acted)


@pytest.mark.parametrize(("op", "case"), list(OPERATIONS.items()), ids=IDS)
async def test_operation_is_exercised(ctx: Ctx, op: tuple[str, str], case: Case) -> None:
    method = resolve(ctx.krea, case.method)
    answer = await case.run(ctx, method)
    _check_case(ctx, op, case, answer)
    if isinstance(answer, tuple):  # node app execute: a tuple of jobs
        assert all(isinstance(j, Job) for j in answer)


@pytest.mark.parametrize(("op", "case"), list(ALSO.items()), ids=[f"{m} {p}" for m, p in ALSO])
async def test_iterator_methods(ctx: Ctx, op: tuple[str, str], case: Case) -> None:
    answer = await case.run(ctx, resolve(ctx.krea, case.method))
    _check_case(ctx, op, case, answer)


def test_resolve_refuses_private_names() -> None:
    krea = AsyncKrea("k", base_url=BASE_URL, allow_insecure_http=True)
    with pytest.raises(AssertionError, match="not public"):
        resolve(krea, "_core.request")
    assert resolve(krea, "styles.share_link") == krea.styles.share_link
