"""One replica of a web app for tests/test_events_redis.py (run by uvicorn in its own process).

Environment: ``REDIS_URL``, ``KREA_BASE_URL`` (the fake on loopback), ``WEBHOOK_BASE``
(the public URL of the replica that receives webhooks, ``.../krea/webhooks``) and
``ARRIVALS`` (a file where this replica appends ``<token> <arrived> <answered>``, wall-clock
``time.time()`` when each webhook request arrived and when it was answered).

- ``POST /start``: mint a capability URL, submit a job with it, wait on the Redis bus
  (no status polls before the 30 s safety net) and return the job id, the token, the
  wall-clock time the wait woke up and how many ``GET /jobs/{id}`` it made.
- ``/krea/webhooks/{token}``: the receiver (``verify`` from ``VERIFY``, default ``fetch``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from krea_async import AsyncKrea, Job
from krea_async._events import RedisEvents, wait_job
from krea_async._webhooks import WebhookReceiver

state: dict[str, Any] = {}


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


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with (
        AsyncKrea(
            api_key="fake-key", base_url=os.environ["KREA_BASE_URL"], allow_insecure_http=True
        ) as krea,
        RedisEvents(os.environ["REDIS_URL"]) as events,
    ):
        receiver = WebhookReceiver(
            os.environ["WEBHOOK_BASE"],
            events=events,
            fetch=krea.jobs.get,
            verify="token" if os.environ.get("VERIFY") == "token" else "fetch",
        )
        state.update(krea=krea, events=events, receiver=receiver)
        app.router.routes.append(
            Mount("/krea/webhooks", app=Arrivals(receiver.asgi_app(), os.environ["ARRIVALS"]))
        )
        yield


async def start(request: Request) -> JSONResponse:
    krea: AsyncKrea = state["krea"]
    receiver: WebhookReceiver = state["receiver"]
    url, token = await receiver.new_url()
    job = await krea.generate("image/bfl/flux-1-dev", {"prompt": "a fox"}, webhook_url=url)
    await receiver.bind(token, job.job_id)
    gets = 0

    async def get(job_id: str) -> Job:
        nonlocal gets
        gets += 1
        return await krea.jobs.get(job_id)

    done = await wait_job(state["events"], job.job_id, get=get, deadline=60, safety_poll=30)
    woke = time.time()
    return JSONResponse(
        {
            "job_id": job.job_id,
            "token": token,
            "status": str(done.status),
            "woke": woke,
            "gets": gets,
            "urls": list(done.urls),
        }
    )


app = Starlette(routes=[Route("/start", start, methods=["POST"])], lifespan=lifespan)
