"""``krea.styles``: LoRA training, listing, reading, updating and sharing styles.

Source: ``POST /styles/train``, ``GET /styles``, ``GET|PATCH /styles/{id}``,
``GET /styles/{id}/share/link`` and ``POST|DELETE /styles/{id}/share/workspace``
in Krea's OpenAPI document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from .._http.urls import resource_path, webhook_headers
from .._models import Job, Style, StylePage, StyleShareLink, WorkspaceShare
from ._base import Resource, follow_cursor, paging

__all__ = ["Styles"]

TrainingModel = Literal["flux_dev", "flux_schnell", "wan", "wan22", "qwen", "z-image"]
TrainingType = Literal["Default", "Style", "Object", "Character"]
StyleFilter = Literal[
    "all", "user", "community", "krea", "shared", "unapproved", "editor", "gallery", "public"
]


def _style_path(style_id: str) -> str:
    return resource_path("/styles", style_id, "style_id")


class Styles(Resource):
    """Styles (LoRAs) of this account and Krea's public ones: ``krea.styles``."""

    async def train(
        self,
        *,
        name: str,
        urls: Sequence[str],
        model: TrainingModel = "flux_dev",
        type: TrainingType | None = None,
        trigger_word: str | None = None,
        learning_rate: float | None = None,
        max_train_steps: int | None = None,
        batch_size: int | None = None,
        webhook_url: str | None = None,
    ) -> Job:
        """Start training a style (LoRA) from images (``POST /styles/train``).

        ``urls`` are the training images' URLs (upload local files with
        ``krea.assets.upload()`` first). ``model`` is ``flux_dev`` (default),
        ``flux_schnell``, ``wan``, ``wan22``, ``qwen`` or ``z-image``; ``type`` one of
        ``Default`` (not for qwen/z-image), ``Style``, ``Object``, ``Character``;
        ``max_train_steps`` 1 to 2000; ``learning_rate`` and ``batch_size`` only for the
        flux and wan models. Returns the pending training :class:`~krea_async.Job`;
        once ``completed`` its ``result.style_id`` names the new style::

            job = await krea.styles.train(name="my-dog", urls=urls)
            done = await krea.jobs.wait(job.job_id, deadline=3 * 3600)
            style_id = done.result.style_id

        Raises :class:`ValueError` for a combination the spec's ``oneOf`` forbids,
        :class:`~krea_async.BadRequestError`, :class:`~krea_async.InsufficientCreditsError`,
        :class:`~krea_async.RateLimitError`, :class:`~krea_async.UncertainSubmitError`.
        """
        if isinstance(urls, str) or not urls:
            raise ValueError("urls must be a non-empty list of image URLs")
        if max_train_steps is not None and not 1 <= max_train_steps <= 2000:
            raise ValueError(f"max_train_steps must be 1..2000, got {max_train_steps}")
        if model in ("qwen", "z-image"):
            if type == "Default":
                raise ValueError(f"type 'Default' is not available for model {model!r}")
            if learning_rate is not None or batch_size is not None:
                raise ValueError(f"learning_rate and batch_size are not accepted for {model!r}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        body: dict[str, Any] = {"name": name, "urls": list(urls), "model": model}
        for key, value in (
            ("type", type),
            ("trigger_word", trigger_word),
            ("learning_rate", learning_rate),
            ("max_train_steps", max_train_steps),
            ("batch_size", batch_size),
        ):
            if value is not None:
                body[key] = value
        headers = webhook_headers(webhook_url)
        return await self._submit("/styles/train", cast_to=Job, json=body, headers=headers)

    async def get(self, style_id: str) -> Style:
        """Fetch one style (``GET /styles/{id}``). Raises :class:`~krea_async.NotFoundError`."""
        return await self._get(_style_path(style_id), cast_to=Style)

    async def update(
        self,
        style_id: str,
        *,
        public: bool | None = None,
        title: str | None = None,
        urls: Sequence[str] | None = None,
        cover_url: str | None = None,
    ) -> Style:
        """Change a style you own (``PATCH /styles/{id}``); returns the updated style.

        Only the fields given are sent. Raises :class:`ValueError` when none is
        given, :class:`~krea_async.NotFoundError` (unknown, or not the owner).
        """
        body: dict[str, Any] = {}
        if public is not None:
            body["public"] = public
        if title is not None:
            body["title"] = title
        if urls is not None:
            body["urls"] = list(urls)
        if cover_url is not None:
            body["cover_url"] = cover_url
        if not body:
            raise ValueError("give at least one of public, title, urls, cover_url")
        return await self._patch(_style_path(style_id), cast_to=Style, json=body)

    async def share_link(self, style_id: str) -> StyleShareLink:
        """Get (or create) a shareable link for a style you own
        (``GET /styles/{id}/share/link``; ``is_new`` tells which)."""
        return await self._get(_style_path(style_id) + "/share/link", cast_to=StyleShareLink)

    async def share_with_workspace(self, style_id: str) -> WorkspaceShare:
        """Share a style you own with your API workspace
        (``POST /styles/{id}/share/workspace``). Raises
        :class:`~krea_async.PermissionDeniedError` when you are not the owner."""
        path = _style_path(style_id) + "/share/workspace"
        return await self._post(path, cast_to=WorkspaceShare, idempotent=True)

    async def unshare_from_workspace(self, style_id: str) -> None:
        """Remove a style from your workspace (``DELETE /styles/{id}/share/workspace``).
        Raises :class:`~krea_async.PermissionDeniedError` or :class:`~krea_async.NotFoundError`."""
        await self._delete(_style_path(style_id) + "/share/workspace", gone_ok=True)

    async def list_page(
        self,
        *,
        filter: StyleFilter | None = None,
        cursor: str | None = None,
        limit: int = 100,
        model: str | None = None,
        ids: Sequence[str] | None = None,
        user: str | None = None,
        liked: bool | None = None,
    ) -> StylePage:
        """One page of ``GET /styles`` (``limit`` 1 to 1000); ``filter`` defaults to ``all``;
        ``ids`` restricts it to those style ids (a single id may be a plain string)."""
        params = paging(limit, cursor)
        for key, value in (
            ("filter", filter),
            ("model", model),
            ("user", user),
        ):
            if value is not None:
                params[key] = value
        if ids:
            params["ids"] = ids if isinstance(ids, str) else ",".join(ids)
        if liked is not None:
            params["liked"] = "true" if liked else "false"
        return await self._get("/styles", cast_to=StylePage, params=params)

    async def list(
        self, *, filter: StyleFilter | None = None, limit: int = 100, model: str | None = None
    ) -> AsyncIterator[Style]:
        """Iterate over every matching style, following ``next_cursor`` across pages."""
        pages = follow_cursor(
            lambda c: self.list_page(filter=filter, cursor=c, limit=limit, model=model)
        )
        async for style in pages:
            yield style
