"""Krea's OpenAPI document, bundled, and what the SDK reads from it.

The file ``krea_async/_spec/openapi.json`` is Krea's published document
(``https://api.krea.ai/openapi.json``, snapshot of August 2026) with the three
Krea 2 routes merged in from Krea's API reference pages (the snapshot lacks
them); see the README ("Where the spec comes from"). Nothing here touches the
network: ``krea.models.refresh()`` fetches Krea's live document and hands it to
:func:`use_document`, so models added after this SDK was built are known too.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import unicodedata
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs

__all__ = [
    "ModelInfo",
    "active_document",
    "bundled_endpoints",
    "declared_types",
    "generation_endpoints",
    "load_spec",
    "model_info",
    "schema_types",
    "suggest",
    "use_bundled",
    "use_document",
]

CATEGORIES = ("image", "video", "enhance")

#: Fallback average completion times (seconds) where the spec gives none.
_DEFAULT_SECONDS = {"image": 15.0, "video": 120.0, "enhance": 30.0}
_AVG_TIME = re.compile(r"~\s*([\d.]+)\s*(seconds?|minutes?|s|min)\s*\|\s*$", re.MULTILINE)
_ALIASES_KEY = "x-krea-deprecated-field-aliases"
#: A model id a fetched document may name: what a path segment of Krea's holds, so a
#: name from the network is safe to print and to put in a URL.
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*){1,3}")


def _printable(text: str) -> str:
    """``text`` without control or format characters (terminal escapes, bidi overrides)."""
    return "".join(c for c in text if unicodedata.category(c)[0] != "C" or c == " ")


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


def _generation_endpoints_of(document: Mapping[str, Any]) -> tuple[ModelInfo, ...]:
    """Every ``POST /generate/{category}/...`` path of ``document``, in document order.

    A path whose operation lacks the parts a model needs (a JSON request body with a
    schema) is left out, so one malformed entry of a fetched document hides only
    itself."""
    paths = document.get("paths")
    if not isinstance(paths, Mapping):
        raise ValueError("an OpenAPI document needs a 'paths' object")  # noqa: TRY004 - bad data, not a bad call
    out: list[ModelInfo] = []
    for path, ops in paths.items():
        if not isinstance(path, str) or not path.startswith("/generate/"):
            continue
        op = ops.get("post") if isinstance(ops, Mapping) else None
        if not isinstance(op, Mapping):
            continue
        parts = path.split("/", 3)
        if len(parts) != 4 or parts[2] not in CATEGORIES or not _MODEL_ID.fullmatch(parts[3]):
            continue
        category, model = parts[2], parts[3]
        try:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            aliases = {str(a["from"]): str(a["to"]) for a in op.get(_ALIASES_KEY, [])}
        except (KeyError, TypeError):
            continue
        if not isinstance(schema, Mapping):
            continue
        description = op.get("description", "")
        description = description if isinstance(description, str) else ""
        summary = op.get("summary")
        summary = _printable(summary) if isinstance(summary, str) else model
        out.append(
            ModelInfo(
                id=model,
                category=category,
                endpoint=f"{category}/{model}",
                path=path,
                name=summary or model,
                description=description,
                average_seconds=_average_seconds(description),
                input_schema=schema,
                deprecated_aliases=aliases,
            )
        )
    return tuple(out)


@attrs.frozen
class _Catalog:
    """The models of one OpenAPI document, with a lookup table by endpoint and path."""

    document: Mapping[str, Any]
    endpoints: tuple[ModelInfo, ...]
    by_endpoint: Mapping[str, ModelInfo]

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> _Catalog:
        endpoints = _generation_endpoints_of(document)
        table: dict[str, ModelInfo] = {}
        for info in endpoints:
            table[info.endpoint] = info
            table[info.path] = info
        return cls(document, endpoints, table)


#: The catalog in use: the bundled spec's until :func:`use_document` installs a newer one.
_active: _Catalog | None = None


def _catalog() -> _Catalog:
    global _active
    if _active is None:
        _active = _Catalog.of(load_spec())
    return _active


def use_document(document: object) -> tuple[ModelInfo, ...]:
    """Install ``document`` (Krea's live OpenAPI document, as ``krea.models.refresh()``
    fetches it from ``GET https://api.krea.ai/openapi.json``) as the process's model
    catalog: :func:`generation_endpoints`, :func:`model_info` and the input checks read
    it from then on. Returns its models. Raises :class:`ValueError` (nothing installed)
    for a document without a ``paths`` object or with no generation model at all."""
    global _active
    if not isinstance(document, Mapping):
        raise ValueError("an OpenAPI document is a JSON object")  # noqa: TRY004 - bad data, not a bad call
    catalog = _Catalog.of(document)
    if not catalog.endpoints:
        raise ValueError("the OpenAPI document lists no generation model")
    _active = catalog
    return catalog.endpoints


def use_bundled() -> None:
    """Go back to the bundled spec's catalog (undoes :func:`use_document`)."""
    global _active
    _active = None


def active_document() -> Mapping[str, Any]:
    """The OpenAPI document the catalog in use was read from (do not mutate)."""
    return _catalog().document


def bundled_endpoints() -> tuple[ModelInfo, ...]:
    """The generation models of the bundled spec, whatever catalog is in use."""
    return _Catalog.of(load_spec()).endpoints if _active is not None else _catalog().endpoints


def generation_endpoints() -> tuple[ModelInfo, ...]:
    """Every generation model of the catalog in use (the bundled spec, or the live
    document :func:`use_document` installed), in document order."""
    return _catalog().endpoints


def model_info(name: str, category: str | None = None) -> ModelInfo | None:
    """Find a model by id (``"bfl/flux-1-dev"``), endpoint (``"image/bfl/flux-1-dev"``)
    or path (``"/generate/image/bfl/flux-1-dev"``); ``None`` when the catalog lacks it."""
    catalog = _catalog()
    table = catalog.by_endpoint
    key = name.strip("/")
    if category is not None:
        found = table.get(f"{category}/{key}")
        if found is not None:
            return found
    found = table.get(key) or table.get("/" + key) or table.get("/generate/" + key)
    if found is not None:
        return found
    matches = [i for i in catalog.endpoints if i.id == key]
    return matches[0] if len(matches) == 1 else None


def suggest(name: str, limit: int = 3) -> list[str]:
    """Up to ``limit`` endpoints of the catalog in use whose names are closest to
    ``name`` (an id, endpoint or path), closest first; ``[]`` when none is close. For
    "did you mean" hints; a model newer than the catalog is never refused for it."""
    key = name.strip("/")
    key = key[len("generate/") :] if key.startswith("generate/") else key
    endpoints = [i.endpoint for i in _catalog().endpoints]
    by_id = {i.id: i.endpoint for i in _catalog().endpoints}
    close = difflib.get_close_matches(key, endpoints, n=limit, cutoff=0.6)
    for match in difflib.get_close_matches(key, list(by_id), n=limit, cutoff=0.6):
        if by_id[match] not in close:
            close.append(by_id[match])
    return close[:limit]


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
