"""The example app: a prompt box, live job states over Server-Sent Events, the image.

- ``GET /``: the page (plain HTML + ``EventSource``; no build step).
- ``POST /api/jobs`` (``{"prompt": "..."}``): submits a Flux image job, returns ``{"job_id"}``.
- ``GET /api/jobs/{job_id}/events``: the job's states as SSE (``status`` events, then a
  ``done`` event with the URLs). Only the browser that created the job may watch it
  (the job ids live in its signed session cookie; anyone else gets ``404``); when that
  browser closes the stream mid-job, the job is cancelled.
- ``POST /api/render`` (``{"prompt": "..."}``): waits for the image in the request itself;
  a client that hangs up cancels the job (``follow_client``).
- ``/krea/webhooks``: the client's webhook receiver (``krea.webhooks``), mounted when the
  client has a webhook URL; then ``/api/render`` returns when the webhook arrives
  instead of polling (see docs/content/webhooks.md).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from starlette.middleware.sessions import SessionMiddleware

from krea_async import AsyncKrea, ConfigurationError, JobFailedError
from krea_async.web import follow_client, hide_webhook_tokens, job_event_source

MODEL = "image/bfl/flux-1-dev"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>krea-async: live job status</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; }
 form { display: flex; gap: .5rem; }
 input { flex: 1; padding: .5rem; font-size: 1rem; }
 button { padding: .5rem 1rem; font-size: 1rem; }
 ol#states li { font-family: monospace; margin: .2rem 0; }
 img { margin-top: 1rem; max-width: 100%; border: 1px solid #ccc; }
</style>
</head>
<body>
<h1>krea-async live job status</h1>
<form id="form">
  <input id="prompt" name="prompt" placeholder="Describe an image" required>
  <button id="go" type="submit">Generate</button>
</form>
<p>Job: <code id="job">-</code></p>
<ol id="states"></ol>
<div id="out"></div>
<script>
const form = document.getElementById("form");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  document.getElementById("states").innerHTML = "";
  document.getElementById("out").innerHTML = "";
  const answer = await fetch("/api/jobs", {
    method: "POST",
    headers: {"content-type": "application/json"},
    body: JSON.stringify({prompt: document.getElementById("prompt").value}),
  });
  const {job_id} = await answer.json();
  document.getElementById("job").textContent = job_id;
  const source = new EventSource(`/api/jobs/${job_id}/events`);
  const show = (data) => {
    const li = document.createElement("li");
    li.className = "state";
    li.textContent = data.status;
    document.getElementById("states").appendChild(li);
  };
  source.addEventListener("status", (e) => show(JSON.parse(e.data)));
  source.addEventListener("error", (e) => {
    if (!e.data) return;  // a connection error: EventSource reconnects by itself
    source.close();
    document.getElementById("out").textContent = JSON.parse(e.data).error;
  });
  source.addEventListener("done", (e) => {
    const data = JSON.parse(e.data);
    show(data);
    source.close();
    if (data.status === "completed" && data.urls.length) {
      const img = document.createElement("img");
      img.id = "result";
      img.alt = "the generated image";
      img.src = data.urls[0];
      document.getElementById("out").appendChild(img);
    } else if (data.error) {
      document.getElementById("out").textContent = data.error;
    }
  });
});
</script>
</body>
</html>
"""


class Prompt(BaseModel):
    """The JSON body of the submit endpoints."""

    prompt: str = Field(min_length=1, max_length=2000)


#: Jobs remembered per browser session (the cookie stays small).
SESSION_JOBS = 20


def owns(request: Request, job_id: str) -> bool:
    """Whether ``job_id`` was created by this browser (its signed session cookie)."""
    return job_id in request.session.get("jobs", [])


def create_app(
    krea_factory: Callable[[], AsyncKrea],
    *,
    poll_interval: float = 0.25,
    session_secret: str | None = None,
) -> FastAPI:
    """The app; ``krea_factory`` makes the client when the app starts (closed at shutdown).

    ``poll_interval`` (seconds) is how often the SSE stream polls the job. Give the
    client ``webhooks=WebhookSettings(url="<where Krea reaches this app>/krea/webhooks")``
    (or set ``KREA_WEBHOOK_URL``) to be woken by webhooks. ``session_secret`` signs the
    session cookie that binds each job to its browser (default ``$APP_SESSION_SECRET``,
    else a random one per process: set it when several replicas serve the app).
    """
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with krea_factory() as krea:
            state["krea"] = krea
            with contextlib.suppress(ConfigurationError):  # no webhook URL: webhooks off
                app.mount("/krea/webhooks", krea.webhooks.asgi_app())
                hide_webhook_tokens(krea.webhooks)  # no token in uvicorn's access log
            yield

    app = FastAPI(title="krea-async example", lifespan=lifespan)
    secret = session_secret or os.environ.get("APP_SESSION_SECRET") or secrets.token_urlsafe(32)
    app.add_middleware(SessionMiddleware, secret_key=secret, same_site="strict", https_only=False)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    @app.post("/api/jobs")
    async def submit(body: Prompt, request: Request) -> dict[str, str]:
        async with follow_client(request.receive, state["krea"]):
            job = await state["krea"].generate(MODEL, {"prompt": body.prompt})
            jobs = [*request.session.get("jobs", []), job.job_id][-SESSION_JOBS:]
            request.session["jobs"] = jobs
            return {"job_id": job.job_id}
        return {}  # the client hung up: the job was cancelled

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str, request: Request) -> Any:
        if not owns(request, job_id):
            raise HTTPException(404, "job not found")
        return await job_event_source(
            state["krea"],
            job_id,
            poll_interval=poll_interval,
            ping=5,
            cancel_on_disconnect=lambda: owns(request, job_id),
        )

    @app.post("/api/render")
    async def render(body: Prompt, request: Request) -> dict[str, str]:
        krea: AsyncKrea = state["krea"]
        async with follow_client(request.receive, krea) as watch:
            job = await krea.generate(MODEL, {"prompt": body.prompt})
            watch.track(job.job_id)
            try:
                done = await krea.jobs.wait(job.job_id, poll_interval=poll_interval)
            except JobFailedError as exc:
                raise HTTPException(502, f"the job failed: {exc}") from None
            return {"job_id": job.job_id, "url": done.urls[0]}
        return {}  # the client hung up: nobody reads this

    return app
