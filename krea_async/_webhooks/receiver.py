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
- honours a URL only once it is bound to the job its submit created (:meth:`bind`): an
  unbound URL is ``409`` and wakes nothing. A URL is revoked when its submit fails
  (:meth:`revoke`), and ``grace`` seconds (default 5 min, for Krea's duplicate
  deliveries) after its job's terminal state arrives or its wait ends (:meth:`release`);
- is idempotent and monotonic: once a job's terminal state is known, a further delivery
  is ``200`` and a no-op that sends no request; a state older than the one known is
  ignored (the bus only moves forwards);
- checks the token before it reads the body, then caps the body (``max_body``,
  default 1 MiB: ``413``) and the time to read it (``body_timeout``, default 10 s:
  ``408``); refuses non-JSON (``400``); answers every refusal with a one-line reason.

The core is framework-agnostic (:meth:`WebhookReceiver.handle`); :meth:`asgi_app`
mounts it in Starlette or FastAPI: ``app.mount("/krea/webhooks", receiver.asgi_app())``.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
import attrs

from .._converter import WireFormatError, loads_json
from .._errors import KreaError
from .._jobs.trust import Trust
from .._models import Job
from .events import EventsUnavailableError, JobEvents, LocalEvents, token_digest

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_GRACE",
    "DEFAULT_MAX_BODY",
    "WebhookReceiver",
    "WebhookResult",
]

logger = logging.getLogger("krea_async.webhooks")

#: Largest webhook body accepted, in bytes (1 MiB).
DEFAULT_MAX_BODY = 1024 * 1024

#: Seconds a sender has to deliver its whole body once its token matched (10 s).
DEFAULT_BODY_TIMEOUT = 10.0

#: Seconds a URL keeps answering after its job ended or its wait ended (5 min): Krea may
#: deliver the same job more than once (https://docs.krea.ai/developers/webhooks).
DEFAULT_GRACE = 300.0

_TOKEN_BYTES = 32
# What secrets.token_urlsafe mints (base64url); anything else is no token of ours.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,256}")


