"""One replica of a web app for tests/test_events_redis.py (run by uvicorn in its own process).

Each replica builds its client the way an app would:
``AsyncKrea(webhooks=WebhookSettings(url=WEBHOOK_BASE, events=RedisEvents(REDIS_URL),
verify=VERIFY))``
and mounts ``krea.webhooks.asgi_app()`` at ``/krea/webhooks``.

Environment: ``REDIS_URL``, ``KREA_BASE_URL`` (the fake on loopback), ``WEBHOOK_BASE``
(the public URL of the replica that receives webhooks, ``.../krea/webhooks``: the same for
every replica, as behind a load balancer), ``VERIFY`` (``fetch`` or ``token``) and
``ARRIVALS`` (a file where this replica appends ``<token> <arrived> <answered>``,
wall-clock ``time.time()`` when each webhook request arrived and when it was answered).

- ``POST /start``: ``krea.subscribe(...)`` one Flux job and return its id, status and
  URLs, the wall-clock time the call returned and how many ``GET /jobs/{id}`` this
  replica's client sent for it (counted by an httpx event hook).
- ``/krea/webhooks/{token}``: the client's receiver.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from krea_async import AsyncKrea, RedisEvents, WebhookSettings

state: dict[str, Any] = {}
gets: Counter[str] = Counter()


class Arrivals:
    """ASGI wrapper: note when each webhook request arrives, then pass it on."""

    def __init__(self, app: Any, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            now = time.time()
            token = scope["path"].rstrip("/").rsplit("/", 1)[-1]
            await self.app(scope, receive, send)
            with open(self.path, "a") as log:  # one short line
                log.write(f"{token} {now} {time.time()}\n")
            return
        await self.app(scope, receive, send)


async def count(request: httpx.Request) -> None:
    if request.method == "GET" and request.url.path.startswith("/jobs/"):
        gets[request.url.path.rsplit("/", 1)[-1]] += 1


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with (
        httpx.AsyncClient(event_hooks={"request": [count]}) as http,
        RedisEvents(os.environ["REDIS_URL"]) as events,
        AsyncKrea(
            api_key="fake-key",
            base_url=os.environ["KREA_BASE_URL"],
            allow_insecure_http=True,
            http_client=http,
            webhooks=WebhookSettings(
                url=os.environ["WEBHOOK_BASE"],
                events=events,
                verify="token" if os.environ.get("VERIFY") == "token" else "fetch",
            ),
        ) as krea,
    ):
        state["krea"] = krea
        app.router.routes.append(
            Mount("/krea/webhooks", app=Arrivals(krea.webhooks.asgi_app(), os.environ["ARRIVALS"]))
        )
        yield


async def start(request: Request) -> JSONResponse:
    krea: AsyncKrea = state["krea"]
    result = await krea.subscribe("image/bfl/flux-1-dev", input={"prompt": "a fox"}, deadline=60)
    woke = time.time()
    job = result.job
    return JSONResponse(
        {
            "job_id": job.job_id,
            "status": str(job.status),
            "woke": woke,
            "gets": gets[job.job_id],
            "urls": list(job.urls),
        }
    )


app = Starlette(routes=[Route("/start", start, methods=["POST"])], lifespan=lifespan)
