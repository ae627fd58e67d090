"""Files as inputs: ``data:`` URIs and media-type sniffing (public in :mod:`krea_async.files`)."""

from __future__ import annotations

import base64
import contextlib
import mimetypes
import os
from pathlib import Path
from typing import IO, Union

__all__ = [
    "DATA_URI_MAX_BYTES",
    "FileInput",
    "data_uri",
    "file_size",
    "media_type",
    "read_file_input",
]

FileInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
"""What the SDK accepts as a file: a path, raw bytes, or a binary file object."""


DATA_URI_MAX_BYTES = 10 * 1024 * 1024
"""Largest file :func:`data_uri` encodes (bytes): 10 MiB, since a request body with
a larger inline image is slow to send and may be refused; upload larger files
with ``krea.assets.upload()`` and pass the asset's ``image_url`` instead."""


_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"glTF", "model/gltf-binary"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (0, b"\xff\xf3", "audio/mpeg"),
)


def media_type(data: bytes, filename: str | None = None) -> str:
    """The media type of file bytes, from their signature, else from ``filename``'s
    extension, else ``application/octet-stream``.

    Knows the types ``POST /assets`` accepts (JPEG, PNG, WebP, HEIC, MP4, MOV,
    WebM, GLB, WAV, MP3), and GIF, AVIF and M4A audio (which share MP4's ``ftyp``
    box and are not MP4 video).
    """
    head = bytes(data[:32])
    for offset, magic, mtype in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return mtype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "image/heic"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    if filename:
        guessed, _ = mimetypes.guess_type(filename)
        if guessed:
            return guessed
    return "application/octet-stream"


def read_file_input(file: FileInput) -> tuple[bytes, str | None]:
    """Read a :data:`FileInput` fully; answer ``(bytes, file name or None)``."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        return bytes(file), None
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        return path.read_bytes(), path.name
    if hasattr(file, "read"):
        data = file.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("file objects must be opened in binary mode ('rb')")
        name = getattr(file, "name", None)
        return bytes(data), os.path.basename(name) if isinstance(name, str) else None
    raise TypeError(f"expected a path, bytes or a binary file object, got {type(file).__name__}")


def file_size(file: FileInput) -> int | None:
    """The size in bytes of a :data:`FileInput` without reading it, when it can be known."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        return len(file)
    if isinstance(file, (str, os.PathLike)):
        return os.stat(file).st_size
    with contextlib.suppress(AttributeError, OSError, ValueError):
        pos = file.tell()
        end = file.seek(0, os.SEEK_END)
        file.seek(pos)
        return end - pos
    return None


def data_uri(
    file: FileInput,
    *,
    media_type: str | None = None,
    max_bytes: int = DATA_URI_MAX_BYTES,
) -> str:
    """Encode a file as a ``data:<type>;base64,...`` URI for image inputs.

    ``file`` is a path, bytes, or a binary file object; the media type is sniffed
    from the bytes (or the file name) unless ``media_type`` is given (for example
    ``"image/jpeg"``). Raises :class:`ValueError` when the file is larger than
    ``max_bytes`` (default :data:`DATA_URI_MAX_BYTES`, 10 MiB), or empty. Reads
    synchronously: call it before entering hot async code, or through
    ``anyio.to_thread.run_sync``.
    """
    size = file_size(file)
    if size is not None and size > max_bytes:
        raise ValueError(
            f"file is {size} bytes, over the {max_bytes}-byte limit for data: URIs; "
            "upload it with krea.assets.upload() and use the asset's image_url"
        )
    data, name = read_file_input(file)
    if len(data) > max_bytes:
        raise ValueError(f"file is {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data:
        raise ValueError("file is empty")
    mtype = media_type or _sniff_media_type(data, name)
    return f"data:{mtype};base64,{base64.b64encode(data).decode('ascii')}"


_sniff_media_type = media_type
