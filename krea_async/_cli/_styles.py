"""``krea-async styles list | show`` (``GET /styles``, ``GET /styles/{id}``)."""

from __future__ import annotations

from typing import get_args

import click

from .. import AsyncKrea, Style
from ._output import echo_json, table
from ._runtime import run, settings
from ._safe_text import echo
from ._sdk import StyleFilter


def _style_json(style: Style) -> dict[str, object]:
    return dict(style.raw) or {"id": style.id, "title": style.title}


@click.group(short_help="List and show styles (LoRAs).")
def styles() -> None:
    """Styles, typically LoRAs, to pass as a generation's styles (GET /styles)."""


@styles.command("list")
@click.option(
    "--filter",
    "which",
    type=click.Choice(get_args(StyleFilter)),
    help="Which styles (Krea's default: all).",
)
@click.option("--model", help="Only styles compatible with this model name (e.g. flux_dev).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most this many styles.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the styles as a JSON array.")
def styles_list(which: StyleFilter | None, model: str | None, limit: int, as_json: bool) -> None:
    """List styles: id, title, compatible models, owner (GET /styles)."""

    async def go(krea: AsyncKrea) -> None:
        found: list[Style] = []
        async for style in krea.styles.list(filter=which, model=model, limit=min(limit, 1000)):
            found.append(style)
            if len(found) >= limit:
                break
        if as_json:
            echo_json([_style_json(s) for s in found])
            return
        if not found:
            echo("no styles", err=True)
            return
        rows = [
            (
                s.id,
                s.title or "",
                ",".join(s.models),
                s.owner.name if s.owner else "krea",
            )
            for s in found
        ]
        table(("STYLE", "TITLE", "MODELS", "OWNER"), rows)

    run(settings(), go)


@styles.command("show")
@click.argument("style_id")
@click.option("--json", "as_json", is_flag=True, help="Print the style as Krea sent it.")
def styles_show(style_id: str, as_json: bool) -> None:
    """Show one style (GET /styles/{id})."""

    async def go(krea: AsyncKrea) -> None:
        style = await krea.styles.get(style_id)
        if as_json:
            echo_json(_style_json(style))
            return
        echo(f"id       {style.id}")
        for label, value in (
            ("title", style.title),
            ("models", ", ".join(style.models)),
            ("owner", style.owner.name if style.owner else "krea"),
            ("public", "yes" if style.public else "no"),
            ("created", style.created_at),
            ("prompt", style.prompt),
        ):
            if value:
                echo(f"{label:<8} {value}")
        for url in style.urls:
            echo(f"preview  {url}")

    run(settings(), go)
