"""``krea.models``: the generation models, returned from the bundled spec.

Like the Node SDK, which ships Krea's openapi.json and returns
``models.list()`` / ``models.getSchema()`` from it, these make no request. They
are ``async`` like every other resource method, so that code reads the same
whether a method goes to the network or not. :meth:`Models.refresh` is the one
that does: it loads Krea's live document, so models newer than this SDK are known.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from .._errors import APIResponseValidationError, ModelNotFoundError
from .._http.urls import CATEGORIES
from ._base import Resource

if TYPE_CHECKING:
    from .._spec.bundle import ModelInfo

__all__ = ["Models"]

Category = Literal["image", "video", "enhance"]


class Models(Resource):
    """Krea's generation models, from the bundled OpenAPI document: ``krea.models``."""

    async def list(self, category: Category | None = None) -> list[ModelInfo]:
        """Every generation model (59 in the bundled spec), or those of one ``category``
        (``"image"``, ``"video"`` or ``"enhance"``), as :class:`~krea_async.ModelInfo`.
        Raises :class:`ValueError` for an unknown category."""
        if category is not None and category not in CATEGORIES:
            raise ValueError(f"category must be image, video or enhance, got {category!r}")
        from .._spec.bundle import generation_endpoints  # the bundled spec: read on first use

        return [m for m in generation_endpoints() if category is None or m.category == category]

    async def get(self, model: str) -> ModelInfo:
        """One model by id (``"bfl/flux-1-dev"``), endpoint (``"image/bfl/flux-1-dev"``)
        or path. Raises :class:`~krea_async.ModelNotFoundError` (a
        :class:`~krea_async.KreaError`, and a :class:`KeyError` for older code) when
        the bundled spec lacks it."""
        from .._spec.bundle import model_info, suggest  # the bundled spec: read on first use

        found = model_info(model)
        if found is None:
            raise ModelNotFoundError(model, suggestions=suggest(model))
        return found

    async def get_schema(self, model: str) -> Mapping[str, Any]:
        """The JSON Schema of a model's input (the request body of its ``/generate`` path).
        Raises :class:`~krea_async.ModelNotFoundError` for an unknown model."""
        return (await self.get(model)).input_schema

    async def refresh(self) -> builtins.list[ModelInfo]:
        """Load Krea's live OpenAPI document (``GET /openapi.json`` on the client's base
        URL: ``https://api.krea.ai/openapi.json``, or the fake's own) and use it from then
        on, in this process, for :meth:`list`, :meth:`get`, :meth:`get_schema` and the
        input checks, so models added after this SDK was built are known. Returns every
        model of the new document. The typed input classes of :mod:`krea_async.inputs`
        stay those of the bundled spec (regenerate them with
        ``scripts/generate_types.py --spec FILE``).

        Raises what any API call raises (:class:`~krea_async.APIStatusError`,
        :class:`~krea_async.APIConnectionError`, ...) and
        :class:`~krea_async.APIResponseValidationError` for an answer that is not an
        OpenAPI document with generation models (the catalog in use is then kept).
        Source: docs.krea.ai/developers/deprecations ("models added ... appear in the
        live document first").
        """
        from .._spec.bundle import use_document

        body, response = await self._requester.request("GET", "/openapi.json")
        try:
            return list(use_document(body))
        except ValueError as exc:
            raise APIResponseValidationError(
                f"GET /openapi.json returned {response.status_code} with a document the "
                f"SDK cannot read: {exc}",
                response=response,
                body=None,
            ) from exc
