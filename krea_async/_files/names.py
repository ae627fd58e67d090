"""Where a result file goes, whatever the server sends (public names in
:mod:`krea_async.files`).

The one rule placing result files (:func:`result_places`, :class:`Place`): the
directory or file the caller chose, a name built from safe characters only
(:func:`result_file_name`, :func:`safe_file_name`), an extension from the file's
own first bytes (:func:`result_extension`, never from the URL or the content
type), and a check that the names of several stems cannot collide
(:func:`overlapping_stems`). :mod:`krea_async._files.io` writes the file there.
Also the short URL forms used in messages and logs.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import attrs
import httpx

from .inputs import media_type

__all__ = [
    "MAX_FILE_NAME_CHARS",
    "Place",
    "overlapping_stems",
    "result_extension",
    "result_file_name",
    "result_places",
    "safe_file_name",
]

MAX_FILE_NAME_CHARS = 120
"""Longest file name (characters, extension included) built from server text;
file systems refuse names over 255 bytes."""


_MESSAGE_URL_CHARS = 200


_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")
_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{d}{n}" for d in ("COM", "LPT") for n in range(1, 10)]
)


def safe_file_name(
    text: str, *, default: str = "result", max_chars: int = MAX_FILE_NAME_CHARS
) -> str:
    """A file name made of ``text``'s safe characters only, never a path.

    Keeps ASCII letters, digits, ``.``, ``_`` and ``-``; each run of anything else
    (``/``, ``\\\\``, NUL, newlines, spaces, non-ASCII) becomes ``_``. Leading dots
    and dashes are dropped (no ``..``, no hidden file, no name read as an option),
    as are trailing dots; Windows device names (``CON``, ``NUL``...) get a ``_``
    prefix. When anything had to change, or the name is longer than ``max_chars``
    characters, it is shortened and ends with ``-`` and 10 hex digits of the
    SHA-256 of the original ``text``, so that two different ids never share a
    name (``".."`` becomes ``result-<hash>``). An empty ``text`` becomes
    ``default``.

    A Krea job id (a UUID such as ``"6a4f...-..."``) comes out unchanged.
    """
    if max_chars < 16:
        raise ValueError("max_chars must be at least 16")
    cleaned = _UNSAFE_RUN.sub("_", text).lstrip(".-").rstrip(".")
    if cleaned.split(".")[0].upper() in _RESERVED_NAMES:
        cleaned = "_" + cleaned
    if not text:
        return default
    if cleaned == text and len(cleaned) <= max_chars:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    keep = cleaned[: max_chars - 11].rstrip(".") or default
    return f"{keep}-{digest}"


def _safe_suffix(suffix: str) -> str:
    """``suffix`` when it is ``.`` and 1 to 10 ASCII letters or digits, else ``""``."""
    return suffix.lower() if _SAFE_SUFFIX.fullmatch(suffix) else ""


_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/avif": ".avif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/mp4": ".m4a",
    "model/gltf-binary": ".glb",
}


def result_extension(head: bytes) -> str:
    """The extension of a result file, from its first bytes (at least 12 of them).

    The signature of PNG (``.png``), JPEG (``.jpg``), GIF, WebP, HEIC, AVIF, MP4,
    MOV (``.mov``), WebM, MP3, WAV, M4A audio or GLB (the media types
    :func:`krea_async.files.media_type` knows); anything else is ``.bin``. Never
    taken from the URL or the ``Content-Type`` header: a server that serves a PNG
    at ``.../x.html`` still gets ``.png``, and an HTML page served as
    ``image/png`` is ``.bin``, never ``.html``.
    """
    return _EXTENSIONS.get(media_type(head), ".bin")


def result_file_name(stem: str, index: int = 0, *, count: int = 1, suffix: str = "") -> str:
    """The file name of result ``index`` (from 0) of ``count``: the one naming rule.

    ``<stem><suffix>`` for a single result (``count=1``), else
    ``<stem>-<index><suffix>``. ``stem`` (a job id, a batch line id, a URL's last
    segment: any text) goes through :func:`safe_file_name` (a Krea UUID is kept as
    is; ``../../X`` or a 300-character id is not), and ``suffix`` (``".png"``, from
    :func:`result_extension`) is dropped unless it is ``.`` followed by 1 to 10
    letters or digits. The result is at most :data:`MAX_FILE_NAME_CHARS` characters.
    Names of one stem never collide (the index differs); names of two stems never
    collide unless :func:`overlapping_stems` says so.
    """
    tail = _safe_suffix(suffix)
    number = "" if count == 1 else f"-{index}"
    stem = safe_file_name(
        stem, default="result", max_chars=MAX_FILE_NAME_CHARS - len(number + tail)
    )
    return f"{stem}{number}{tail}"


_NUMBERED = re.compile(r"(.*)-[0-9]+")


def overlapping_stems(stems: Iterable[str]) -> tuple[str, str] | None:
    """Two stems whose result files could share a name, or ``None``.

    A stem ``S`` names ``S<ext>`` (one result) or ``S-<n><ext>`` (several), so ``S``
    overlaps ``S`` spelled with other letter cases (case-insensitive file systems)
    and ``S-<digits>``. ``stems`` are already safe (:func:`safe_file_name`). Used by
    the batch to refuse line ids that would overwrite each other's files.
    """
    seen: dict[str, str] = {}
    for stem in stems:
        key = stem.lower()
        if key in seen:
            return seen[key], stem
        seen[key] = stem
    for key, stem in seen.items():
        match = _NUMBERED.fullmatch(key)
        if match and match.group(1) in seen:
            return seen[match.group(1)], stem
    return None


@attrs.frozen(kw_only=True)
class Place:
    """Where one result file goes (built by :func:`result_places`).

    ``directory``: nothing is written outside it (a ``.part`` file there, renamed
    into place). ``name``: a file name the caller chose (``-o mountain.png``),
    kept exactly as given; else the name is :func:`result_file_name` of ``stem``
    (``None``: the last segment of the URL the file came from, without its
    extension), ``index`` and ``count``, with the extension from the file's first
    bytes.
    """

    directory: Path
    name: str | None = None
    stem: str | None = None
    index: int = 0
    count: int = 1

    def final_name(self, head: bytes, url: httpx.URL) -> str:
        """The file name, once the first bytes (``head``) and the final URL are known."""
        if self.name is not None:
            return self.name
        stem = self.stem if self.stem is not None else _url_stem(url)
        return result_file_name(stem, self.index, count=self.count, suffix=result_extension(head))

    @property
    def chosen(self) -> bool:
        """``True`` when the caller chose the file name (no check that it stays inside)."""
        return self.name is not None

    def part_hint(self) -> str:
        """A safe name to start the ``.part`` file's name with."""
        if self.name is not None:
            return self.name
        return safe_file_name(self.stem or "result", max_chars=100)


