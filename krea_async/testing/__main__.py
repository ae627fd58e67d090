"""``python -m krea_async.testing serve``: run the FAKE Krea API on a local port.

::

    python -m krea_async.testing serve --host 127.0.0.1 --port 8000 \\
        [--time-scale 0.05] [--api-key K] [--concurrency N] [--fail-share 0.1] ...

Every option is listed by ``--help`` and in docs/content/testing.md.

Prints the base URL to point a client at (``KREA_BASE_URL``). It is a fake: no
request reaches Krea, nothing is billed, results are placeholder PNGs and a
sample MP4.
"""

from __future__ import annotations

from typing import Literal

import click

from ._fake import FakeKrea
from ._middleware import quiet_uvicorn
from ._outcomes import CAUSES
from ._server import bind, url_host
from ._webhooks import WebhookPolicy


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
@click.option(
    "--fail-share",
    default=None,
    type=click.FloatRange(0.0, 1.0),
    help="Share (0..1) of jobs that fail with --fail-cause (seeded by --seed).",
)
@click.option(
    "--fail-prompt",
    multiple=True,
    metavar="REGEX",
    help="Jobs whose prompt matches this regular expression fail (repeatable).",
)
@click.option(
    "--fail-cause",
    type=click.Choice(sorted(CAUSES)),
    default="provider_error",
    show_default=True,
    help="Why --fail-share/--fail-prompt jobs fail (timeout: they hang until Krea's time-out).",
)
@click.option(
    "--time-outs/--no-time-outs",
    default=True,
    show_default=True,
    help="Fail runs longer than Krea's time-outs (180 s hosted, 7200 s external).",
)
@click.option(
    "--cancel-refused",
    type=click.Choice(["200", "400", "409"]),
    default="200",
    show_default=True,
    help="Answer to DELETE of a job that is not queued or processing (it runs on).",
)
@click.option(
    "--deprecate",
    multiple=True,
    metavar="MODEL:SUNSET[:REPLACEMENT]",
    help="Deprecate a model until SUNSET (YYYY-MM-DD), then 410 (repeatable).",
)
@click.option(
    "--sunset",
    multiple=True,
    metavar="MODEL[:REPLACEMENT]",
    help="Make a model gone now: 410 model_unavailable (repeatable).",
)
@click.option(
    "--rate-limit",
    multiple=True,
    metavar="CLASS=PER_SECOND",
    help="At most PER_SECOND requests a second of CLASS (status, submit, all), then 429.",
)
@click.option(
    "--rate-limit-retry-after/--no-rate-limit-retry-after",
    default=True,
    show_default=True,
    help="Send Retry-After on --rate-limit 429s.",
)
@click.option(
    "--cursor-key",
    type=click.Choice(["next_cursor", "nextCursor", "both"]),
    default="next_cursor",
    show_default=True,
    help="Key of the cursor in list answers.",
)
@click.option(
    "--webhooks/--no-webhooks",
    default=False,
    show_default=True,
    help="POST X-Webhook-URL webhooks for real (else they are only recorded).",
)
@click.option(
    "--webhook-workers",
    default=8,
    show_default=True,
    type=click.IntRange(1),
    help="Deliveries at once.",
)
@click.option(
    "--webhook-duplicates",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Extra copies.",
)
@click.option(
    "--webhook-delay",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds before each POST.",
)
@click.option(
    "--webhook-reorder",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Each copy waits a further random 0..S seconds (reordering).",
)
@click.option(
    "--webhook-loss",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Probability that a copy is lost.",
)
@click.option(
    "--webhook-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds to wait for a receiver's answer.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every random draw.")
def serve(
    host: str,
    port: int,
    time_scale: float,
    api_key: str | None,
    concurrency: int | None,
    max_backlog: int | None,
    balance: float | None,
    lifecycle: Literal["simple", "full"],
    fail_share: float | None,
    fail_prompt: tuple[str, ...],
    fail_cause: str,
    time_outs: bool,
    cancel_refused: str,
    deprecate: tuple[str, ...],
    sunset: tuple[str, ...],
    rate_limit: tuple[str, ...],
    rate_limit_retry_after: bool,
    cursor_key: Literal["next_cursor", "nextCursor", "both"],
    webhooks: bool,
    webhook_workers: int,
    webhook_duplicates: int,
    webhook_delay: float,
    webhook_reorder: float,
    webhook_loss: float,
    webhook_timeout: float,
    seed: int,
) -> None:
    """Serve the fake Krea API until interrupted (Ctrl+C)."""
    import uvicorn

    policy = WebhookPolicy(
        workers=webhook_workers,
        duplicates=webhook_duplicates,
        delay=webhook_delay,
        reorder=webhook_reorder,
        loss=webhook_loss,
        timeout=webhook_timeout,
        seed=seed,
    )
    refused: Literal[200, 400, 409] = 400 if cancel_refused == "400" else 409
    fake = FakeKrea(
        api_key=api_key,
        time_scale=time_scale,
        concurrency=concurrency,
        max_backlog=max_backlog,
        balance=balance,
        lifecycle=lifecycle,
        seed=seed,
        deliver_webhooks=policy if webhooks else False,
        time_outs=time_outs,
        cancel_refused=200 if cancel_refused == "200" else refused,
        cursor_key=cursor_key,
    )
    configure(
        fake,
        fail_share=fail_share,
        fail_prompt=fail_prompt,
        fail_cause=fail_cause,
        deprecate=deprecate,
        sunset=sunset,
        rate_limit=rate_limit,
        retry_after=rate_limit_retry_after,
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


def configure(
    fake: FakeKrea,
    *,
    fail_share: float | None = None,
    fail_prompt: tuple[str, ...] = (),
    fail_cause: str = "provider_error",
    deprecate: tuple[str, ...] = (),
    sunset: tuple[str, ...] = (),
    rate_limit: tuple[str, ...] = (),
    retry_after: bool = True,
) -> None:
    """Apply ``serve``'s failure, lifecycle and rate options to ``fake``
    (``click.BadParameter`` on a malformed value)."""
    import re

    for pattern in fail_prompt:
        try:
            fake.fail_jobs(fail_cause, prompt=pattern)
        except re.error as exc:
            raise click.BadParameter(f"{pattern!r}: {exc}", param_hint="--fail-prompt") from None
    if fail_share:
        fake.fail_jobs(fail_cause, share=fail_share)
    for value in deprecate:
        model, _, rest = value.partition(":")
        day, _, replacement = rest.partition(":")
        try:
            fake.deprecate(model, day, replacement=replacement or None)
        except ValueError as exc:
            raise click.BadParameter(f"{value!r}: {exc}", param_hint="--deprecate") from None
    for value in sunset:
        model, _, replacement = value.partition(":")
        try:
            fake.sunset(model, replacement=replacement or None)
        except ValueError as exc:
            raise click.BadParameter(f"{value!r}: {exc}", param_hint="--sunset") from None
    for value in rate_limit:
        name, _, number = value.partition("=")
        if name not in ("status", "submit", "all") or not number.isdigit() or int(number) < 1:
            raise click.BadParameter(
                f"{value!r}: expected status=N, submit=N or all=N (N >= 1)",
                param_hint="--rate-limit",
            )
        on: Literal["status", "submit", "all"] = (
            "status" if name == "status" else "submit" if name == "submit" else "all"
        )
        fake.rate_limit(int(number), on=on, retry_after=retry_after)


if __name__ == "__main__":
    main()
