"""Krea's OpenAPI document, bundled, and what the SDK reads from it.

The file ``krea_async/_spec/openapi.json`` is Krea's published document
(``https://api.krea.ai/openapi.json``, snapshot of August 2026) with the three
Krea 2 routes merged in from Krea's API reference pages (the snapshot lacks
them); see the README ("Where the spec comes from"). Nothing here touches the
network.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs

__all__ = [
    "ModelInfo",
    "declared_types",
    "generation_endpoints",
    "load_spec",
    "model_info",
    "schema_types",
]

CATEGORIES = ("image", "video", "enhance")

#: Fallback average completion times (seconds) where the spec gives none.
_DEFAULT_SECONDS = {"image": 15.0, "video": 120.0, "enhance": 30.0}
_AVG_TIME = re.compile(r"~\s*([\d.]+)\s*(seconds?|minutes?|s|min)\s*\|\s*$", re.MULTILINE)
_ALIASES_KEY = "x-krea-deprecated-field-aliases"


@functools.lru_cache(maxsize=1)
def load_spec() -> Mapping[str, Any]:
    """The bundled OpenAPI document as a (shared, do-not-mutate) dict."""
    text = resources.files("krea_async").joinpath("_spec/openapi.json").read_text("utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec


@attrs.frozen(kw_only=True)
class ModelInfo:
    """A generation model of the Krea API, as the bundled spec describes it.

    - ``id``: the model name used by ``krea.image()`` and friends, e.g. ``"bfl/flux-1-dev"``
      or ``"krea/krea-2/medium"``.
    - ``category``: ``"image"``, ``"video"`` or ``"enhance"``.
    - ``endpoint``: ``"image/bfl/flux-1-dev"``, as ``subscribe()`` takes it.
    - ``path``: the HTTP path, ``"/generate/image/bfl/flux-1-dev"``.
    - ``name``: the spec's summary (``"Flux"``); ``description``: its description.
    - ``average_seconds``: the spec's "Average Completion Time" in seconds, or
      ``None`` when the spec gives none.
    - ``input_schema``: the JSON Schema of the request body.
    - ``deprecated_aliases``: camelCase key -> snake_case key, from the path's
      ``x-krea-deprecated-field-aliases`` (no longer accepted since 2026-06-19).
    """

    id: str
    category: str
    endpoint: str
    path: str
    name: str
    description: str = attrs.field(repr=False)
    average_seconds: float | None
    input_schema: Mapping[str, Any] = attrs.field(repr=False)
    deprecated_aliases: Mapping[str, str] = attrs.field(repr=False, factory=dict)


def _average_seconds(description: str) -> float | None:
    for line in description.splitlines():
        m = _AVG_TIME.search(line.strip())
        if m:
            value = float(m.group(1))
            return value * 60 if m.group(2).startswith("min") else value
    return None


@functools.lru_cache(maxsize=1)
def generation_endpoints() -> tuple[ModelInfo, ...]:
    """Every ``POST /generate/{category}/...`` path of the bundled spec, in spec order."""
    out: list[ModelInfo] = []
    for path, ops in load_spec()["paths"].items():
        if not path.startswith("/generate/"):
            continue
        op = ops.get("post")
        if op is None:
            continue
        _, _, category, model = path.split("/", 3)
        if category not in CATEGORIES:
            continue
        description = op.get("description", "")
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        aliases = {a["from"]: a["to"] for a in op.get(_ALIASES_KEY, [])}
        out.append(
            ModelInfo(
                id=model,
                category=category,
                endpoint=f"{category}/{model}",
                path=path,
                name=op.get("summary", model),
                description=description,
                average_seconds=_average_seconds(description),
                input_schema=schema,
                deprecated_aliases=aliases,
            )
        )
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _by_endpoint() -> Mapping[str, ModelInfo]:
    table: dict[str, ModelInfo] = {}
    for info in generation_endpoints():
        table[info.endpoint] = info
        table[info.path] = info
    return table


def model_info(name: str, category: str | None = None) -> ModelInfo | None:
    """Find a model by id (``"bfl/flux-1-dev"``), endpoint (``"image/bfl/flux-1-dev"``)
    or path (``"/generate/image/bfl/flux-1-dev"``); ``None`` when the spec lacks it."""
    table = _by_endpoint()
    key = name.strip("/")
    if category is not None:
        found = table.get(f"{category}/{key}")
        if found is not None:
            return found
    found = table.get(key) or table.get("/" + key) or table.get("/generate/" + key)
    if found is not None:
        return found
    matches = [i for i in generation_endpoints() if i.id == key]
    return matches[0] if len(matches) == 1 else None


def default_seconds(category: str) -> float:
    """A typical completion time (seconds) for a category, when the spec gives none."""
    return _DEFAULT_SECONDS.get(category, 30.0)


def declared_types(schema: Mapping[str, Any]) -> list[str]:
    """The JSON types a schema's ``type`` keyword names, in order (``"object"`` when
    it has no ``type`` but ``properties``; ``[]`` when it says nothing). The one
    reader of ``type``: the input validators, the CLI and the generator use it."""
    kind = schema.get("type")
    if kind is None:
        return ["object"] if "properties" in schema else []
    return [kind] if isinstance(kind, str) else [str(k) for k in kind]


def schema_types(schema: Mapping[str, Any]) -> set[str]:
    """Every JSON type a value of ``schema`` may have, through ``anyOf`` / ``oneOf``."""
    out = set(declared_types(schema))
    for key in ("anyOf", "oneOf"):
        for alt in schema.get(key) or ():
            if isinstance(alt, Mapping):
                out |= schema_types(alt)
    return out
