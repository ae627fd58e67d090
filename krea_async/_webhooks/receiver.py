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
- honours a URL only once it is bound to the job its submit created (:meth:`bind`): a
  delivery on an unbound URL (a job that ended before its submit's answer was read) is
  held (``202``) and wakes nothing until the binding, when it counts only as the state
  of the bound job (:meth:`hold`). A URL is revoked when its submit fails
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
    "MAX_HELD",
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
#: Deliveries held at most for URLs not yet bound to their jobs (see
#: :meth:`WebhookReceiver.hold`).
MAX_HELD = 1000

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
        # Bodies delivered on a URL not yet bound to its job, by token digest (oldest
        # first, at most _MAX_HELD): processed by bind(), dropped by revoke().
        self._held: dict[str, bytes] = {}

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
        only (a delivery for another job id is ``400``). A delivery that arrived on the
        URL before this (a job that ended before its submit's answer was read; Krea
        does not document retries) was held (``202``): it is processed now, as if it
        arrived after the binding."""
        await self.events.bind_token(token, job_id)
        held = self._held.pop(token_digest(token), None)
        if held is not None:
            result = await self._deliver(token, job_id, held)
            logger.debug("held webhook for job %s: %s %s", job_id, result.status, result.reason)

    async def revoke(self, token: str) -> None:
        """Forget ``token`` now (its submit failed: no job of ours will use it); later
        deliveries on its URL are ``404``. Raises what the bus raises."""
        self._held.pop(token_digest(token), None)
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

        ``404`` unknown (or revoked, or expired) token; ``202`` a URL not yet bound to
        its job (the body is held until it is, see :meth:`hold`; nothing woken now);
        ``413`` body over ``max_body``; ``400`` not JSON, not a
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
        if bound is None:
            return self.hold(path_token, body)
        return await self._deliver(path_token, bound, body)

    def hold(self, token: str, body: bytes) -> WebhookResult:
        """Keep ``body``, delivered on ``token``'s URL before the URL was bound to its
        job, until :meth:`bind` (which processes it) or :meth:`revoke` (which drops
        it); answer ``202``. It ends no wait by itself: once bound, it counts only if
        it is the state of the bound job, verified as any delivery. At most
        :data:`MAX_HELD` bodies are held (the oldest is dropped; the safety poll still
        finds its job), in this process only."""
        digest = token_digest(token)
        self._held.pop(digest, None)
        self._held[digest] = body
        while len(self._held) > MAX_HELD:
            del self._held[next(iter(self._held))]
        return WebhookResult(202, "held until the webhook URL is bound to its job")

    async def authorize(self, path_token: str) -> str | WebhookResult | None:
        """The job id ``path_token`` is bound to, ``None`` for a URL of this receiver's
        not yet bound to its job (its body is held, see :meth:`hold`), or the refusal
        to answer (``404`` or ``503``) without reading the body."""
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
        # None: its submit has not answered yet; the URL speaks for no job so far.
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

        The token is checked before any of the body is read (``404``/``503``
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
            if bound is None:
                return answer(self.hold(token, body))
            return answer(await self._deliver(token, bound, body))

        return Starlette(routes=[Route("/{token}", receive, methods=["POST"])])