def result_places(
    dest: str | os.PathLike[str], count: int, *, stem: str | None, dest_is_dir: bool
) -> list[Place]:
    """Where each of ``count`` results goes: the one rule for ``result.save()``,
    :func:`~krea_async.files.download_all`, the CLI's ``-o`` and the batch.

    ``dest`` is a directory when it exists as one (``dest_is_dir``), is written
    with a trailing ``/``, or has no extension (``out``): the files are named
    :func:`result_file_name` of ``stem`` (``<stem>.png``; several:
    ``<stem>-0.png``, ``<stem>-1.png``; ``stem=None``: each URL's last segment),
    with the extension from each file's first bytes. Otherwise ``dest`` is a file
    name chosen by the caller and kept as given (``mountain.png``); several
    results then go next to it as ``mountain-0.png``, ``mountain-1.png``.
    """
    text = os.fspath(dest)
    path = Path(text)
    if dest_is_dir or text.endswith(("/", os.sep)) or not path.suffix:
        return [Place(directory=path, stem=stem, index=n, count=count) for n in range(count)]
    if count == 1:
        return [Place(directory=path.parent, name=path.name)]
    return [
        Place(directory=path.parent, name=f"{path.stem}-{n}{path.suffix}") for n in range(count)
    ]


def _url_stem(url: httpx.URL) -> str:
    """The URL's last segment without its extension (server text: made safe later)."""
    base = url.path.rsplit("/", 1)[-1]
    stem, suffix = os.path.splitext(base)
    return stem if suffix else base


def _short_url(url: str | httpx.URL) -> str:
    """A URL for messages and logs: no query string or fragment, at most 200 chars."""
    text = str(url)
    base, query_mark, _ = text.partition("?")
    base = base.partition("#")[0]
    if query_mark:
        base += "?..."
    if len(base) > _MESSAGE_URL_CHARS:
        base = f"{base[:_MESSAGE_URL_CHARS]}...({len(text)} chars)"
    return base.encode("ascii", "backslashreplace").decode("ascii")


def _of_job(job_id: str | None) -> str:
    return f" (job {safe_file_name(job_id, default='?')})" if job_id else ""
