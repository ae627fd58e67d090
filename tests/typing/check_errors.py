"""Deliberate mistakes: ``mypy --strict`` must flag every line marked ``# E: <code>``
(with that error code) and no other line.

Checked by tests/test_typing.py (not collected by pytest: no ``test_`` prefix).
"""

from __future__ import annotations

from krea_async import AsyncKrea
from krea_async.inputs import (
    BflFlux1DevInput,
    KlingKling21Input,
    KreaKrea2MediumInput,
    StyleRef,
)


async def image_mistakes(krea: AsyncKrea) -> None:
    await krea.image("bfl/flux-1-dev", {"promt": "x"})  # E: call-overload
    await krea.image("bfl/flux-1-dev", {"prompt": "x", "stepz": 28})  # E: call-overload
    await krea.image("bfl/flux-1-dev", {"prompt": "x", "steps": "28"})  # E: call-overload
    await krea.image("bfl/flux-1-dev", {"steps": 28})  # E: call-overload
    await krea.image("bfl/flux-9", {"prompt": "x"})  # E: call-overload
    await krea.image("kling/kling-2.1", {"prompt": "x"})  # E: call-overload
    await krea.image(  # E: call-overload
        "krea/krea-2/medium", {"prompt": "x", "aspect_ratio": "7:1", "resolution": "1K"}
    )
    await krea.image("bfl/flux-1-dev", KlingKling21Input(prompt="x"))  # E: call-overload
    await krea.image("bfl/flux-1-dev", {"prompt": "x"}, webhook="https://h")  # E: call-overload
    await krea.image("bfl/flux-1-dev", "a red fox")  # E: call-overload


def input_class_mistakes() -> None:
    BflFlux1DevInput(promt="x")  # E: call-arg
    BflFlux1DevInput(prompt="x", steps=28.5)  # E: arg-type
    BflFlux1DevInput(prompt=None)  # E: arg-type
    BflFlux1DevInput("x")  # E: call-arg
    KreaKrea2MediumInput(prompt="x", aspect_ratio="7:1")  # E: arg-type
    KreaKrea2MediumInput(prompt="x")  # E: call-arg
    KlingKling21Input(prompt="x", duration=7)  # E: arg-type
    style: StyleRef = {"id": "s"}  # E: typeddict-item
    print(style)


async def video_mistakes(krea: AsyncKrea) -> None:
    await krea.video("kling/kling-2.1", {"prompt": "x", "duration": 7})  # E: call-overload
    await krea.video("kling/kling-2.1", {"prompt": "x", "aspectRatio": "1:1"})  # E: call-overload
    await krea.video("bfl/flux-1-dev", {"prompt": "x"})  # E: call-overload
    await krea.video(  # E: call-overload
        "kling/kling-1", {"prompt": "x", "camera_control": {"type": "sideways"}}
    )


async def enhance_mistakes(krea: AsyncKrea) -> None:
    await krea.enhance("topaz/standard-enhance", {"image_url": "u"})  # E: call-overload


async def subscribe_mistakes(krea: AsyncKrea) -> None:
    await krea.subscribe("image/bfl/flux-1-dev", input={"promt": "x"})  # E: call-overload
    await krea.subscribe("bfl/flux-1-dev", input={"prompt": "x"})  # E: call-overload
    await krea.subscribe(  # E: call-overload
        "image/krea/krea-2/medium", input=BflFlux1DevInput(prompt="x")
    )
    await krea.subscribe("image/bfl/flux-1-dev", {"prompt": "x"})  # E: call-overload
    await krea.subscribe(  # E: call-overload
        "image/bfl/flux-1-dev", input={"prompt": "x"}, poll_interval="1s"
    )
    job = await krea.image("bfl/flux-1-dev", {"prompt": "x"})
    print(job.url)  # E: attr-defined
