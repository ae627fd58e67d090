"""The fake's upload sniffing is its own (an independent check on the SDK), and
agrees with the SDK's :func:`krea_async.files.media_type` on every format,
including the ``ftyp`` family (AVIF and M4A are not MP4 video)."""

from __future__ import annotations

import httpx
import pytest

from krea_async import files
from krea_async.testing import FakeKrea, png, sample_mp4


def ftyp(brand: bytes) -> bytes:
    return b"\x00\x00\x00\x1cftyp" + brand + b"\x00\x00\x00\x00" + brand + b"mp42" + b"\x00" * 32


SAMPLES = {
    "image/png": png(4, 4, "sniff"),
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32,
    "image/gif": b"GIF89a\x04\x00\x04\x00" + b"\x00" * 32,
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32,
    "audio/wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 32,
    "image/heic": ftyp(b"heic"),
    "image/avif": ftyp(b"avif"),
    "audio/mp4": ftyp(b"M4A "),
    "video/quicktime": ftyp(b"qt  "),
    "video/mp4": sample_mp4(),
    "video/webm": b"\x1a\x45\xdf\xa3" + b"\x00" * 32,
    "model/gltf-binary": b"glTF\x02\x00\x00\x00" + b"\x00" * 32,
    "audio/mpeg": b"ID3\x04\x00" + b"\x00" * 32,
}


@pytest.mark.anyio
@pytest.mark.parametrize("expected", sorted(SAMPLES))
async def test_upload_type_matches_the_sdk(anyio_backend: str, expected: str) -> None:
    data = SAMPLES[expected]
    assert files.media_type(data) == expected  # the SDK's own table
    fake = FakeKrea()
    async with httpx.AsyncClient(
        transport=fake.transport(),
        base_url="http://fake.krea.test",
        headers={"Authorization": "Bearer sniff"},
    ) as c:
        r = await c.post("/assets", files={"file": ("upload.bin", data)})
    assert r.status_code == 200, r.text
    assert r.json()["mime_type"] == expected  # the fake's, computed independently


@pytest.mark.anyio
async def test_unknown_bytes_are_refused(anyio_backend: str) -> None:
    fake = FakeKrea()
    async with httpx.AsyncClient(
        transport=fake.transport(),
        base_url="http://fake.krea.test",
        headers={"Authorization": "Bearer sniff"},
    ) as c:
        r = await c.post("/assets", files={"file": ("notes.txt", b"just some text")})
    assert r.status_code == 400
    assert "invalid file type" in r.json()["error"]
