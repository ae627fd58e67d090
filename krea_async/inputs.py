"""Typed inputs for every generation model of the bundled Krea spec.

For each ``POST /generate/{category}/{provider}/{model}`` path of Krea's OpenAPI
document (bundled with the SDK) there are two names, derived from the model id:
the path's segments after the category, split on ``/ - . _`` and joined in
PascalCase (``/generate/image/bfl/flux-1-dev`` -> ``BflFlux1Dev``,
``/generate/image/krea/krea-2/medium`` -> ``KreaKrea2Medium``,
``/generate/video/kling/kling-2.1`` -> ``KlingKling21``; were two paths to give the
same name, the category would be prefixed):

- ``BflFlux1DevInput``: a frozen, keyword-only attrs class. Required fields have
  no default (except those allowing a single value, such as Krea 2's
  ``resolution="1K"``, which default to it); optional ones default to ``None``,
  meaning "not sent" (Krea then applies its own default). Values are checked
  when the instance is built, from the schema: types (``TypeError``), enums and
  consts (typed as ``Literal``), ranges, lengths, item counts and patterns
  (``ValueError``), nested objects included. ``to_body()`` returns the JSON
  body. The docstring carries the spec's description, the average completion
  time and the price where known.
- ``BflFlux1DevInputDict``: a ``TypedDict`` of the same keys (required keys
  required), for passing a plain dict with type checking. Dicts are not validated
  by the SDK (Krea answers a 400 for a bad one).

Nested objects are ``TypedDict``\\ s too. Those several endpoints share are named
after the field (``StyleRef`` for ``styles`` items, ``StyleImage``,
``ImageStyleReference``, ``MoodboardRef``, ``TaggedReference``, ``CameraConfig``,
``CameraControlSimple``...); those of one endpoint carry its prefix
(``KlingKling30MultiPrompt``).

``INPUT_TYPES`` maps each endpoint (``"image/bfl/flux-1-dev"``) to its input
class, and ``DEPRECATED_ALIASES`` each endpoint to its deprecated camelCase keys
(camelCase -> snake_case; Krea stopped accepting them on 2026-06-19; the SDK
rewrites them in dicts with a ``DeprecationWarning``).

Usage::

    from krea_async.inputs import BflFlux1DevInput

    job = await krea.image("bfl/flux-1-dev", BflFlux1DevInput(prompt="a red fox", steps=28))
    job = await krea.image("bfl/flux-1-dev", {"prompt": "a red fox", "steps": 28})

The classes are generated from the spec by ``scripts/generate_types.py`` into
:mod:`krea_async._generated.inputs`; this module re-exports them.
"""

from __future__ import annotations

from krea_async._generated import inputs as _generated
from krea_async._generated.inputs import *  # noqa: F403
from krea_async._spec.inputs_runtime import KreaInput

__all__ = ["KreaInput"]
__all__ += _generated.__all__
