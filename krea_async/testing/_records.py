"""What the fake shows tests about its jobs: :class:`LedgerEntry`,
:class:`WebhookDelivery`, :class:`ScriptRule`, and the prices it charges
(:func:`price_of`)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any, Literal

import attrs

__all__ = [
    "STATUSES",
    "TERMINAL",
    "LedgerEntry",
    "Outcome",
    "ScriptRule",
    "WebhookAttempt",
    "WebhookDelivery",
    "price_of",
]

Outcome = Literal["completed", "failed", "cancelled"]
STATUSES = (
    "backlogged",
    "queued",
    "scheduled",
    "processing",
    "sampling",
    "intermediate-complete",
    "completed",
    "failed",
    "cancelled",
)
TERMINAL = frozenset({"completed", "failed", "cancelled"})

#: USD per request, from the model pages of Krea's API reference
#: (https://docs.krea.ai/api-reference; pricing: https://docs.krea.ai/developers/api-keys-and-billing);
#: see :func:`price_of`.
_PRICES = {
    "/generate/image/bfl/flux-1-dev": 0.007,
    "/generate/image/bfl/flux-1-kontext-dev": 0.0128,
    "/generate/image/krea/krea-2/medium": 0.03,
    "/generate/image/krea/krea-2/large": 0.06,
    "/generate/image/krea/krea-2/medium-turbo": 0.015,
}
_KREA2_EXTRAS = {  # (with style references, with a moodboard)
    "/generate/image/krea/krea-2/medium": (0.035, 0.04),
    "/generate/image/krea/krea-2/large": (0.065, 0.07),
    "/generate/image/krea/krea-2/medium-turbo": (0.0175, 0.02),
}
_DEFAULT_PRICES = {
    "image": 0.02,
    "video": 0.25,
    "enhance": 0.05,
    "loraTraining": 0.5,
    "nodeApp": 0.05,
}


def price_of(path: str, category: str, body: Mapping[str, Any]) -> float:
    """The price (USD) the fake charges for one request.

    Known prices come from the model pages of Krea's API reference
    (https://docs.krea.ai/api-reference; how billing works:
    https://docs.krea.ai/developers/api-keys-and-billing): Flux $0.007, Flux
    Kontext $0.0128, Nano Banana Pro $0.15 ($0.30 at 4K), Krea 2 (with style
    references / a moodboard), Kling 1.0 $0.0221/s std and $0.0772/s pro. Others:
    image $0.02, video $0.25, enhance $0.05, LoRA training $0.50, node app $0.05
    (``category`` is ``"image"``, ``"video"``, ``"enhance"``, ``"loraTraining"``
    or ``"nodeApp"``).
    """
    if path == "/generate/image/google/nano-banana-pro":
        return 0.30 if body.get("resolution") == "4K" else 0.15
    if path == "/generate/video/kling/kling-1":
        seconds = body.get("duration", 5)
        per_second = 0.0772 if body.get("mode") == "pro" else 0.0221
        return round(per_second * float(seconds if isinstance(seconds, (int, float)) else 5), 4)
    if path in _KREA2_EXTRAS:
        style_refs, moodboard = _KREA2_EXTRAS[path]
        if body.get("moodboards"):
            return moodboard
        if body.get("image_style_references") or body.get("styles"):
            return style_refs
    return _PRICES.get(path, _DEFAULT_PRICES.get(category, 0.02))


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """One job the fake created (``fake.ledger``), as of the time it was read.

    - ``job_id``: the job's id; ``path``: the request path
      (``"/generate/image/bfl/flux-1-dev"``, ``"/styles/train"``,
      ``"/node-apps/{id}/execute"``); ``type``: the job type (``externalImage``...).
    - ``body``: the JSON request body; ``prompt``: its ``prompt`` (or ``None``).
    - ``headers``: the request headers (lower-case names, ``authorization`` left out).
    - ``trace``: the ``X-Request-Trace`` header the client sent, or ``None``: count
      ledger entries per trace to check that one call created one job.
    - ``created_at`` / ``completed_at``: aware UTC datetimes (``completed_at`` is
      ``None`` until terminal); ``status``: the current status; ``price``: USD
      charged (refunded if it failed or was cancelled); ``webhook_url``: the
      ``X-Webhook-URL`` header or ``None``.
    """

    job_id: str
    path: str
    type: str
    body: Mapping[str, Any]
    prompt: str | None
    headers: Mapping[str, str]
    trace: str | None
    created_at: _dt.datetime
    completed_at: _dt.datetime | None
    status: str
    price: float
    webhook_url: str | None

    @property
    def is_terminal(self) -> bool:
        """``True`` once the job is ``completed``, ``failed`` or ``cancelled``."""
        return self.status in TERMINAL


@attrs.define(kw_only=True)
class WebhookDelivery:
    """A webhook the fake delivered (or, by default, only recorded): ``fake.webhooks``.

    - ``url``: the job's ``X-Webhook-URL``; ``job_id``; ``status``: the terminal status.
    - ``payload``: the full job JSON that is (or would be) POSTed.
    - ``recorded_at``: aware UTC datetime (fake clock) of the transition.
    - ``response_status``: the receiver's HTTP status to the first copy that was
      sent (``deliver_webhooks``); ``error``: why that POST failed; both ``None``
      until a copy is sent (or when delivery is off, or every copy was lost).
      Each copy sent or lost is in ``fake.webhook_attempts``
      (:class:`WebhookAttempt`).
    """

    url: str
    job_id: str
    status: str
    payload: Mapping[str, Any]
    recorded_at: _dt.datetime
    response_status: int | None = None
    error: str | None = None


@attrs.define(kw_only=True)
class WebhookAttempt:
    """One copy of a webhook the fake sent or lost on purpose: ``fake.webhook_attempts``.

    - ``url``, ``job_id``, ``status`` (terminal status), ``payload`` (the POSTed job JSON).
    - ``copy``: 0 for the original, 1.. for duplicates (``WebhookPolicy.duplicates``).
    - ``lost``: ``True`` when the policy dropped this copy (never sent).
    - ``sent_at``: aware UTC datetime (wall clock) the POST started; ``None`` if lost.
    - ``response_status``: the receiver's HTTP status; ``error``: why the POST failed
      (connection refused, timeout...); both ``None`` if lost.
    """

    url: str
    job_id: str
    status: str
    payload: Mapping[str, Any]
    copy: int
    lost: bool = False
    sent_at: _dt.datetime | None = None
    response_status: int | None = None
    error: str | None = None


@attrs.define(kw_only=True, eq=False)
class ScriptRule:
    """A scripted outcome for future submits (``fake.script(...)``).

    A submit whose ``prompt`` contains ``prompt`` (when set) and whose path starts
    with ``path`` (when set) gets ``outcome`` (``"failed"``, ``"cancelled"`` or
    ``"completed"``) at the end of its run, with ``error`` as ``result.error`` for
    failures; ``seconds`` (real clock seconds, not scaled) overrides its duration.
    ``times``: how many more submits it applies to (``None``: all).
    """

    outcome: Outcome = "failed"
    error: object = "Generation failed (scripted by the fake)"
    prompt: str | None = None
    path: str | None = None
    times: int | None = 1
    seconds: float | None = None

    def matches(self, path: str, body: Mapping[str, Any]) -> bool:
        """Whether this rule applies to a submit to ``path`` (``/generate/...``) with
        the JSON ``body``: uses left (``times``), ``path`` prefix and ``prompt``."""
        if self.times is not None and self.times <= 0:
            return False
        if self.path is not None and not path.startswith(self.path):
            return False
        if self.prompt is not None:
            prompt = body.get("prompt")
            return isinstance(prompt, str) and self.prompt in prompt
        return True
