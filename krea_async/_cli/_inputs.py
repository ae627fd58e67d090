"""Input parsing: ``-i FIELD=VALUE``, ``--image-url`` mapped to each model's real
field, ``@path`` file references, and model names.

``@path`` (also inside a JSON value, e.g. ``-i 'image_urls=["@a.jpg"]'``) names a
local file; the generate commands upload it (``POST /assets``) and send the
asset's URL. ``@@text`` is the literal ``@text``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .. import AsyncKrea, ModelInfo
from ._errors import CliUsageError, fail
from ._sdk import data_uri, model_info, schema_types, split_endpoint

#: The fields ``--image-url`` fills, in order of preference: the first one a
#: model's input schema has is used (``image_urls`` is an array, the others a URL).
IMAGE_FIELDS = ("image_url", "image_urls", "start_image", "init_image_url", "reference_images")


@attrs.frozen
class FileRef:
    """A local file named by ``@path``, to upload before the request is sent."""

    path: Path


def inline_file(name: str, path: Path) -> str:
    """Read ``path`` as a ``data:`` URI (what :func:`parse_field` does by default)."""
    try:
        return data_uri(path)
    except (OSError, ValueError) as exc:
        fail(f"{name}: cannot read {str(path)!r}: {exc}", 2)


def file_ref(name: str, path: Path) -> FileRef:
    """Keep ``path`` as a :class:`FileRef` (the generate commands upload it)."""
    return FileRef(path)


FileHandler = Callable[[str, Path], Any]


def _at_value(name: str, text: str, files: FileHandler) -> Any:
    """``@@x`` -> ``"@x"``; ``@path`` -> ``files(name, path)``; other text as it is."""
    if text.startswith("@@"):
        return text[1:]
    if text.startswith("@") and len(text) > 1:
        path = Path(text[1:]).expanduser()
        if not path.is_file():
            fail(f"{name}: no such file {str(path)!r}", 2)
        return files(name, path)
    return text


def _resolve_refs(name: str, value: Any, files: FileHandler) -> Any:
    """``@`` references inside a decoded JSON value (lists and objects, any depth)."""
    if isinstance(value, str):
        return _at_value(name, value, files)
    if isinstance(value, list):
        return [_resolve_refs(name, item, files) for item in value]
    if isinstance(value, dict):
        return {k: _resolve_refs(name, v, files) for k, v in value.items()}
    return value


def parse_field(
    spec: str, schema: Mapping[str, Any] | None, *, files: FileHandler = inline_file
) -> tuple[str, Any]:
    """``field=value``: JSON when valid (numbers, true/false, lists), else a string.

    ``@path`` names a local file, also as a string inside a JSON list or object
    (a quoted JSON string, ``"@x"``, is kept as it is);
    ``files(name, path)`` makes its value (by default a ``data:`` URI; the generate
    commands pass :func:`file_ref` and upload it). ``@@text`` is the literal
    ``@text``. A field whose schema type is ``string`` keeps the text as it is.
    """
    name, sep, text = spec.partition("=")
    name = name.strip()
    if not sep or not name:
        fail(f"-i expects FIELD=VALUE, got {spec!r}", 2)
    prop = properties(schema).get(name, {})
    value: Any
    if text.startswith("@"):
        return name, _at_value(name, text, files)
    try:
        value = json.loads(text)
    except ValueError:
        return name, text
    if schema_types(prop) == {"string"} and not isinstance(value, str):
        return name, text  # e.g. a prompt of "42" stays a string
    if isinstance(value, list | dict):  # a JSON string literal ("@x") stays as it is
        value = _resolve_refs(name, value, files)
    return name, value


def properties(schema: Mapping[str, Any] | None) -> Mapping[str, Mapping[str, Any]]:
    """The ``properties`` of an object schema (``{}`` when there are none)."""
    if not schema:
        return {}
    props = schema.get("properties")
    return props if isinstance(props, Mapping) else {}


def build_input(
    fields: Sequence[str],
    named: Mapping[str, Any],
    schema: Mapping[str, Any] | None,
    *,
    files: FileHandler = inline_file,
) -> dict[str, Any]:
    """The request body: named options first, then ``-i`` fields (which win).

    A repeated ``-i`` field, or a single value for an ``array`` field, builds a list.
    """
    body: dict[str, Any] = {k: v for k, v in named.items() if v is not None}
    props = properties(schema)
    seen: set[str] = set()
    for spec in fields:
        name, value = parse_field(spec, schema, files=files)
        is_array = "array" in schema_types(props.get(name, {}))
        if name in seen and (is_array or name in body):
            previous = body[name]
            items = previous if isinstance(previous, list) else [previous]
            body[name] = [*items, *(value if isinstance(value, list) else [value])]
        elif is_array and not isinstance(value, list) and value is not None:
            body[name] = [value]
        else:
            body[name] = value
        seen.add(name)
    return body


def image_options(
    images: Sequence[str], info: ModelInfo | None, *, files: FileHandler = file_ref
) -> dict[str, Any]:
    """``--image-url`` values as the model's own input field, from the bundled spec.

    ``image_url`` for Flux and the enhancers, ``image_urls`` (an array) for Nano
    Banana and GPT Image, ``start_image`` for video models; see
    :data:`IMAGE_FIELDS`. A model without such a field is a usage error; without
    a spec (``--force``) the field is ``image_url``.
    """
    if not images:
        return {}
    values = [_at_value("--image-url", text, files) for text in images]
    if info is None:
        field, is_array = "image_url", len(values) > 1
    else:
        props = properties(info.input_schema)
        found = next((f for f in IMAGE_FIELDS if f in props), None)
        if found is None:
            fail(
                f"{info.id} takes no input image (none of {', '.join(IMAGE_FIELDS)}); "
                f"see krea-async models show {info.id}",
                2,
            )
        field, is_array = found, "array" in schema_types(props[found])
    if is_array:
        return {field: values}
    if len(values) > 1:
        fail(f"{info.id if info else 'this model'} takes one input image ({field})", 2)
    return {field: values[0]}


async def upload_refs(krea: AsyncKrea, value: Any, done: dict[Path, str] | None = None) -> Any:
    """``value`` with every :class:`FileRef` uploaded (``krea.assets.upload``) and
    replaced by the asset's URL; a file named twice is uploaded once."""
    done = {} if done is None else done
    if isinstance(value, FileRef):
        if value.path not in done:
            asset = await krea.assets.upload(value.path)
            done[value.path] = asset.image_url
        return done[value.path]
    if isinstance(value, list):
        return [await upload_refs(krea, item, done) for item in value]
    if isinstance(value, dict):
        return {k: await upload_refs(krea, v, done) for k, v in value.items()}
    return value


