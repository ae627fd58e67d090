"""The checks on the URLs a server gives: scheme, host, redirects into internal
networks (the address rule itself is :mod:`krea_async._http.addresses`)."""

from __future__ import annotations

from typing import NoReturn

import httpx

from .._errors import DownloadError
from .._http.urls import is_loopback_host
from .names import _of_job, _short_url

__all__: list[str] = []


def _parse_url(
    text: str, original: str, job_id: str | None, *, base: httpx.URL | None = None
) -> httpx.URL:
    problem = ""
    cause: Exception | None = None
    try:
        url = base.join(text) if base is not None else httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        problem, cause = str(exc)[:200], exc
    else:
        labels = url.host.removesuffix(".").split(".")
        if len(url.host) <= 253 and all(0 < len(label) < 64 for label in labels):
            return url
        problem, cause = "invalid host name", None
    error = DownloadError(
        f"invalid URL {_short_url(text)!r}{_of_job(job_id)}: {problem}",
        url=original,
        job_id=job_id,
    )
    raise error from cause


def _check_scheme(url: httpx.URL, *, allow_http: bool, original: str, job_id: str | None) -> None:
    if url.scheme == "https":
        return
    if url.scheme == "http" and (allow_http or _is_loopback(url)):
        return
    raise DownloadError(
        f"refusing to download from non-HTTPS URL {_short_url(url)}{_of_job(job_id)}",
        url=original,
        job_id=job_id,
    )


def _is_loopback(url: httpx.URL) -> bool:
    return is_loopback_host(url.host)


def _refuse_internal(url: httpx.URL, original: str, job_id: str | None, where: str) -> NoReturn:
    raise DownloadError(
        f"refusing a redirect from {_short_url(original)} into an internal network "
        f"({where}: {_short_url(url)}){_of_job(job_id)}",
        url=original,
        job_id=job_id,
    )
