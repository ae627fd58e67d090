"""``krea-async batch``: the click command of :mod:`krea_async.batch`.

``krea-async batch prompts.jsonl -o out/ --concurrency 8 [--resubmit-uncertain]``.
The client comes from the environment (``KREA_API_KEY``, ``KREA_BASE_URL``).
``--failed`` lists the failed lines of the ledger instead (no request is made).
"""

from __future__ import annotations

import shlex
import signal
import sqlite3
from collections.abc import Mapping
from pathlib import Path

import anyio
import click

from .._batch._ledger import read_failures
from .._client.client import AsyncKrea
from .._client.options import WebhookSettings
from .._errors import ConfigurationError
from ..batch import Batch, BatchSummary, load_lines
from ._runtime import Settings
from ._safe_text import echo, safe_text

__all__ = ["SHOWN_PROBLEMS", "batch"]

#: Problem lines printed after a run; the rest are counted, and ``--failed`` lists
#: every failed line.
SHOWN_PROBLEMS = 20


def _command(input_file: Path, out_dir: Path, default_endpoint: str | None, *extra: str) -> str:
    """The ``krea-async batch`` command line for this input and directory."""
    words = ["krea-async", "batch", str(input_file), "-o", str(out_dir)]
    if default_endpoint:
        words += ["-m", default_endpoint]
    return shlex.join([*words, *extra])


def _problems(summary: BatchSummary) -> dict[str, str]:
    """Every failed line (this run's and earlier ones'), then this run's other
    problems (a timeout, a failed download or look-up), by line name."""
    found = dict(summary.failures)
    for name, error in summary.errors.items():
        found.setdefault(name, error)
    return found


def _report(summary: BatchSummary, command: Mapping[str, str]) -> list[str]:
    """What is printed on stderr before the summary line: the uncertain submits, at
    most :data:`SHOWN_PROBLEMS` problem lines and a count of the rest, and how to
    list and retry the failed lines."""
    out = [str(report) for report in summary.uncertain]
    problems = _problems(summary)
    out += [f"line {name}: {error}" for name, error in list(problems.items())[:SHOWN_PROBLEMS]]
    hidden = len(problems) - SHOWN_PROBLEMS
    if hidden > 0:
        out.append(f"... and {hidden} more")
    failed = len(summary.failures)
    if failed:
        if hidden > 0:
            out.append(f"every failed line and its reason: {command['failed']}")
        out.append(f"retry the {failed} failed line(s) with: {command['retry']}")
    return out


@click.command("batch")
@click.argument(
    "input_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE"
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the results and the ledger (.krea-batch.sqlite3).",
)
@click.option(
    "-m",
    "--model",
    "default_endpoint",
    default=None,
    help="Endpoint for lines without one, e.g. image/bfl/flux-1-dev (needed for .txt files).",
)
@click.option(
    "-c",
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Jobs running at once.",
)
@click.option(
    "--resubmit-uncertain",
    is_flag=True,
    help="Submit again a line whose earlier submit may have created a job that "
    "could not be found (may bill twice).",
)
@click.option("--retry-failed", is_flag=True, help="Submit again lines that failed before.")
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.0),
    default=None,
    help="Seconds between polls of one job.",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    help="Seconds one job may take.",
)
@click.option(
    "--uncertain-grace",
    type=click.FloatRange(min=0.0),
    default=10.0,
    show_default=True,
    help="Seconds after an uncertain submit before looking its job up.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Live progress bar (default: a bar when stderr is a terminal, else a plain "
    "line every 15 s).",
)
@click.option(
    "--failed",
    "list_failed",
    is_flag=True,
    help="List the failed lines of the output directory's ledger and their reasons; "
    "submit nothing.",
)
def batch(
    input_file: Path,
    out_dir: Path,
    default_endpoint: str | None,
    concurrency: int,
    resubmit_uncertain: bool,
    retry_failed: bool,
    poll_interval: float | None,
    deadline: float | None,
    uncertain_grace: float,
    progress: bool | None,
    list_failed: bool,
) -> None:
    """Run a resumable batch of generations from FILE (JSONL, or .txt prompts).

    Each JSONL line is {"endpoint": ..., "input": {...}, "id": ...} or
    {"prompt": ..., "id": ...} with --model. Results land in the output
    directory as they finish, named from the line's id or index. Killed and
    started again with the same command, it resumes without submitting a line
    twice. Ctrl-C cancels the running jobs. Exit status: 0 when every line is
    downloaded, 1 otherwise, 130 on Ctrl-C. Failed lines are listed (the first
    20; --failed lists them all) and submitted again with --retry-failed.
    """
    command = {
        "failed": _command(input_file, out_dir, default_endpoint, "--failed"),
        "retry": _command(input_file, out_dir, default_endpoint, "--retry-failed"),
    }
    if list_failed:
        try:
            failures = read_failures(out_dir)
        except (ValueError, sqlite3.Error) as exc:
            raise click.ClickException(str(exc)) from None
        for name, error in failures.items():
            click.echo(f"line {name}: {error}")
        if failures:
            click.echo(f"retry them with: {command['retry']}", err=True)
        return
    try:
        lines = load_lines(input_file, default_endpoint=default_endpoint)
    except (ValueError, OSError) as exc:
        raise click.UsageError(safe_text(exc)) from None
    # Under the krea-async group: its --api-key / --base-url (or their variables).
    settings = click.get_current_context().find_object(Settings)
    api_key: str | None = None
    base_url: str | None = None
    backend = "asyncio"
    if settings is not None:
        settings.check()
        if settings.uses_fake:
            # A ledger outlives the process; an embedded fake's jobs do not.
            raise click.UsageError(
                "batch runs need KREA_API_KEY (or --api-key); to try one offline, serve "
                "the fake (python -m krea_async.testing serve) and set KREA_BASE_URL and "
                "KREA_API_KEY to it"
            )
        api_key, base_url, backend = settings.api_key, settings.base_url, settings.backend

    async def main() -> BatchSummary | None:
        # webhook_url="": the command polls, whatever KREA_WEBHOOK_URL says
        async with AsyncKrea(
            api_key=api_key, base_url=base_url, webhooks=WebhookSettings(url="")
        ) as krea:
            job = Batch(
                krea,
                lines,
                out_dir,
                concurrency=concurrency,
                resubmit_uncertain=resubmit_uncertain,
                retry_failed=retry_failed,
                poll_interval=poll_interval,
                deadline=deadline,
                uncertain_grace=uncertain_grace,
                progress=progress,
            )
            result: list[BatchSummary] = []
            broken: list[Exception] = []

            async def run(scope: anyio.CancelScope) -> None:
                try:
                    result.append(await job.run())
                except (ValueError, sqlite3.Error) as exc:  # changed input, bad ledger
                    broken.append(exc)
                finally:
                    scope.cancel()

            async with anyio.create_task_group() as tg:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    tg.start_soon(run, tg.cancel_scope)
                    async for _ in signals:
                        tg.cancel_scope.cancel()
                        break
            if broken:
                raise click.ClickException(safe_text(broken[0]))
            if not result:
                summary: BatchSummary | None = getattr(job, "summary", None)
                if summary is not None:
                    echo(summary.line(), err=True)
                return None
            return result[0]

    try:
        summary = anyio.run(main, backend=backend)
    except ConfigurationError as exc:
        raise click.ClickException(safe_text(exc)) from None
    if summary is None:
        raise SystemExit(130)
    for text in _report(summary, command):
        echo(text, err=True)
    echo(summary.line())
    if not summary.ok:
        raise SystemExit(1)
