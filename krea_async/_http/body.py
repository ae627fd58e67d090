"""The one reader of HTTP bodies, for API answers and downloads alike: which
``Content-Encoding`` is accepted, how it is decoded, and the size cap counted on
the decoded bytes as they are decoded.

httpx's own decoders inflate each network read in one piece and apply every layer
of a stacked encoding (``gzip, gzip``), so a few hundred bytes on the wire can
become hundreds of MiB before a cap on the decoded body could count them. Here the
raw bytes are decoded with a bounded output step (:data:`DECODE_STEP`), a single
layer of ``gzip``, ``x-gzip`` or ``deflate`` at most, and the cap stops the read
as soon as the decoded bytes pass it. Every other encoding, and any stack of them,
is refused (:class:`BodyRefused`); each caller turns that into its typed error
(:class:`~krea_async.APIResponseValidationError` or an
:class:`~krea_async.APIStatusError` for an API answer,
:class:`~krea_async.DownloadError` for a download).

Source: RFC 9110, section 8.4 (``Content-Encoding`` lists the codings in the
order applied).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator

import httpx

__all__ = [
    "ACCEPTED_ENCODINGS",
    "DECODE_STEP",
    "BodyRefused",
    "BodyTooLarge",
    "content_encoding",
    "decoded_chunks",
    "read_body",
]

DECODE_STEP = 1024 * 1024
"""Most bytes one step of decoding produces (1 MiB), whatever the compression ratio."""

ACCEPTED_ENCODINGS = ("identity", "gzip", "x-gzip", "deflate")
"""The ``Content-Encoding`` values read (one layer at most); anything else is refused."""


class BodyRefused(Exception):
    """A body this reader will not decode: a stacked or unknown ``Content-Encoding``,
    or a corrupt compressed stream. ``str()`` says which, in a short sentence."""


class BodyTooLarge(Exception):
    """The decoded body (or its announced ``Content-Length``) passed the cap."""


def content_encoding(response: httpx.Response) -> str:
    """The response's one accepted content coding (``"identity"`` when none is
    named); raises :class:`BodyRefused` for an unknown coding or a stack of them."""
    values = response.headers.get_list("content-encoding", split_commas=True)
    codings = [v.strip().lower() for v in values if v.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return "identity"
    if len(codings) > 1:
        shown = ", ".join(codings)[:60]
        raise BodyRefused(f"a stacked content encoding ({shown!r}) is refused")
    if codings[0] not in ACCEPTED_ENCODINGS:
        raise BodyRefused(f"content encoding {codings[0][:50]!r} is refused (only gzip or deflate)")
    return codings[0]


async def decoded_chunks(
    response: httpx.Response, max_bytes: int | None
) -> AsyncGenerator[bytes, None]:
    """The body of a streamed ``response``, decoded :data:`DECODE_STEP` bytes at most
    at a time; raises :class:`BodyTooLarge` as soon as the decoded bytes pass
    ``max_bytes`` (``None``: no cap), or the announced ``Content-Length`` of an
    unencoded body does, and :class:`BodyRefused` (see :func:`content_encoding`).
    ``httpx`` transport errors while reading pass through."""
    encoding = content_encoding(response)
    if response.is_stream_consumed:
        # A response built in memory (a mock transport, an event hook that read it):
        # httpx has already decoded it.
        body = response.content
        if max_bytes is not None and len(body) > max_bytes:
            raise BodyTooLarge
        yield body
        return
    declared = response.headers.get("content-length", "")
    if (
        max_bytes is not None
        and encoding == "identity"
        and declared.isdigit()
        and int(declared) > max_bytes
    ):
        raise BodyTooLarge
    size = 0
    if encoding == "identity":
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise BodyTooLarge
            yield chunk
        return
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if "gzip" in encoding else zlib.MAX_WBITS)
    try:
        async for raw in response.aiter_raw():
            data = raw
            while data and not inflater.eof:
                out = inflater.decompress(data, DECODE_STEP)
                data = inflater.unconsumed_tail
                if out:
                    size += len(out)
                    if max_bytes is not None and size > max_bytes:
                        raise BodyTooLarge
                    yield out
        rest = inflater.flush()
    except zlib.error as exc:
        raise BodyRefused(f"the {encoding} body is corrupt ({exc})") from None
    if rest:
        size += len(rest)
        if max_bytes is not None and size > max_bytes:
            raise BodyTooLarge
        yield rest


async def read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The whole decoded body of a streamed ``response`` (see :func:`decoded_chunks`)."""
    chunks: list[bytes] = []
    async for chunk in decoded_chunks(response, max_bytes):
        chunks.append(chunk)
    return b"".join(chunks)
