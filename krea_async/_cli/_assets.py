"""``krea-async upload FILE`` and ``krea-async assets list | show | delete``
(``/assets``)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import Asset, AsyncKrea
from ._output import echo_json, table
from ._runtime import run, settings
from ._safe_text import echo


def _asset_json(asset: Asset) -> dict[str, object]:
    return dict(asset.raw) or {"id": asset.id, "image_url": asset.image_url}


def _size(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@click.command("upload", short_help="Upload a file as an asset (POST /assets).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--description", help="A description stored with the asset.")
@click.option("--json", "as_json", is_flag=True, help="Print the asset as JSON.")
def upload(file: Path, description: str | None, as_json: bool) -> None:
    """Upload a file as an asset (POST /assets, at most 75 MB) and print its id and URL.

    Pass the URL as an input image, e.g. --image-url URL or -i image_urls=URL (the
    generate commands also upload --image-url @path themselves).
    """

    async def go(krea: AsyncKrea) -> None:
        asset = await krea.assets.upload(file, description=description)
        if as_json:
            echo_json(_asset_json(asset))
            return
        echo(f"id   {asset.id}")
        echo(f"url  {asset.image_url}")

    run(settings(), go)


@click.group(short_help="Upload, list, show and delete assets.")
def assets() -> None:
    """Your uploaded files (POST/GET /assets, GET/DELETE /assets/{id})."""


assets.add_command(upload)


@assets.command("list")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most this many assets.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the assets as a JSON array.")
def assets_list(limit: int, as_json: bool) -> None:
    """List this account's assets: id, type, size in pixels and bytes, URL (GET /assets)."""

    async def go(krea: AsyncKrea) -> None:
        found: list[Asset] = []
        async for asset in krea.assets.list(limit=min(limit, 1000)):
            found.append(asset)
            if len(found) >= limit:
                break
        if as_json:
            echo_json([_asset_json(a) for a in found])
            return
        if not found:
            echo("no assets", err=True)
            return
        rows = [
            (
                a.id,
                a.mime_type or "",
                f"{_size(a.width)}x{_size(a.height)}" if a.width and a.height else "",
                _size(a.size_bytes),
                a.image_url,
            )
            for a in found
        ]
        table(("ASSET", "TYPE", "PIXELS", "BYTES", "URL"), rows)

    run(settings(), go)


@assets.command("show")
@click.argument("asset_id")
@click.option("--json", "as_json", is_flag=True, help="Print the asset as Krea sent it.")
def assets_show(asset_id: str, as_json: bool) -> None:
    """Show one asset (GET /assets/{id})."""

    async def go(krea: AsyncKrea) -> None:
        asset = await krea.assets.get(asset_id)
        if as_json:
            echo_json(_asset_json(asset))
            return
        echo(f"id           {asset.id}")
        echo(f"url          {asset.image_url}")
        for label, value in (
            ("type", asset.mime_type),
            ("width", _size(asset.width)),
            ("height", _size(asset.height)),
            ("bytes", _size(asset.size_bytes)),
            ("uploaded", asset.uploaded_at.isoformat() if asset.uploaded_at else None),
            ("description", asset.description),
        ):
            if value:
                echo(f"{label:<12} {value}")

    run(settings(), go)


@assets.command("delete")
@click.argument("asset_id")
def assets_delete(asset_id: str) -> None:
    """Delete an asset (DELETE /assets/{id})."""

    async def go(krea: AsyncKrea) -> None:
        await krea.assets.delete(asset_id)
        echo(f"deleted {asset_id}")

    run(settings(), go)
