"""``krea-async models list | show | refresh``: ``list`` and ``show`` read the bundled
spec (no request is made); ``refresh`` loads Krea's live one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from .. import ModelInfo
from ._errors import fail
from ._inputs import properties
from ._output import echo_json, table
from ._runtime import run, settings
from ._safe_text import echo
from ._sdk import (
    CATEGORIES,
    AsyncKrea,
    active_document,
    generation_endpoints,
    model_info,
    schema_types,
)


@click.group(short_help="List models, show their input fields, load Krea's live list.")
def models() -> None:
    """Krea's generation models, from the bundled API spec (no request is made), and
    ``models refresh``, which loads Krea's live list (GET /openapi.json)."""


def sorted_models(category: str | None) -> list[ModelInfo]:
    """The models of the bundled spec, grouped by category (image, video, enhance)
    and sorted by id within each group."""
    order = {name: n for n, name in enumerate(CATEGORIES)}
    found = [m for m in generation_endpoints() if category is None or m.category == category]
    return sorted(found, key=lambda m: (order.get(m.category, len(order)), m.id))


@models.command("list")
@click.option(
    "--category", type=click.Choice(list(CATEGORIES)), help="Only image, video or enhance models."
)
@click.option("--json", "as_json", is_flag=True, help="Print the models as a JSON array.")
def models_list(category: str | None, as_json: bool) -> None:
    """List the models: id, category, name and average completion time in seconds.

    Grouped by category (image, video, enhance), sorted by id. These are the POST
    /generate/{category}/{model} paths of Krea's bundled OpenAPI document (what
    krea.models.list() returns).
    """
    found = sorted_models(category)
    if as_json:
        echo_json(
            [
                {
                    "id": m.id,
                    "category": m.category,
                    "name": m.name,
                    "path": m.path,
                    "average_seconds": m.average_seconds,
                }
                for m in found
            ]
        )
        return
    rows = [
        (
            m.id,
            m.category,
            m.name,
            "" if m.average_seconds is None else f"{m.average_seconds:g}",
        )
        for m in found
    ]
    table(("MODEL", "CATEGORY", "NAME", "AVG SECONDS"), rows)


def find_model(model: str) -> ModelInfo:
    """The model named by id or endpoint; unknown or ambiguous is a usage error."""
    info = model_info(model)
    if info is None:
        matches = [m for m in generation_endpoints() if m.id == model.strip("/")]
        if len(matches) > 1:
            options = ", ".join(m.endpoint for m in matches)
            fail(f"{model!r} is in several categories; name one of: {options}", 2)
        fail(f"no such model {model!r}; see krea-async models list", 2)
    return info


def type_text(prop: Mapping[str, Any]) -> str:
    """``string``, ``integer?`` (nullable), ``array[string]``..."""
    kinds = sorted(schema_types(prop) - {"null"}) or ["any"]
    text = "|".join(kinds)
    if "array" in kinds:
        items = prop.get("items")
        if isinstance(items, Mapping):
            inner = "|".join(sorted(schema_types(items) - {"null"})) or "any"
            text = text.replace("array", f"array[{inner}]")
    if "null" in schema_types(prop):
        text += "?"
    return text


def range_text(prop: Mapping[str, Any]) -> str:
    """Every enum choice (``a|b|c``, never cut off), or ``low..high``, or item counts."""
    enum = prop.get("enum")
    if not isinstance(enum, list):
        items = prop.get("items")
        enum = items.get("enum") if isinstance(items, Mapping) else None
    if isinstance(enum, list):
        return "|".join(str(v) for v in enum if v is not None)
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum", prop.get("exclusiveMaximum"))
    if low is None and high is None:
        for key in ("minItems", "maxItems"):
            if key in prop:
                return f"{prop.get('minItems', 0)}..{prop.get('maxItems', '')} items"
        return ""
    return f"{'' if low is None else _num(low)}..{'' if high is None else _num(high)}"


def _num(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@models.command("show")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the input JSON Schema.")
def models_show(model: str, as_json: bool) -> None:
    """Show a model's input fields: name, type, required, range or choices, default.

    MODEL is an id (bfl/flux-1-dev) or an endpoint (image/bfl/flux-1-dev). This is
    the request body schema of POST /generate/{category}/MODEL in the bundled spec
    (krea.models.get_schema()). Every choice of an enum is listed.
    """
    info = find_model(model)
    schema = info.input_schema
    if as_json:
        echo_json(schema)
        return
    seconds = "" if info.average_seconds is None else f", about {info.average_seconds:g} s"
    echo(f"{info.id}: {info.name} ({info.category}{seconds})")
    echo(f"POST {info.path}")
    required = set(schema.get("required") or ())
    rows = []
    for name, prop in properties(schema).items():
        default = prop.get("default")
        rows.append(
            (
                name,
                type_text(prop),
                "yes" if name in required else "",
                range_text(prop),
                "" if default is None else json.dumps(default),
            )
        )
    echo("")
    table(("FIELD", "TYPE", "REQUIRED", "RANGE/CHOICES", "DEFAULT"), rows)


@models.command("refresh")
@click.option(
    "--save",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write Krea's document to FILE, to generate typed inputs from it "
    "(python scripts/generate_types.py --spec FILE).",
)
def models_refresh(save: str | None) -> None:
    """Load Krea's live model list (GET /openapi.json on the API) and show how it
    differs from the spec bundled with this version: the models added since, and
    those Krea no longer lists (krea.models.refresh()). Models newer than the bundled
    spec can be used all the same: krea-async generate sends any model Krea knows.
    """
    bundled = {m.endpoint for m in generation_endpoints()}

    async def go(krea: AsyncKrea) -> list[ModelInfo]:
        return await krea.models.refresh()

    live = run(settings(), go)
    names = {m.endpoint for m in live}
    echo(f"{len(live)} models in Krea's live list ({len(bundled)} bundled)")
    for title, endpoints in (
        ("new since this version", sorted(names - bundled)),
        ("no longer listed", sorted(bundled - names)),
    ):
        if endpoints:
            echo(f"{title}:")
            for endpoint in endpoints:
                echo(f"  {endpoint}")
    if save is not None:
        with open(save, "w", encoding="utf-8") as out:
            json.dump(active_document(), out, indent=2, ensure_ascii=False)
            out.write("\n")
        echo(f"saved to {save}")
