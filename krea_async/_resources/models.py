"""``krea.models``: the generation models, answered from the bundled spec.

Like the Node SDK, which ships Krea's openapi.json and answers
``models.list()`` / ``models.getSchema()`` from it, these make no request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .._spec import ModelInfo, generation_endpoints, model_info
from ._base import Resource

__all__ = ["Models"]

Category = Literal["image", "video", "enhance"]


class Models(Resource):
    """Krea's generation models, from the bundled OpenAPI document: ``krea.models``."""

    def list(self, category: Category | None = None) -> list[ModelInfo]:
        """Every generation model (59 in the bundled spec), or those of one ``category``
        (``"image"``, ``"video"`` or ``"enhance"``), as :class:`~krea_async.ModelInfo`.
        Raises :class:`ValueError` for an unknown category."""
        if category is not None and category not in ("image", "video", "enhance"):
            raise ValueError(f"category must be image, video or enhance, got {category!r}")
        return [m for m in generation_endpoints() if category is None or m.category == category]

    def get(self, model: str) -> ModelInfo:
        """One model by id (``"bfl/flux-1-dev"``), endpoint (``"image/bfl/flux-1-dev"``)
        or path. Raises :class:`KeyError` when the bundled spec lacks it."""
        found = model_info(model)
        if found is None:
            raise KeyError(f"unknown model {model!r}; see krea.models.list()")
        return found

    def get_schema(self, model: str) -> Mapping[str, Any]:
        """The JSON Schema of a model's input (the request body of its ``/generate`` path).
        Raises :class:`KeyError` for an unknown model."""
        return self.get(model).input_schema
