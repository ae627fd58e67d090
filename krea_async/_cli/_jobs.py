"""``krea-async jobs show | wait | list | cancel``."""

from __future__ import annotations

import click

from .. import AsyncKrea, Job, JobStatus
from ._common import apply, wait_options
from ._errors import one_line
from ._output import Progress, check_output, echo_json, follow, job_json, save, table
from ._runtime import run, settings
from ._safe_text import echo


@click.group(short_help="Show, wait for, list and cancel jobs.")
def jobs() -> None:
    """Show, wait for, list and cancel jobs (GET/DELETE /jobs/{id}, GET /jobs)."""


def describe_job(job: Job) -> list[str]:
    """The lines of ``jobs show``: id, status, type, times, URLs, style, error."""
    lines = [f"job        {job.job_id}", f"status     {job.status}"]
    if job.type:
        lines.append(f"type       {job.type}")
    if job.created_at is not None:
        lines.append(f"created    {job.created_at.isoformat()}")
    if job.completed_at is not None:
        lines.append(f"completed  {job.completed_at.isoformat()}")
        if job.created_at is not None:
            seconds = (job.completed_at - job.created_at).total_seconds()
            lines.append(f"took       {seconds:.1f}s")
    lines.extend(f"url        {url}" for url in job.result.urls)
    if job.result.style_id:
        lines.append(f"style      {job.result.style_id}")
    if job.result.error_message:
        lines.append(f"error      {one_line(job.result.error_message)}")
    return lines


@jobs.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job as Krea sent it (JSON).")
def jobs_show(job_id: str, as_json: bool) -> None:
    """Show a job's status, times and result URLs (GET /jobs/{id})."""

    async def go(krea: AsyncKrea) -> None:
        job = await krea.jobs.get(job_id)
        if as_json:
            echo_json(job_json(job))
        else:
            for line in describe_job(job):
                echo(line)

    run(settings(), go)


@jobs.command("wait")
@click.argument("job_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="Save the result there (a file name, or a directory: existing, ending in /, "
    "or without extension); without it the URLs are printed.",
)
@apply(wait_options)
@click.option("--json", "as_json", is_flag=True, help="Print the final job as JSON.")
def jobs_wait(
    job_id: str,
    output: str | None,
    deadline: float | None,
    poll_interval: float | None,
    as_json: bool,
) -> None:
    """Wait for a job to finish, printing each status change with elapsed seconds.

    Polls GET /jobs/{id}; on Ctrl-C or when --deadline seconds pass, the job is
    cancelled (DELETE /jobs/{id}). Prints the result URLs, or the saved paths with -o.
    """
    state = settings()
    check_output(output)
    interval = state.poll_interval(poll_interval, None)

    async def go(krea: AsyncKrea) -> None:
        final = await follow(
            krea,
            state,
            job_id,
            interval=interval,
            deadline=deadline,
            progress=Progress(),
            as_json=as_json,
        )
        if output is not None:
            for path in await save(krea, final, output):
                echo(str(path))
        elif not as_json:
            for url in final.result.urls:
                echo(url)

    run(state, go)


@jobs.command("list")
@click.option(
    "--status",
    type=click.Choice([s.value for s in JobStatus]),
    help="Only jobs with this status.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most this many jobs (newest first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as a JSON array.")
def jobs_list(status: str | None, limit: int, as_json: bool) -> None:
    """List this account's jobs, newest first (GET /jobs)."""

    async def go(krea: AsyncKrea) -> None:
        found: list[Job] = []
        async for job in krea.jobs.list(status=status, limit=min(limit, 1000)):
            found.append(job)
            if len(found) >= limit:
                break
        if as_json:
            echo_json([dict(job_json(j)) for j in found])
            return
        if not found:
            echo("no jobs", err=True)
            return
        rows = [
            (
                j.job_id,
                str(j.status),
                j.type or "",
                j.created_at.strftime("%Y-%m-%d %H:%M:%S") if j.created_at else "",
                str(len(j.result.urls)),
            )
            for j in found
        ]
        table(("JOB", "STATUS", "TYPE", "CREATED (UTC)", "URLS"), rows)

    run(settings(), go)


@jobs.command("cancel")
@click.argument("job_id")
def jobs_cancel(job_id: str) -> None:
    """Cancel a queued or processing job (DELETE /jobs/{id}); cancelled jobs are not billed."""

    async def go(krea: AsyncKrea) -> None:
        job = await krea.jobs.cancel(job_id)
        if job.status is JobStatus.CANCELLED:
            echo(f"cancelled {job_id}")
        else:
            echo(f"{job.job_id} is {job.status.value}; it was not cancelled")

    run(settings(), go)
