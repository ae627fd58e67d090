"""krea-async: the asyncio-native (and trio) Python SDK for the Krea AI generation API.

::

    from krea_async import AsyncKrea

    async with AsyncKrea() as krea:                  # api_key from KREA_API_KEY
        job = await krea.image("bfl/flux-1-dev", {"prompt": "a red fox"})
        async for state in krea.jobs.stream(job.job_id):
            print(state.status)                      # the state at each poll: queued, ...
        result = await krea.subscribe("image/bfl/flux-1-dev", input={"prompt": "a red fox"})
        print(result.data.urls[0])

Public submodules: :mod:`krea_async.inputs` (typed inputs for every model),
:mod:`krea_async.files` (``data:`` URIs, downloads), :mod:`krea_async.web` (FastAPI and
Starlette helpers: hang-ups cancel jobs, Server-Sent Events) and :mod:`krea_async.testing`
(the Krea-compatible fake server; needs the ``fake`` extra). With
``AsyncKrea(webhook_url=...)``, ``subscribe()`` returns when Krea's webhook arrives
(:class:`WebhookReceiver`, mounted from ``krea.webhooks``; :class:`RedisEvents` across
replicas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._client.client import DEFAULT_BASE_URL, AsyncKrea
from ._converter import parse_job
from ._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ClientStateError,
    ConfigurationError,
    ConflictError,
    EndpointNotFoundError,
    InsufficientCreditsError,
    InternalServerError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    KreaError,
    ModelNotFoundError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UncertainSubmitError,
    UnprocessableEntityError,
)
from ._http.retry import RetryPolicy
from ._http.transport import DEFAULT_TIMEOUT
from ._jobs.polling import DEFAULT_DEADLINE, JobStream
from ._jobs.results import SubscribeResult
from ._models import (
    Asset,
    AssetPage,
    Job,
    JobPage,
    JobResult,
    JobStatus,
    NodeApp,
    Style,
    StyleOwner,
    StylePage,
    StyleShareLink,
    Workspace,
    WorkspaceShare,
)
from ._resources.assets import MAX_ASSET_BYTES, AssetTooLargeError
from ._types import NOT_GIVEN, NotGiven, QueueUpdateCallback
from ._version import __version__

if TYPE_CHECKING:  # imported on first use (issue 8: import time; __getattr__ below)
    from . import files, inputs
    from ._spec.bundle import ModelInfo
    from ._spec.lifecycle import ModelDeprecationWarning
    from ._webhooks.events import EventsUnavailableError, JobEvents, LocalEvents
    from ._webhooks.receiver import WebhookReceiver, WebhookResult
    from ._webhooks.redis import RedisEvents
    from .files import DownloadError

#: Public names imported on first use, and their modules (issue 8: import time).
_LAZY = {
    "DownloadError": ".files",  # downloads
    "EventsUnavailableError": "._webhooks.events",  # the job-event bus (webhooks)
    "JobEvents": "._webhooks.events",
    "LocalEvents": "._webhooks.events",
    "ModelDeprecationWarning": "._spec.lifecycle",
    "ModelInfo": "._spec.bundle",  # the bundled spec
    "RedisEvents": "._webhooks.redis",  # the job-event bus across replicas
    "WebhookReceiver": "._webhooks.receiver",  # webhooks (AsyncKrea(webhook_url=...))
    "WebhookResult": "._webhooks.receiver",
}

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DEADLINE",
    "DEFAULT_TIMEOUT",
    "MAX_ASSET_BYTES",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "Asset",
    "AssetPage",
    "AssetTooLargeError",
    "AsyncKrea",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ClientStateError",
    "ConfigurationError",
    "ConflictError",
    "DownloadError",
    "EndpointNotFoundError",
    "EventsUnavailableError",
    "InsufficientCreditsError",
    "InternalServerError",
    "Job",
    "JobCancelledError",
    "JobError",
    "JobEvents",
    "JobFailedError",
    "JobNotFoundError",
    "JobPage",
    "JobResult",
    "JobStatus",
    "JobStream",
    "JobTimeoutError",
    "KreaError",
    "LocalEvents",
    "ModelDeprecationWarning",
    "ModelInfo",
    "ModelNotFoundError",
    "NodeApp",
    "NotFoundError",
    "NotGiven",
    "PermissionDeniedError",
    "QueueUpdateCallback",
    "RateLimitError",
    "RedisEvents",
    "RetryPolicy",
    "Style",
    "StyleOwner",
    "StylePage",
    "StyleShareLink",
    "SubscribeResult",
    "UncertainSubmitError",
    "UnprocessableEntityError",
    "WebhookReceiver",
    "WebhookResult",
    "Workspace",
    "WorkspaceShare",
    "__version__",
    "parse_job",
    "files",
    "inputs",
]


def __getattr__(name: str) -> object:
    if name in ("inputs", "files") or name in _LAZY:
        # imported on first use (issue 8): ~130 typed input classes; downloads; ...
        import importlib

        if name in ("inputs", "files"):
            return importlib.import_module(f".{name}", __name__)
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups: a plain module attribute
        return value
    # Deprecated names, kept for one release.
    if name == "DEFAULT_JOB_TIMEOUT":
        import warnings

        warnings.warn(
            "krea_async.DEFAULT_JOB_TIMEOUT is deprecated; use krea_async.DEFAULT_DEADLINE",
            DeprecationWarning,
            stacklevel=2,
        )
        return DEFAULT_DEADLINE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