@attrs.frozen
class WebhookResult:
    """What :meth:`WebhookReceiver.handle_full` decided: the HTTP ``status`` (200, 400,
    404, 408, 409, 413, 502 or 503), a one-line ``reason`` and the ``job`` published
    (``None`` when nothing was woken, including an idempotent repeat)."""

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
    - ``body_timeout``: seconds to receive the body once the token matched (default 10).
    - ``grace``: seconds a URL still answers after its job or its wait ended (default 300).
    """

    def __init__(
        self,
        base_url: str,
        *,
        events: JobEvents | None = None,
        fetch: Callable[[str], Awaitable[Job]] | None = None,
        verify: Literal["fetch", "token"] = "fetch",
        max_body: int = DEFAULT_MAX_BODY,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        #: The verification rule of deliveries, shared with the waiters of the client
        #: whose receiver this is (raises ValueError for a bad verify or missing fetch).
        self.trust = Trust(verify, fetch)
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if max_body < 1:
            raise ValueError("max_body must be >= 1 byte")
        if not body_timeout > 0 or not grace >= 0:
            raise ValueError("body_timeout must be > 0 and grace >= 0 seconds")
        self.base_url = base_url.rstrip("/")
        self.events: JobEvents = events if events is not None else LocalEvents()
        self.verify = verify
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.grace = grace

    @property
    def path(self) -> str:
        """The path of :attr:`base_url` (``"/krea/webhooks"``): where the receiver is
        mounted, and what :class:`~krea_async.web.TokenLogFilter` hides tokens under."""
        return "/" + self.base_url.split("://", 1)[1].partition("/")[2].rstrip("/")

    async def new_url(self, job_id: str | None = None) -> tuple[str, str]:
        """Mint a capability URL for one submit: return ``(url, token)``.

        Send ``url`` as ``X-Webhook-URL`` (``webhook_url=``); once the submit returns the
        job, call :meth:`bind` with ``token`` and the job id (until then deliveries on
        the URL are refused with ``409``); if the submit fails, call :meth:`revoke`.
        The token (256 bits from :func:`secrets.token_urlsafe`) is stored in the bus as a
        digest only. Raises :class:`~krea_async._webhooks.events.EventsUnavailableError`
        if the bus is down.
        """
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        await self.events.add_token(token, job_id)
        return f"{self.base_url}/{token}", token

    async def bind(self, token: str, job_id: str) -> None:
        """Tie ``token`` to the job its submit created: the URL then speaks for that job
        only (a delivery for another job id is ``400``)."""
        await self.events.bind_token(token, job_id)

    async def revoke(self, token: str) -> None:
        """Forget ``token`` now (its submit failed: no job of ours will use it); later
        deliveries on its URL are ``404``. Raises what the bus raises."""
        await self.events.revoke_token(token)

    async def release(self, token: str) -> None:
        """The wait for the token's job ended: keep honouring the URL for :attr:`grace`
        seconds (Krea's duplicate deliveries), then forget it. Never lengthens the
        token's life. Raises what the bus raises."""
        await self.events.revoke_token(token, after=self.grace)

    async def handle(self, path_token: str, body: bytes) -> int:
        """Process one delivery (the URL's last path segment and the raw body); return
        the HTTP status to answer. See :meth:`handle_full` for the reason."""
        return (await self.handle_full(path_token, body)).status

    async def handle_full(self, path_token: str, body: bytes) -> WebhookResult:
        """Process one delivery and return a :class:`WebhookResult`.

        ``404`` unknown (or revoked, or expired) token; ``409`` a URL not yet bound to
        its job (nothing woken); ``413`` body over ``max_body``; ``400`` not JSON, not a
        job, or a job id other than the token's; ``502`` the confirming
        ``GET /jobs/{id}`` failed (Krea may retry); ``503`` the bus is down; ``200``
        otherwise, including a repeat or an out-of-order (older) state, which are
        no-ops, and any delivery once the job's terminal state is known (no request).
        """
        bound = await self.authorize(path_token)
        if isinstance(bound, WebhookResult):
            return bound
        if len(body) > self.max_body:
            return WebhookResult(413, f"body over {self.max_body} bytes")
        return await self._deliver(path_token, bound, body)

    async def authorize(self, path_token: str) -> str | WebhookResult:
        """The job id ``path_token`` is bound to, or the refusal to answer (``404``,
        ``409`` or ``503``) without reading the body."""
        if not isinstance(path_token, str) or not _TOKEN_SHAPE.fullmatch(path_token):
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
        if stored[1] is None:
            # Its submit has not answered yet (or failed): the URL speaks for no job.
            return WebhookResult(409, "webhook URL not bound to a job")
        return stored[1]

    async def _deliver(self, token: str, job_id: str, body: bytes) -> WebhookResult:
        try:
            data: Any = loads_json(body)  # strict: duplicate keys, deep nesting refused
        except WireFormatError:
            return WebhookResult(400, "body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("job_id"), str):
            return WebhookResult(400, "body is not a job")
        # Bytes, not str: compare_digest refuses non-ASCII text (a hostile job_id).
        claimed = data["job_id"].encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(claimed, job_id.encode("utf-8", "surrogatepass")):
            return WebhookResult(400, "job_id does not match this webhook URL")
        try:
            known = await self.events.latest(job_id)
        except EventsUnavailableError:
            logger.warning("webhook for job %s: job events unavailable", job_id)
            return WebhookResult(503, "job events unavailable")
        if known is not None and known.is_terminal:  # a replay: answered for free
            return WebhookResult(200, "already known")
        try:
            job = await self.trust.delivery(job_id, data)
        except WireFormatError:
            return WebhookResult(400, "body is not a job")
        except KreaError as exc:
            logger.warning("webhook for job %s: confirming GET failed: %s", job_id, exc)
            return WebhookResult(502, "could not confirm the job with Krea")
        try:
            woke = await self.events.publish(job)
            if job.is_terminal:
                await self.release(token)
        except EventsUnavailableError:
            logger.warning("webhook for job %s: job events unavailable", job_id)
            return WebhookResult(503, "job events unavailable")
        if not woke:
            return WebhookResult(200, "already known")
        return WebhookResult(200, "ok", job)

    def asgi_app(self) -> Any:
        """A Starlette app answering ``POST /{token}``, to mount anywhere:
        ``app.mount("/krea/webhooks", receiver.asgi_app())`` (FastAPI or Starlette).

        The token is checked before any of the body is read (``404``/``409``/``503``
        without reading it). The body is then read in chunks, refused with ``413`` as
        soon as it passes ``max_body`` (a ``Content-Length`` over the cap is refused
        before reading) and with ``408`` when it takes over ``body_timeout`` seconds.
        A sender that hangs up mid-body costs one DEBUG line (logger
        ``krea_async.webhooks``), no traceback. Answers are ``text/plain`` one-line
        reasons.
        """
        from starlette.applications import Starlette
        from starlette.requests import ClientDisconnect, Request
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        def answer(result: WebhookResult) -> PlainTextResponse:
            return PlainTextResponse(result.reason, status_code=result.status)

        async def read(request: Request) -> bytes | WebhookResult:
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body:
                    return WebhookResult(413, f"body over {self.max_body} bytes")
                chunks.append(chunk)
            return b"".join(chunks)

        async def receive(request: Request) -> PlainTextResponse:
            token = request.path_params["token"]
            bound = await self.authorize(token)
            if isinstance(bound, WebhookResult):
                return answer(bound)
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body:
                return answer(WebhookResult(413, f"body over {self.max_body} bytes"))
            try:
                with anyio.fail_after(self.body_timeout):
                    body = await read(request)
            except TimeoutError:
                return answer(WebhookResult(408, "body not received in time"))
            except ClientDisconnect:
                logger.debug("webhook sender hung up before the end of its body")
                return answer(WebhookResult(400, "body incomplete"))
            if isinstance(body, WebhookResult):
                return answer(body)
            return answer(await self._deliver(token, bound, body))

        return Starlette(routes=[Route("/{token}", receive, methods=["POST"])])
