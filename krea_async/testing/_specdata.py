"""Krea's OpenAPI document as the fake reads it: the bundled JSON file, loaded as
data (``importlib.resources``), with the fake's own small readers.

The fake does not import the SDK's spec module: it reads the same published
document independently, so the fake stays an independent check on the SDK.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import attrs

__all__ = ["Route", "default_seconds", "generation_routes", "load_spec"]

CATEGORIES = ("image", "video", "enhance")
#: Typical completion times (seconds) where the spec gives none.
_DEFAULT_SECONDS = {"image": 15.0, "video": 120.0, "enhance": 30.0}
_AVG_TIME = re.compile(r"~\s*([\d.]+)\s*(seconds?|minutes?|s|min)\s*\|\s*$", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def load_spec() -> Mapping[str, Any]:
    """The bundled OpenAPI document (``krea_async/_spec/openapi.json``); do not mutate."""
    text = resources.files("krea_async").joinpath("_spec/openapi.json").read_text("utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec


@attrs.frozen(kw_only=True)
class Route:
    """One ``POST /generate/{category}/...`` path: ``path``, ``category``
    (``image``/``video``/``enhance``) and the spec's "Average Completion Time"
    in seconds (``None`` when it gives none)."""

    path: str
    category: str
    average_seconds: float | None


def _average_seconds(description: str) -> float | None:
    for line in description.splitlines():
        m = _AVG_TIME.search(line.strip())
        if m:
            value = float(m.group(1))
            return value * 60 if m.group(2).startswith("min") else value
    return None


@functools.lru_cache(maxsize=1)
def generation_routes() -> Mapping[str, Route]:
    """Every generation path of the bundled spec, by path."""
    out: dict[str, Route] = {}
    for path, ops in load_spec()["paths"].items():
        op = ops.get("post")
        if not path.startswith("/generate/") or op is None:
            continue
        category = path.split("/")[2]
        if category in CATEGORIES:
            out[path] = Route(
                path=path,
                category=category,
                average_seconds=_average_seconds(op.get("description", "")),
            )
    return out


def default_seconds(category: str) -> float:
    """A typical completion time (seconds) for a category, when the spec gives none."""
    return _DEFAULT_SECONDS.get(category, 30.0)
