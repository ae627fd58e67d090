"""The checks on the URLs a server gives: scheme, host, redirects
into internal networks (public names in :mod:`krea_async.files`)."""

from __future__ import annotations

import ipaddress
import socket

import httpx

from .._errors import DownloadError
from .._http.urls import is_loopback_host
from .names import _of_job, _short_url

__all__: list[str] = []


def _internal_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, link-local, private (RFC 1918, fc00::/7), shared (100.64/10),
    unspecified, multicast or reserved: not a place a public CDN sends you."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_V4)
    )


_SHARED_V4 = ipaddress.IPv4Network("100.64.0.0/10")


def _internal_host(host: str) -> bool:
    """Whether ``host`` names an internal address without a DNS lookup: ``localhost``
    names, and literal IPs in any form the resolver accepts (``127.1``,
    ``2130706433``, ``0x7f.0.0.1``, ``[::ffff:127.0.0.1]``)."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return _internal_ip(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host):
        try:
            return _internal_ip(ipaddress.IPv4Address(socket.inet_aton(host)))
        except OSError:
            return False
    return False


def _peer_ip(response: httpx.Response) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address the response actually came from, when the transport says."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        addr = stream.get_extra_info("server_addr")
        return ipaddress.ip_address(str(addr[0]).split("%", 1)[0]) if addr else None
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


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


def _refuse_internal(url: httpx.URL, original: str, job_id: str | None, where: str) -> None:
    raise DownloadError(
        f"refusing a redirect from {_short_url(original)} into an internal network "
        f"({where}: {_short_url(url)}){_of_job(job_id)}",
        url=original,
        job_id=job_id,
    )
