"""``python -m krea_async.testing serve``: run the FAKE Krea API on a local port.

::

    python -m krea_async.testing serve --host 127.0.0.1 --port 8000 \\
        [--time-scale 0.05] [--api-key K] [--concurrency N]

Prints the base URL to point a client at (``KREA_BASE_URL``). It is a fake: no
request reaches Krea, nothing is billed, results are placeholder PNGs and a
sample MP4.
"""

from __future__ import annotations

from typing import Literal

import click

from ._fake import FakeKrea
from ._middleware import quiet_uvicorn
from ._server import bind, url_host


@click.group()
def main() -> None:
    """The Krea-compatible fake server of krea-async (for tests; not the real API)."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=int, help="TCP port (0 picks a free one)."
)
@click.option(
    "--time-scale",
    default=0.05,
    show_default=True,
    type=float,
    help="Multiplier of each model's typical completion time (seconds).",
)
@click.option(
    "--api-key", default=None, help="Accept only this Bearer token (default: any non-empty token)."
)
@click.option(
    "--concurrency",
    default=None,
    type=int,
    help="Jobs running at once before new ones are backlogged (default: unlimited).",
)
@click.option(
    "--max-backlog",
    default=None,
    type=int,
    help="Backlogged jobs before submits get 429 (default: unlimited).",
)
@click.option(
    "--balance",
    default=None,
    type=float,
    help="Prepaid balance in USD; 402 once spent (default: unlimited).",
)
@click.option(
    "--lifecycle",
    type=click.Choice(["simple", "full"]),
    default="simple",
    show_default=True,
    help="full: jobs also pass through scheduled, sampling and intermediate-complete.",
)
def serve(
    host: str,
    port: int,
    time_scale: float,
    api_key: str | None,
    concurrency: int | None,
    max_backlog: int | None,
    balance: float | None,
    lifecycle: Literal["simple", "full"],
) -> None:
    """Serve the fake Krea API until interrupted (Ctrl+C)."""
    import uvicorn

    fake = FakeKrea(
        api_key=api_key,
        time_scale=time_scale,
        concurrency=concurrency,
        max_backlog=max_backlog,
        balance=balance,
        lifecycle=lifecycle,
    )
    sock = bind(host, port)
    url = f"http://{url_host(host)}:{sock.getsockname()[1]}"
    click.echo("FAKE Krea API (krea-async testing server): not the real Krea service;")
    click.echo("nothing is generated or billed. Results are placeholder PNGs and a sample MP4.")
    click.echo(f"Base URL: {url}")
    click.echo(f"  e.g. KREA_BASE_URL={url} KREA_API_KEY={api_key or 'any-token'}")
    quiet_uvicorn()
    config = uvicorn.Config(fake.app, log_level="info", lifespan="off", http="h11", ws="none")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        fake.close()


if __name__ == "__main__":
    main()
