"""``krea-async upload FILE``: ``POST /assets``."""

from __future__ import annotations

from pathlib import Path

import click

from .._client import AsyncKrea
from ._output import echo_json
from ._runtime import run, settings


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
            echo_json(dict(asset.raw) or {"id": asset.id, "image_url": asset.image_url})
            return
        click.echo(f"id   {asset.id}")
        click.echo(f"url  {asset.image_url}")

    run(settings(), go)
