"""The data model: plain frozen attrs classes, free of JSON concerns.

The wire format (field renames such as ``nextCursor``, unknown fields, ``null``
versus ``{}`` results, timestamps) is owned by :mod:`krea_async._converter`.
Every model keeps the payload it was parsed from in ``raw`` so that fields Krea
adds later stay reachable.

Source: the ``/jobs/{id}``, ``/jobs``, ``/assets``, ``/styles`` and
``/node-apps/{id}`` response schemas of Krea's OpenAPI document (bundled at
``krea_async/_spec/openapi.json``) and Krea's docs (https://docs.krea.ai).
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "Asset",
    "AssetPage",
    "Job",
    "JobPage",
    "JobResult",
    "JobStatus",
    "NodeApp",
    "NodeAppVersionPage",
    "Style",
    "StyleOwner",
    "StylePage",
    "StyleShareLink",
    "Workspace",
    "WorkspaceShare",
]

_EMPTY: Mapping[str, Any] = {}


class JobStatus(str, enum.Enum):
    """A job's status, in the order a job passes through them.

    Non-terminal: ``backlogged`` (waiting behind the account's concurrency limit),
    ``queued``, ``scheduled``, ``processing``, ``sampling``,
    ``intermediate-complete`` (a preview exists; not final). Terminal:
    ``completed``, ``failed``, ``cancelled``. Source: the ``status`` enum of
    ``GET /jobs/{id}`` (https://docs.krea.ai).

    A status Krea adds later still parses: ``JobStatus("new-status")`` returns a
    pseudo-member whose ``value`` is the string and which is not terminal, "until
    proven otherwise". Members compare equal to their string.
    """

    BACKLOGGED = "backlogged"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    SAMPLING = "sampling"
    INTERMEDIATE_COMPLETE = "intermediate-complete"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def _missing_(cls, value: object) -> JobStatus | None:
        if not isinstance(value, str) or not value:
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper().replace("-", "_")
        member._value_ = value
        return member

    @property
    def is_terminal(self) -> bool:
        """``True`` for ``completed``, ``failed`` and ``cancelled``; ``False`` otherwise."""
        return self in _TERMINAL

    @property
    def is_known(self) -> bool:
        """``False`` for a status this SDK version does not list (kept as a pseudo-member)."""
        return self._value_ in JobStatus._value2member_map_

    def __str__(self) -> str:
        return str(self._value_)


_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


@attrs.frozen(kw_only=True)
class JobResult:
    """What a job produced.

    - ``urls``: result file URLs (images, video, upscales), empty until completed.
    - ``style_id``: the new style's id, for a completed LoRA training job.
    - ``error``: failure details of a failed job, as Krea sent them (the shape is
      undocumented: often a string, sometimes an object); ``None`` otherwise.
      :attr:`error_message` gives it as text.
    - ``raw``: the ``result`` object as received (``{}`` when it was ``null``).
    """

    urls: tuple[str, ...] = ()
    style_id: str | None = None
    error: object | None = None
    raw: Mapping[str, Any] = attrs.field(default=_EMPTY, repr=False, eq=False)

    @property
    def error_message(self) -> str | None:
        """``error`` as one line of text, or ``None`` when there is no error."""
        err = self.error
        if err is None:
            return None
        if isinstance(err, str):
            return err
        if isinstance(err, Mapping):
            for key in ("message", "reason", "code", "type"):
                value = err.get(key)
                if isinstance(value, str) and value:
                    return value
        return repr(err)


@attrs.frozen(kw_only=True, repr=False)
class Job:
    """One state of a Krea job, as ``GET /jobs/{id}`` (or a submit) returned it.

    - ``job_id``: the job's id (a UUID string).
    - ``status``: a :class:`JobStatus`.
    - ``created_at`` / ``completed_at``: timezone-aware UTC datetimes;
      ``completed_at`` is ``None`` until the job is terminal (``created_at`` is
      ``None`` only if the server left it out).
    - ``result``: a :class:`JobResult`; empty (no urls) while pending, whether the
      server sent ``null`` or ``{}``.
    - ``type``: Krea's job type (e.g. ``"externalImage"``), when sent.
    - ``raw``: the whole JSON object received, unknown fields included (e.g. the
      ``estimated_time`` some video jobs carry).
    """

    job_id: str
    status: JobStatus
    created_at: _dt.datetime | None = None
    completed_at: _dt.datetime | None = None
    result: JobResult = attrs.field(factory=JobResult)
    type: str | None = None
    raw: Mapping[str, Any] = attrs.field(default=_EMPTY, repr=False, eq=False)

    @property
    def is_terminal(self) -> bool:
        """``True`` once the job is ``completed``, ``failed`` or ``cancelled``."""
        return self.status.is_terminal

    def __str__(self) -> str:
        """``Job 7f3a9c1e… processing`` (``, 2 urls`` once there are results)."""
        short = self.job_id[:8] + ("…" if len(self.job_id) > 8 else "")
        text = f"Job {short} {self.status}"
        if self.result.urls:
            n = len(self.result.urls)
            text += f", {n} url{'s' if n != 1 else ''}"
        return text

    def __repr__(self) -> str:
        """``Job(job_id='…', status='processing', created_at='2026-…')``: no result body."""
        created = self.created_at.isoformat() if self.created_at else None
        return (
            f"Job(job_id={self.job_id!r}, status={str(self.status)!r}, "
            f"created_at={created!r}, urls={len(self.result.urls)})"
        )

    @property
    def urls(self) -> tuple[str, ...]:
        """Shortcut for ``result.urls``."""
        return self.result.urls


@attrs.frozen(kw_only=True)
class JobPage:
    """One page of ``GET /jobs``: ``items`` (newest first) and ``next_cursor``.

    ``next_cursor`` is an ISO 8601 timestamp to pass as ``cursor`` for the next
    (older) page, or ``None`` on the last page. Krea spells it ``next_cursor``;
    one docs example spells it ``nextCursor``: both are read.
    """

    items: tuple[Job, ...] = ()
    next_cursor: str | None = None


@attrs.frozen(kw_only=True)
class Asset:
    """An uploaded asset (``POST /assets``, ``GET /assets/{id}``).

    ``width``/``height`` in pixels and ``size_bytes`` in bytes, ints (the spec's
    ``number`` values are whole counts; ``1024.0`` on the wire reads as ``1024``),
    each ``None`` when Krea does not know them; ``uploaded_at`` an aware datetime; ``image_url`` the
    URL to pass to a generation's ``image_url``/``image_urls``.
    """

    id: str
    image_url: str
    uploaded_at: _dt.datetime | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    mime_type: str | None = None
    description: str | None = None
    metadata: object | None = None
    raw: Mapping[str, Any] = attrs.field(default=_EMPTY, repr=False, eq=False)


@attrs.frozen(kw_only=True)
class AssetPage:
    """One page of ``GET /assets``: ``items`` and ``next_cursor`` (``None`` on the last page)."""

    items: tuple[Asset, ...] = ()
    next_cursor: str | None = None


@attrs.frozen(kw_only=True)
class StyleOwner:
    """The creator of a style: ``id``, ``name`` and ``avatar_url`` (or ``None``)."""

    id: str
    name: str
    avatar_url: str | None = None


@attrs.frozen(kw_only=True)
class Style:
    """A style (typically a LoRA), from ``GET /styles/{id}``.

    ``urls`` are preview image URLs; ``models`` the compatible model names (e.g.
    ``flux_dev``); ``owner`` is ``None`` for Krea's official styles; ``created_at``
    is the timestamp string as Krea sent it (the spec gives it no format).
    """

    id: str
    title: str | None = None
    urls: tuple[str, ...] = ()
    public: bool = False
    cover_url: str | None = None
    prompt: str | None = None
    models: tuple[str, ...] = ()
    owner: StyleOwner | None = None
    like_count: float = 0
    created_at: str | None = None
    raw: Mapping[str, Any] = attrs.field(default=_EMPTY, repr=False, eq=False)


@attrs.frozen(kw_only=True)
class StylePage:
    """One page of ``GET /styles``: ``items`` and ``next_cursor``."""

    items: tuple[Style, ...] = ()
    next_cursor: str | None = None


@attrs.frozen(kw_only=True)
class StyleShareLink:
    """``GET /styles/{id}/share/link``: ``share_link`` (URL) and ``is_new``."""

    share_link: str
    is_new: bool = False


@attrs.frozen(kw_only=True)
class Workspace:
    """A workspace: ``id``, ``name`` (or ``None``) and ``is_default``."""

    id: str
    name: str | None = None
    is_default: bool = False


@attrs.frozen(kw_only=True)
class WorkspaceShare:
    """``POST /styles/{id}/share/workspace``: ``success``, ``style_id`` and ``workspace``."""

    success: bool
    style_id: str
    workspace: Workspace | None = None


@attrs.frozen(kw_only=True)
class NodeApp:
    """A node app version (``GET /node-apps/{id}``).

    ``input_openapi_schema`` / ``output_openapi_schema`` are JSON Schemas (dicts)
    of the app's inputs and outputs, or ``None``; every other field of the
    response is in ``raw``.
    """

    id: str
    name: str | None = None
    slug: str | None = None
    description: str | None = None
    scope: str | None = None
    version: float | None = None
    last_version_id: str | None = None
    username: str | None = None
    example_outputs: tuple[str, ...] = ()
    input_openapi_schema: Mapping[str, Any] | None = None
    output_openapi_schema: Mapping[str, Any] | None = None
    node_app_version_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(default=_EMPTY, repr=False, eq=False)


@attrs.frozen(kw_only=True)
class NodeAppVersionPage:
    """One page of ``GET /node-apps/{node_app_id}/versions``
    (https://docs.krea.ai/api-reference/node-apps/list-runnable-node-app-versions):
    ``items`` (:class:`NodeApp`, each with its ``node_app_version_id``, newest first)
    and ``next_cursor`` (``None`` on the last page)."""

    items: tuple[NodeApp, ...] = ()
    next_cursor: str | None = None