def resolve_model(category: str, model: str, *, force: bool) -> tuple[str, ModelInfo | None]:
    """``(model id, spec info)``; an unknown model is a usage error unless ``--force``.

    ``model`` is ``provider/model``, or an endpoint (``image/provider/model``,
    ``/generate/image/provider/model``), normalised by the SDK's endpoint parser.
    """
    try:
        given, path = split_endpoint(model)
    except ValueError:
        given, path = None, ""
    name = path[len("/generate/") :]
    if given is not None and name.count("/") >= 2:
        name = name.split("/", 1)[1]
        if given != category:
            fail(f"{model!r} is {_article(given)} model; use krea-async generate {given}", 2)
    if not name or "/" not in name:
        fail(f"model must look like provider/model (e.g. bfl/flux-1-dev), got {model!r}", 2)
    info = model_info(f"{category}/{name}")
    if info is not None:
        return name, info
    if force:
        return name, None
    other = model_info(name)
    if other is not None:
        fail(
            f"{name!r} is {_article(other.category)} model, not {category}; "
            f"use krea-async generate {other.category} {name}",
            2,
        )
    raise CliUsageError(
        f"no such {category} model {name!r}; see krea-async models list --category "
        f"{category} (use --force to send it anyway)"
    )


def _article(category: str) -> str:
    """``"an image"``, ``"an enhance"``, ``"a video"``."""
    return f"{'an' if category[:1] in 'aeiou' else 'a'} {category}"
