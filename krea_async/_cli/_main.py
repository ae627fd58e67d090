"""The ``krea-async`` click group: global options (key, base URL, fake, logging)."""

from __future__ import annotations

import click

from .. import __version__
from ._runtime import Settings, setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--api-key",
    envvar="KREA_API_KEY",
    show_envvar=True,
    help="Krea API token (made at krea.ai/settings/api-tokens). Without a key and "
    "without a base URL, the embedded offline fake server is used.",
)
@click.option(
    "--base-url",
    envvar="KREA_BASE_URL",
    show_envvar=True,
    help="API base URL (default https://api.krea.ai); http:// only for loopback hosts. "
    "Needs an API key.",
)
@click.option("--fake", is_flag=True, help="Use the embedded offline fake server even with a key.")
@click.option(
    "--fake-time-scale",
    type=click.FloatRange(min=0.0),
    default=0.05,
    show_default=True,
    help="Speed of the fake's jobs: a job takes its model's average seconds times this.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log the SDK's requests (INFO) to stderr.")
@click.option(
    "--backend",
    type=click.Choice(["asyncio", "trio"]),
    default="asyncio",
    hidden=True,
    help="The anyio backend to run on.",
)
@click.version_option(__version__, prog_name="krea-async")
@click.pass_context
def cli(
    ctx: click.Context,
    api_key: str | None,
    base_url: str | None,
    fake: bool,
    fake_time_scale: float,
    verbose: bool,
    backend: str,
) -> None:
    """Generate images and video with the Krea AI API (https://api.krea.ai).

    Set KREA_API_KEY (or pass --api-key) to use Krea. Without a key (and without
    --base-url / KREA_BASE_URL), commands run on an embedded offline fake server
    whose results are placeholders, not made by Krea.
    """
    source = ctx.get_parameter_source("base_url")
    ctx.obj = Settings(
        api_key=api_key,
        base_url=base_url,
        fake=fake,
        fake_time_scale=fake_time_scale,
        backend=backend,
        base_url_from=(
            "KREA_BASE_URL" if source is click.core.ParameterSource.ENVIRONMENT else "--base-url"
        ),
    )
    setup_logging(ctx, verbose)
