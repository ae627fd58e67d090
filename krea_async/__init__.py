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
(the Krea-compatible fake server; needs the ``fake`` extra). The client's settings
are grouped in :class:`RetryPolicy`, :class:`Limits`, :class:`JobSettings` and
:class:`WebhookSettings`. With ``AsyncKrea(webhooks=WebhookSettings(url=...))``,
``subscribe()`` returns when Krea's webhook arrives (:class:`WebhookReceiver`, mounted
from ``krea.webhooks``; :class:`RedisEvents` across replicas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._client.client import DEFAULT_BASE_URL, AsyncKrea
from ._client.options import JobSettings, Limits, WebhookSettings, aiohttp_client
from ._converter import parse_job
from ._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AssetTooLargeError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ClientStateError,
    ConfigurationError,
    ConflictError,
    DownloadError,
    DownloadTooLargeError,
    EndpointNotFoundError,
    EventsUnavailableError,
    InsufficientCreditsError,
    InternalServerError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    JobTimeoutError,
    KreaError,
    ModelNotFoundError,
    ModelUnavailableError,
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
    NodeAppVersionPage,
    Style,
    StyleOwner,
    StylePage,
    StyleShareLink,
    Workspace,
    WorkspaceShare,
)
from ._resources.assets import MAX_ASSET_BYTES
from ._types import NOT_GIVEN, NotGiven, QueueUpdateCallback
from ._version import __version__

if TYPE_CHECKING:  # imported on first use, to keep import fast (__getattr__ below)
    from . import files, inputs
    from ._spec.bundle import ModelInfo
    from ._spec.lifecycle import ModelDeprecationWarning
    from ._webhooks.events import JobEvents, LocalEvents
    from ._webhooks.receiver import WebhookReceiver, WebhookResult
    from ._webhooks.redis import RedisEvents

#: Public names imported on first use (so that ``import krea_async`` stays fast), and
#: their modules.
_LAZY = {
    "JobEvents": "._webhooks.events",
    "LocalEvents": "._webhooks.events",
    "ModelDeprecationWarning": "._spec.lifecycle",
    "ModelInfo": "._spec.bundle",  # the bundled spec
    "RedisEvents": "._webhooks.redis",  # the job-event bus across replicas
    "WebhookReceiver": "._webhooks.receiver",  # webhooks (WebhookSettings(url=...))
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
    "DownloadTooLargeError",
    "EndpointNotFoundError",
    "EventsUnavailableError",
    "InsufficientCreditsError",
    "InternalServerError",
    "Job",
    "JobCancelledError",
    "JobError",
    "JobEvents",
    "JobFailedError",
    "JobSettings",
    "JobNotFoundError",
    "JobPage",
    "JobResult",
    "JobStatus",
    "JobStream",
    "JobTimeoutError",
    "KreaError",
    "Limits",
    "LocalEvents",
    "ModelDeprecationWarning",
    "ModelInfo",
    "ModelNotFoundError",
    "ModelUnavailableError",
    "NodeApp",
    "NodeAppVersionPage",
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
    "WebhookSettings",
    "Workspace",
    "WorkspaceShare",
    "__version__",
    "aiohttp_client",
    "parse_job",
    "files",
    "inputs",
]


def __getattr__(name: str) -> object:
    if name in ("inputs", "files") or name in _LAZY:
        # imported on first use: the typed input classes are many; downloads; ...
        import importlib

        if name in ("inputs", "files"):
            return importlib.import_module(f".{name}", __name__)
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups: a plain module attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
