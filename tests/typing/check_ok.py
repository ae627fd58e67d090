"""Correct uses of the typed generation API: ``mypy --strict`` must report nothing.

Checked by tests/test_typing.py (not collected by pytest: no ``test_`` prefix).
"""

from __future__ import annotations

from krea_async import AsyncKrea, Job, SubscribeResult
from krea_async.inputs import (
    BflFlux1DevInput,
    BflFlux1DevInputDict,
    KlingKling1Input,
    KlingKling21Input,
    KreaKrea2MediumInput,
    StyleRef,
    TopazStandardEnhanceInput,
)


async def on_update(job: Job) -> None:
    print(job.status)


def on_update_sync(job: Job) -> None:
    print(job.status)


async def image_calls(krea: AsyncKrea) -> None:
    job: Job = await krea.image("bfl/flux-1-dev", {"prompt": "x", "steps": 28})
    print(job.job_id)
    await krea.image("bfl/flux-1-dev", {"prompt": "x", "width": 1024, "height": 768.5})
    await krea.image("bfl/flux-1-dev", {"prompt": "x", "image_url": None})
    await krea.image(
        "bfl/flux-1-dev",
        {"prompt": "x", "styles": [{"id": "s1", "strength": 0.8}]},
        webhook_url="https://example.com/hook",
    )
    await krea.image("bfl/flux-1-dev", BflFlux1DevInput(prompt="x", steps=28))
    styles: list[StyleRef] = [{"id": "s1", "strength": 1}]
    await krea.image("bfl/flux-1-dev", BflFlux1DevInput(prompt="x", styles=styles))
    typed: BflFlux1DevInputDict = {"prompt": "x"}
    await krea.image("bfl/flux-1-dev", typed)
    await krea.image(
        "krea/krea-2/medium", {"prompt": "x", "aspect_ratio": "16:9", "resolution": "1K"}
    )
    await krea.image(
        "krea/krea-2/medium",
        KreaKrea2MediumInput(prompt="x", aspect_ratio="2.35:1", creativity="high"),
    )


async def video_calls(krea: AsyncKrea) -> None:
    await krea.video("kling/kling-2.1", {"prompt": "x", "duration": 10, "mode": "pro"})
    await krea.video("kling/kling-2.1", KlingKling21Input(prompt="x", duration=5))
    await krea.video(
        "kling/kling-1",
        KlingKling1Input(
            prompt="x", camera_control={"type": "simple", "config": {"zoom": 2, "pan": -1.5}}
        ),
    )
    await krea.video("kling/kling-1", {"prompt": "x", "camera_control": {"type": "down_back"}})
    await krea.video("google/veo-3", {"prompt": "x", "start_image": None})


async def enhance_calls(krea: AsyncKrea) -> None:
    body = {"image_url": "https://x/a.png", "width": 2048, "height": 2048, "model": "CGI"}
    await krea.enhance(
        "topaz/standard-enhance",
        {"image_url": "https://x/a.png", "width": 2048, "height": 2048, "model": "CGI"},
    )
    print(body)
    await krea.enhance(
        "topaz/standard-enhance",
        TopazStandardEnhanceInput(
            image_url="https://x/a.png", width=2048, height=2048, model="Standard V2"
        ),
    )


async def subscribe_calls(krea: AsyncKrea) -> None:
    result: SubscribeResult = await krea.subscribe(
        "image/bfl/flux-1-dev", input={"prompt": "x"}, on_queue_update=on_update
    )
    print(result.data.urls[0])
    await krea.subscribe(
        "image/bfl/flux-1-dev",
        input=BflFlux1DevInput(prompt="x"),
        on_queue_update=on_update_sync,
        poll_interval=1,
        deadline=60.0,
        cancel_on_exit=False,
    )
    await krea.subscribe("video/kling/kling-2.1", input={"prompt": "x", "duration": 5})
    await krea.subscribe(
        "enhance/topaz/bloom-enhance",
        input={
            "image_url": "https://x/a.png",
            "width": 1024,
            "height": 1024,
            "model": "Reimagine",
        },
    )
    await krea.subscribe(
        "image/krea/krea-2/medium",
        input=KreaKrea2MediumInput(prompt="x", aspect_ratio="1:1"),
        webhook_url="https://example.com/hook",
    )
