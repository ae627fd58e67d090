"""A webhook receiver that wakes waiting calls, safe against forged deliveries.

Krea POSTs the terminal job as JSON to the ``X-Webhook-URL`` given at submit time, and
does not sign it (https://docs.krea.ai/developers/webhooks). So the receiver:

- hands out *capability URLs*: ``{base_url}/{token}`` with a fresh
  ``secrets.token_urlsafe(32)`` token (256 bits) per submit; a token it did not mint
  (compared as a SHA-256 digest, then with :func:`hmac.compare_digest`) is ``404`` and
  wakes nothing;
- by default (``verify="fetch"``) does not trust the body at all: it confirms the job
  with one ``GET /jobs/{id}`` (the ``fetch`` callable, normally ``krea.jobs.get``) and
  publishes what Krea says; ``verify="token"`` trusts the body once the token matches
  (and its ``job_id`` matches the job the token was bound to);
- is idempotent and monotonic: a repeat of a terminal delivery is ``200`` and a no-op;
  a state older than the one known is ignored (the bus only moves forwards);
- caps bodies (``max_body``, default 1 MiB: ``413``), refuses non-JSON (``400``),
  answers every refusal with a one-line reason.

The core is framework-agnostic (:meth:`WebhookReceiver.handle`); :meth:`asgi_app`
mounts it in Starlette or FastAPI: ``app.mount("/krea/webhooks", receiver.asgi_app())``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import attrs

from .._converter import WireFormatError, loads_json
from .._errors import KreaError
from .._jobs.trust import Trust
from .._models import Job
from .events import EventsUnavailableError, JobEvents, LocalEvents, token_digest

__all__ = ["DEFAULT_MAX_BODY", "WebhookReceiver", "WebhookResult"]

logger = logging.getLogger("krea_async.webhooks")

#: Largest webhook body accepted, in bytes (1 MiB).
DEFAULT_MAX_BODY = 1024 * 1024

_TOKEN_BYTES = 32


@attrs.frozen
class WebhookResult:
    """What :meth:`WebhookReceiver.handle_full` decided: the HTTP ``status`` (200, 400,
    404, 413, 502 or 503), a one-line ``reason`` and the ``job`` published (``None``
    when nothing was woken, including an idempotent repeat)."""

    status: int
    reason: str
    job: Job | None = None


class WebhookReceiver:
    """Receives Krea's webhooks and publishes the jobs they announce on a bus.

    - ``base_url``: the public URL the receiver is mounted at, e.g.
      ``"https://app.example/krea/webhooks"`` (what Krea can reach).
    - ``events``: the :class:`~krea_async._webhooks.events.JobEvents` bus shared with the
      waiters (default: a new in-process :class:`~krea_async._webhooks.events.LocalEvents`).
    - ``fetch``: ``async (job_id) -> Job``, normally ``krea.jobs.get``; required for
      ``verify="fetch"`` (the default).
    - ``verify``: ``"fetch"`` (confirm every delivery with one ``GET /jobs/{id}``) or
      ``"token"`` (trust the body once the token matches).
    - ``max_body``: largest body in bytes (default 1 MiB).
    """

    def __init__(
        self,
        base_url: str,
        *,
        events: JobEvents | None = None,
        fetch: Callable[[str], Awaitable[Job]] | None = None,
        verify: Literal["fetch", "token"] = "fetch",
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        #: The verification rule of deliveries, shared with the waiters of the client
        #: whose receiver this is (raises ValueError for a bad verify or missing fetch).
        self.trust = Trust(verify, fetch)
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if max_body < 1:
            raise ValueError("max_body must be >= 1 byte")
        self.base_url = base_url.rstrip("/")
        self.events: JobEvents = events if events is not None else LocalEvents()
        self.verify = verify
        self.max_body = max_body

    async def new_url(self, job_id: str | None = None) -> tuple[str, str]:
        """Mint a capability URL for one submit: return ``(url, token)``.

        Send ``url`` as ``X-Webhook-URL`` (``webhook_url=``); once the submit returns the
        job, call :meth:`bind` with ``token`` and the job id. The token (256 bits from
        :func:`secrets.token_urlsafe`) is stored in the bus as a digest only. Raises
        :class:`~krea_async._webhooks.events.EventsUnavailableError` if the bus is down.
        """
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        await self.events.add_token(token, job_id)
        return f"{self.base_url}/{token}", token

    async def bind(self, token: str, job_id: str) -> None:
        """Tie ``token`` to the job its submit created: a delivery on that URL for another
        job id is then refused."""
        await self.events.bind_token(token, job_id)

    async def handle(self, path_token: str, body: bytes) -> int:
        """Process one delivery (the URL's last path segment and the raw body); return
        the HTTP status to answer. See :meth:`handle_full` for the reason."""
        return (await self.handle_full(path_token, body)).status

    async def handle_full(self, path_token: str, body: bytes) -> WebhookResult:
        """Process one delivery and return a :class:`WebhookResult`.

        ``413`` body over ``max_body``; ``404`` unknown token (nothing woken); ``400``
        not JSON, not a job, or a job id other than the token's; ``502`` the
        confirming ``GET /jobs/{id}`` failed (Krea may retry); ``503`` the bus is
        down; ``200`` otherwise, including a repeat or an out-of-order (older) state,
        which are no-ops.
        """
        if len(body) > self.max_body:
            return WebhookResult(413, f"body over {self.max_body} bytes")
        if not path_token or len(path_token) > 256 or "/" in path_token:
            return WebhookResult(404, "unknown webhook token")
        digest = token_digest(path_token)
        try:
            stored = await self.events.token_job(path_token)
        except EventsUnavailableError:
            logger.warning("webhook refused: job events unavailable")
            return WebhookResult(503, "job events unavailable")
        # The bus finds the token by its digest; check the stored digest in constant time.
        if stored is None or not hmac.compare_digest(stored[0], digest):
            return WebhookResult(404, "unknown webhook token")
        bound = stored[1]
        try:
            data: Any = loads_json(body)  # strict: duplicate keys, deep nesting refused
        except WireFormatError:
            return WebhookResult(400, "body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("job_id"), str):
            return WebhookResult(400, "body is not a job")
        claimed = data["job_id"]
        if bound is not None and not hmac.compare_digest(claimed, bound):
            return WebhookResult(400, "job_id does not match this webhook URL")
        job_id = bound or claimed
        try:
            job = await self.trust.delivery(job_id, data)
        except WireFormatError:
            return WebhookResult(400, "body is not a job")
        except KreaError as exc:
            logger.warning("webhook for job %s: confirming GET failed: %s", job_id, exc)
            return WebhookResult(502, "could not confirm the job with Krea")
        try:
            if bound is None:
                await self.events.bind_token(path_token, job_id)
            woke = await self.events.publish(job)
        except EventsUnavailableError:
            logger.warning("webhook for job %s: job events unavailable", job_id)
            return WebhookResult(503, "job events unavailable")
        if not woke:
            return WebhookResult(200, "already known")
        return WebhookResult(200, "ok", job)

    def asgi_app(self) -> Any:
        """A Starlette app answering ``POST /{token}``, to mount anywhere:
        ``app.mount("/krea/webhooks", receiver.asgi_app())`` (FastAPI or Starlette).

        The body is read in chunks and refused with ``413`` as soon as it passes
        ``max_body`` (a ``Content-Length`` over the cap is refused before reading).
        Answers are ``text/plain`` one-line reasons.
        """
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        async def receive(request: Request) -> PlainTextResponse:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body:
                return PlainTextResponse(f"body over {self.max_body} bytes", status_code=413)
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body:
                    return PlainTextResponse(f"body over {self.max_body} bytes", status_code=413)
                chunks.append(chunk)
            result = await self.handle_full(request.path_params["token"], b"".join(chunks))
            return PlainTextResponse(result.reason, status_code=result.status)

        return Starlette(routes=[Route("/{token}", receive, methods=["POST"])])
