"""A Krea-compatible fake of the Krea API, for tests and offline development.

Test your app (or this SDK) without a network and without spending credits::

    from krea_async.testing import FakeKrea, ManualClock

    fake = FakeKrea()                        # any non-empty Bearer token is accepted
    async with fake.client() as krea:        # AsyncKrea bound in-process to the fake
        result = await krea.subscribe("image/bfl/flux-1-dev", input={"prompt": "a fox"})

    with fake.serve_in_thread() as base_url:  # or a real server on 127.0.0.1
        ...                                   # e.g. KREA_BASE_URL=base_url for any client

or from a shell: ``python -m krea_async.testing serve --port 8000``. Needs the
``fake`` extra (starlette, uvicorn, jsonschema, python-multipart; click for the
command).

What it mimics (Krea's OpenAPI document bundled in ``krea_async/_spec`` and
Krea's documented behaviour), with the same status codes and ``{"error": "..."}``
bodies:

- ``POST /generate/{image|video|enhance}/...``: every generation path of the
  spec; bodies are validated with JSON Schema (Draft 2020-12) against that
  path's schema, so a missing ``prompt``, an out-of-range value or an unknown key
  (including the camelCase aliases such as ``imageUrls`` that Krea stopped
  accepting on 2026-06-19) is ``400`` naming the field. Answers the pending job
  (``result`` and ``completed_at`` null).
- ``GET /jobs/{id}``, ``DELETE /jobs/{id}`` (cancels only a ``queued`` or
  ``processing`` job, as https://docs.krea.ai/developers/job-lifecycle says; in
  any other status the job runs on and the answer is ``200`` with the job as it
  stands, or ``400``/``409`` with ``FakeKrea(cancel_refused=...)``),
  ``GET /jobs?cursor&limit&types&status`` (newest first, ``limit`` 1..1000,
  ``next_cursor``, or ``nextCursor`` with ``cursor_key=``; an empty or unknown
  ``status`` is ``400``; items omit ``completed_at`` until terminal).
- ``GET /openapi.json``: the fake's own OpenAPI document (the bundled spec, with
  deprecated models marked ``deprecated: true``), as Krea serves its own.
- Failures (job-lifecycle page): :meth:`FakeKrea.fail_jobs` fails a share of
  jobs, or jobs whose prompt matches a pattern, with a documented cause
  (``provider_error``, ``invalid_parameters``, ``nsfw``, ``ip_detected``,
  ``timeout``); the detail ``{"code", "message"}`` is in ``result.error`` and the
  job's top-level ``error``. Runs longer than Krea's automatic time-outs (180 s
  hosted tools, 7200 s external providers, clock seconds) fail at the time-out.
- Model lifecycle (https://docs.krea.ai/developers/deprecations):
  :meth:`FakeKrea.deprecate` (``Deprecation``/``Sunset``/``Link`` headers until
  the sunset date) and :meth:`FakeKrea.sunset` (``410 model_unavailable``); the
  models that page lists as sunset answer ``410`` from the start.
- Request rates: :meth:`FakeKrea.rate_limit` (``429`` beyond N requests a second
  of status requests, submits or all, with or without ``Retry-After``).
- ``format`` keywords are checked as Krea does: an ``X-Webhook-URL`` header or
  an image URL field that is not a ``uri`` (``"not a url at all"``) is ``400``.
- ``/assets`` (multipart upload, 75 MB max, list, get, delete), ``/styles``
  (``POST /styles/train`` creates a ``loraTraining`` job whose completion
  creates a style owned by the caller; list, get, patch, share link, share with
  workspace), ``/node-apps/{id}`` and ``/node-apps/{id}/execute`` (a sample app,
  :data:`SAMPLE_NODE_APP_ID`, is always there; :meth:`FakeKrea.add_node_app`).
- Job life: ``backlogged`` (over ``concurrency``, FIFO) -> ``queued`` (30% of the
  run) -> ``processing`` -> ``completed`` (or ``failed``/``cancelled``), timed by
  the spec's average completion time x ``time_scale`` on an injectable clock.
  Failed and cancelled jobs are refunded. ``X-Webhook-URL`` webhooks are recorded
  (and, with ``deliver_webhooks=True`` or a :class:`WebhookPolicy`, POSTed for
  real, with optional duplicates, delay, reordering and loss).
- ``401`` (no/empty/wrong Bearer token), ``402`` (``balance`` exhausted),
  ``404`` (unknown, or another token's), ``429`` (backlog full), ``403`` (sharing
  a style you do not own).

What result URLs serve (``{base}/_fake/files/{job_id}/{n}.{ext}``, no auth, on
the fake itself, so the URL works in-process and over loopback):

- image jobs: a valid PNG gradient, deterministic per prompt, of the requested
  ``width`` x ``height`` pixels, or of ``aspect_ratio`` at ``resolution``
  (1K ~ 1024x1024 px of area, the default size 1024x1024), each side capped at
  2048 px;
- enhance jobs (Topaz): a PNG of the requested ``width`` x ``height`` (capped at
  2048 px a side); it does not look at the input image;
- video jobs: the same real 1 s, 64x64 px H.264 MP4 (``sample.mp4``, ~3 KB,
  ``video/mp4``) whatever the requested size or duration;
- node app jobs: ``num_images`` PNGs; LoRA training: ``result.style_id``.

Retry waits: :func:`no_backoff` (a context manager) and :func:`set_backoff_enabled`
turn the SDK's backoff and ``Retry-After`` waits to zero in tests, keeping the caps
on attempts (the switch of :class:`~krea_async.RetryPolicy`).

Test controls: :class:`ManualClock`, :meth:`FakeKrea.fail_job`,
:meth:`FakeKrea.cancel_job`, :meth:`FakeKrea.script`, :attr:`FakeKrea.ledger`,
:attr:`FakeKrea.webhooks`, :attr:`FakeKrea.webhook_attempts` (with
``deliver_webhooks=True`` or a :class:`WebhookPolicy`), :attr:`FakeKrea.balance` and faults
(:meth:`FakeKrea.inject` with :func:`http_error`, :func:`rate_limited`,
:func:`drop_before`, :func:`drop_after`, :func:`slow`, :func:`malformed`,
:func:`refuse_connection`).

With ``FakeKrea(lifecycle="full")`` jobs also pass through ``scheduled``,
``sampling`` and ``intermediate-complete`` (whose preview Krea does not document:
``result`` stays ``{}``).

Not mimicked: real moderation of content (only the failure it causes), plans,
style likes, ``422`` for unreachable asset URLs.
"""

