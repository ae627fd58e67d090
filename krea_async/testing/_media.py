"""Result bytes of the fake: PNG images (pure Python) and the bundled sample MP4.

- :func:`png` renders a deterministic RGB gradient (seeded by a string, e.g. the
  prompt) of any size up to :data:`MAX_SIDE` pixels a side, as a valid PNG
  (zlib + struct, no imaging library). Results are cached.
- :func:`sample_mp4` returns ``sample.mp4``, a real 1 s, 64x64 px, 10 fps H.264
  MP4 (about 3 KB) made once with ffmpeg and shipped as package data.
- :func:`sniff` guesses an upload's MIME type from its first bytes, and
  :func:`image_size` reads a PNG/JPEG/GIF's size.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib
from importlib import resources

__all__ = ["MAX_SIDE", "image_size", "png", "sample_mp4", "size_for", "sniff"]

#: Largest side (pixels) of a generated PNG; bigger requests are capped to it.
MAX_SIDE = 2048


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=64)
def png(width: int, height: int, seed: str = "") -> bytes:
    """A valid 8-bit RGB PNG of ``width`` x ``height`` pixels (each clamped to 1..2048).

    The picture is a gradient whose colours derive from ``seed`` (same seed and
    size, same bytes). Cached (64 entries).
    """
    w = max(1, min(MAX_SIDE, int(width)))
    h = max(1, min(MAX_SIDE, int(height)))
    d = hashlib.sha256(seed.encode("utf-8")).digest()
    reds = bytes((d[0] + (x * 255) // max(1, w - 1)) & 0xFF for x in range(w))
    blues = bytes((d[2] + 255 - (x * 255) // max(1, w - 1)) & 0xFF for x in range(w))
    row = bytearray(1 + 3 * w)  # filter byte 0 then RGB triples
    row[1::3] = reds
    row[3::3] = blues
    raw = bytearray()
    for y in range(h):
        g = (d[1] + (y * 255) // max(1, h - 1)) & 0xFF
        row[2::3] = bytes((g,)) * w
        raw += row
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 6))
        + _chunk(b"IEND", b"")
    )


@functools.lru_cache(maxsize=1)
def sample_mp4() -> bytes:
    """The bundled ``sample.mp4``: 1 s, 64x64 px, H.264, served for every video job."""
    return resources.files(__package__ or "krea_async.testing").joinpath("sample.mp4").read_bytes()


_RATIOS = {"1k": 1024, "2k": 2048, "4k": 4096}


def size_for(body: object, *, default: tuple[int, int] = (1024, 1024)) -> tuple[int, int]:
    """The (width, height) in pixels an image request asks for, capped at 2048 a side.

    Uses ``width``/``height`` when both are numbers, else ``aspect_ratio``
    (``"16:9"``, ``"2.35:1"``, ``"1280:720"``) at ``resolution`` (``1K`` = about
    1024x1024 px of area, the default; ``2K``; ``4K``), else ``default``.
    """
    if not isinstance(body, dict):
        return default
    w, h = body.get("width"), body.get("height")
    if isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0:
        return max(1, min(MAX_SIDE, round(w))), max(1, min(MAX_SIDE, round(h)))
    ratio = body.get("aspect_ratio")
    if isinstance(ratio, str) and ratio.count(":") == 1:
        try:
            a, b = (float(x) for x in ratio.split(":"))
        except ValueError:
            return default
        if a > 0 and b > 0:
            res = body.get("resolution")
            side = _RATIOS.get(res.lower(), 1024) if isinstance(res, str) else 1024
            width = round((side * side * a / b) ** 0.5 / 16) * 16
            height = round(width * b / a / 16) * 16
            return max(16, min(MAX_SIDE, width)), max(16, min(MAX_SIDE, height))
    return default


def sniff(data: bytes) -> str | None:
    """The MIME type of an upload from its magic bytes, or ``None`` if Krea would refuse it.

    Known: JPEG, PNG, WebP, GIF, HEIC, AVIF (``image/avif``), MP4, MOV, WebM,
    GLB, WAV, MP3 and M4A audio (``audio/mp4``); AVIF, HEIC, M4A, MOV and MP4
    share the ISO-BMFF ``ftyp`` box and differ by its major brand.

    Deliberately independent of the SDK's :func:`krea_async.files.media_type`:
    the fake is the check the SDK's tests run against, so it must not share the
    code it checks (a wrong table shared by both would pass every test). The two
    are compared by a test instead, over sample bytes of every format.
    """
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1"):
            return "image/heic"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"glTF"):
        return "model/gltf-binary"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) in pixels of a PNG, GIF or JPEG, else ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data.startswith((b"GIF87a", b"GIF89a")) and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            i += 2 + length
    return None
