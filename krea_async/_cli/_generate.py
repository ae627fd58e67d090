"""``krea-async generate image | video | enhance MODEL``."""

from __future__ import annotations

from typing import Any

import click

from .. import AsyncKrea, BadRequestError
from ._common import apply, wait_options
from ._errors import fail
from ._inputs import build_input, file_ref, image_options, resolve_model, upload_refs
from ._output import Progress, check_output, echo_json, follow, job_json, save
from ._runtime import run, settings
from ._safe_text import echo


@click.group(short_help="Generate an image, a video or an enhancement.")
def generate() -> None:
    """Generate an image, a video or an enhancement (POST /generate/{category}/{model})."""


def _make_generate(category: str, summary: str, extra: str) -> click.Command:
    @click.command(name=category)
    @click.argument("model")
    @click.option("--prompt", "-p", help="What to generate.")
    @click.option("--width", type=click.IntRange(min=1), help="Width in pixels.")
    @click.option("--height", type=click.IntRange(min=1), help="Height in pixels.")
    @click.option("--steps", type=int, help="Inference steps (models that take them).")
    @click.option("--seed", type=int, help="Random seed, for repeatable results.")
    @click.option(
        "--image-url",
        "images",
        multiple=True,
        help="Input image: a URL, or @path for a local file (uploaded as an asset). "
        "Sent as the model's own field (image_url, image_urls, start_image...). "
        "Repeatable for models that take several.",
    )
    @click.option(
        "-i",
        "--input",
        "fields",
        multiple=True,
        metavar="FIELD=VALUE",
        help="Any input field; VALUE is parsed as JSON when valid (numbers, true, "
        "lists), else a string; @path (also inside a JSON list) names a local file, "
        "uploaded as an asset. Repeatable.",
    )
    @click.option(
        "-o",
        "--output",
        type=click.Path(),
        help="Where to save the result: a directory (existing, ending in /, or without "
        "extension; only its last part is created) for <job_id>.<ext>, the extension "
        "from the file's bytes; or a file name, kept as given. Default: the current "
        "directory.",
    )
    @click.option("--no-wait", is_flag=True, help="Submit, print the job id, and exit.")
    @click.option("--webhook-url", help="Krea POSTs the finished job there (X-Webhook-URL header).")
    @apply(wait_options)
    @click.option(
        "--json", "as_json", is_flag=True, help="Print the final job as JSON instead of paths."
    )
    @click.option("--force", is_flag=True, help="Send even if the bundled spec lacks MODEL.")
    def command(
        model: str,
        prompt: str | None,
        width: int | None,
        height: int | None,
        steps: int | None,
        seed: int | None,
        images: tuple[str, ...],
        fields: tuple[str, ...],
        output: str | None,
        no_wait: bool,
        webhook_url: str | None,
        deadline: float | None,
        poll_interval: float | None,
        as_json: bool,
        force: bool,
    ) -> None:
        state = settings()
        state.category = category
        name, info = resolve_model(category, model, force=force)
        schema = info.input_schema if info is not None else None
        named: dict[str, Any] = {
            "prompt": prompt,
            "width": width,
            "height": height,
            "steps": steps,
            "seed": seed,
            **image_options(images, info),
        }
        body = build_input(fields, named, schema, files=file_ref)
        if not no_wait:
            check_output(output)
        interval = state.poll_interval(poll_interval, category)

        async def go(krea: AsyncKrea) -> None:
            progress = Progress()
            sent = await upload_refs(krea, body)
            try:
                job = await krea.generate(f"{category}/{name}", sent, webhook_url=webhook_url)
            except BadRequestError as exc:
                request = exc.response.request
                fail(
                    f"{exc.status_code} from {request.method} {request.url.path}: "
                    f"{exc.message} (see krea-async models show {name})",
                    1,
                )
            if no_wait:
                if as_json:
                    echo_json(job_json(job))
                else:
                    echo(job.job_id)
                    echo(
                        f"submitted; follow it with: krea-async jobs wait {job.job_id}",
                        err=True,
                    )
                return
            final = await follow(
                krea,
                state,
                job.job_id,
                interval=interval,
                deadline=deadline,
                progress=progress,
                as_json=as_json,
                first=job,
            )
            if as_json and output is None:
                return
            for path in await save(krea, final, output):
                # With --json, stdout holds only the JSON document.
                echo(f"saved {path}" if as_json else str(path), err=as_json)

        run(state, go)

    command.help = (
        f"{summary} with MODEL (e.g. {extra}), wait, and save the result.\n\n"
        f"Calls POST /generate/{category}/MODEL, then polls GET /jobs/{{id}} and prints "
        "each status change with the elapsed seconds on stderr; then downloads the "
        "result file(s) and prints the path(s) written. Models: krea-async models "
        f"list --category {category}; fields: krea-async models show MODEL."
    )
    command.short_help = f"{summary} (POST /generate/{category}/MODEL)."
    return command


generate.add_command(_make_generate("image", "Generate an image", "bfl/flux-1-dev"))
generate.add_command(
    _make_generate("video", "Generate a video", "kling/kling-2.1; --duration via -i duration=5")
)
generate.add_command(
    _make_generate(
        "enhance", "Enhance or upscale an image", "topaz/standard-enhance --image-url @in.jpg"
    )
)
