"""Naming saved results from server text (public in :mod:`krea_async.files`).

The one rule naming result files (:func:`result_file_name`), :func:`safe_file_name`
for any server text, and the short URL forms used in messages and logs.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re

import httpx

__all__ = ["MAX_FILE_NAME_CHARS", "result_file_name", "safe_file_name"]

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


def result_file_name(
    job_id: str, index: int = 0, *, count: int | None = None, suffix: str = ""
) -> str:
    """The file name of result ``index`` (from 0) of a job: the one naming rule.

    ``<job_id>-<index><suffix>``; with ``count=1`` (the job has one result) just
    ``<job_id><suffix>``. ``job_id`` goes through :func:`safe_file_name` (a Krea
    UUID is kept as is; ``../../X`` or a 300-character id is not) and ``suffix``
    (such as ``".png"``, from the URL or the content type) is dropped unless it is
    ``.`` followed by 1 to 10 letters or digits. The result is at most
    :data:`MAX_FILE_NAME_CHARS` characters.

    ``result.save(dir)`` and :func:`download_all` leave ``count`` unset (always
    numbered: ``<job_id>-0.png``); the CLI's ``-o DIR`` passes ``count`` (a single
    result is ``<job_id>.png``).
    """
    tail = _safe_suffix(suffix)
    number = "" if count == 1 else f"-{index}"
    stem = safe_file_name(job_id, default="job", max_chars=MAX_FILE_NAME_CHARS - len(number + tail))
    return f"{stem}{number}{tail}"


def _numbered_name(job_id: str, index: int, suffix: str) -> str:
    return result_file_name(job_id, index, suffix=suffix)


def _url_suffix(url: httpx.URL) -> str:
    name = url.path.rsplit("/", 1)[-1]
    return _safe_suffix(os.path.splitext(name)[1]) if "." in name else ""


def _name_from_url(url: httpx.URL, content_type: str) -> str:
    """A safe file name for a download into a directory, from the URL's last segment."""
    base = url.path.rsplit("/", 1)[-1]
    stem, suffix = os.path.splitext(base)
    if not _safe_suffix(suffix):
        stem, suffix = base, ""
    tail = _safe_suffix(suffix) or _extension(content_type)
    return safe_file_name(stem, max_chars=MAX_FILE_NAME_CHARS - len(tail)) + tail


def _extension(content_type: str) -> str:
    if content_type == "image/jpeg":
        return ".jpg"
    return _safe_suffix(mimetypes.guess_extension(content_type) or "") or ".bin"


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