from __future__ import annotations

try:
    import jsonschema as _jsonschema  # noqa: F401
    import starlette as _starlette  # noqa: F401
except ImportError as exc:  # depends on the installed extras
    raise ImportError(
        f"krea_async.testing needs the 'fake' extra ({exc.name} is missing): "
        "pip install 'krea-async[fake]'"
    ) from exc

# The SDK's own retry switch, re-exported for tests: the one SDK hook the fake
# exposes (it is not part of the fake's behaviour).
from .._http.retry import no_backoff, set_backoff_enabled
from ._deprecations import KREA_SUNSETS, ModelLifecycle
from ._fake import MAX_ASSET_BYTES, FakeKrea
from ._faults import (
    Fault,
    FaultPlan,
    FaultRule,
    Operation,
    drop_after,
    drop_before,
    http_error,
    malformed,
    operation_of,
    rate_limited,
    refuse_connection,
    slow,
)
from ._media import png, sample_mp4
from ._middleware import ConnectionDropped
from ._outcomes import CAUSES, EXTERNAL_TIMEOUT, HOSTED_TIMEOUT, FailureRule, time_out_of
from ._ratelimit import RateLimit
from ._records import LedgerEntry, ScriptRule, WebhookAttempt, WebhookDelivery, price_of
from ._routes import NODE_APP_SECONDS, TRAINING_SECONDS
from ._seed import SAMPLE_NODE_APP_ID
from ._transport import FakeTransport
from ._util import Clock, ManualClock
from ._webhooks import WebhookPolicy

__all__ = [
    "CAUSES",
    "EXTERNAL_TIMEOUT",
    "HOSTED_TIMEOUT",
    "KREA_SUNSETS",
    "MAX_ASSET_BYTES",
    "NODE_APP_SECONDS",
    "SAMPLE_NODE_APP_ID",
    "TRAINING_SECONDS",
    "Clock",
    "ConnectionDropped",
    "FailureRule",
    "FakeKrea",
    "FakeTransport",
    "Fault",
    "FaultPlan",
    "FaultRule",
    "LedgerEntry",
    "ManualClock",
    "ModelLifecycle",
    "Operation",
    "RateLimit",
    "ScriptRule",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookPolicy",
    "drop_after",
    "drop_before",
    "http_error",
    "malformed",
    "no_backoff",
    "operation_of",
    "png",
    "price_of",
    "rate_limited",
    "refuse_connection",
    "sample_mp4",
    "set_backoff_enabled",
    "slow",
    "time_out_of",
]
