"""URL and path rules: base URLs, endpoints, resource paths, webhook URLs.

One place for each: :func:`normalize_endpoint` (what the client, the CLI and the
fake use to read ``"image/bfl/flux-1-dev"`` / ``"/generate/image/..."``),
:func:`split_endpoint`, :func:`resource_path`, :func:`webhook_headers`,
:func:`webhook_base_url`, :func:`is_loopback_host`, :func:`check_base_url` and
:func:`base_url_origin` (which says where a base URL came from, for messages).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from urllib.parse import quote

import httpx

from .._errors import ConfigurationError

__all__ = [
    "CATEGORIES",
    "DEFAULT_BASE_URL",
    "base_url_origin",
    "check_base_url",
    "is_loopback_host",
    "normalize_endpoint",
    "resource_path",
    "split_endpoint",
    "webhook_base_url",
    "webhook_headers",
]

DEFAULT_BASE_URL = "https://api.krea.ai"
"""The API's base URL when neither ``base_url=`` nor ``$KREA_BASE_URL`` is given."""

#: The generation categories of Krea's ``/generate/{category}/...`` paths.
CATEGORIES = ("image", "video", "enhance")
_SEGMENT = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]+")
_PREFIX = "generate/"


def normalize_endpoint(endpoint: str) -> str:
    """``"/generate/image/bfl/flux-1-dev"`` and ``"image/bfl/flux-1-dev"`` -> the latter.

    Only strips slashes, spaces and the ``generate/`` prefix; :func:`split_endpoint`
    also validates.
    """
    key = endpoint.strip().strip("/")
    if key.startswith(_PREFIX):
        key = key[len(_PREFIX) :]
    return key


def split_endpoint(endpoint: str) -> tuple[str | None, str]:
    """``"image/bfl/flux-1-dev"`` or ``"/generate/image/bfl/flux-1-dev"`` ->
    ``(category or None, "/generate/image/bfl/flux-1-dev")``.

    The category is ``None`` when it is not one of :data:`CATEGORIES`. Raises
    :class:`ValueError` for anything but two or more segments of letters, digits,
    ``.``, ``_`` and ``-``.
    """
    if not isinstance(endpoint, str) or not endpoint.strip("/ "):
        raise ValueError(
            f"endpoint must be a path such as 'image/bfl/flux-1-dev', got {endpoint!r}"
        )
    path = normalize_endpoint(endpoint)
    segments = path.split("/")
    if len(segments) < 2 or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise ValueError(
            f"endpoint must be a path such as 'image/bfl/flux-1-dev' (segments of letters, "
            f"digits, '.', '_' and '-'), got {endpoint!r}"
        )
    # the shared constant, not this call's substring (kept by each waiting subscribe)
    category = next((c for c in CATEGORIES if c == segments[0]), None)
    return category, "/generate/" + path


def resource_path(prefix: str, resource_id: str, what: str) -> str:
    """``prefix/<id>`` with the id URL-quoted; :class:`ValueError` for an empty id."""
    if not isinstance(resource_id, str) or resource_id.strip() in ("", ".", ".."):
        raise ValueError(f"{what} must be a non-empty string, got {resource_id!r}")
    return f"{prefix}/{quote(resource_id.strip(), safe='')}"


def webhook_headers(webhook_url: str | None) -> dict[str, str]:
    """The ``X-Webhook-URL`` header for a job-creating request (empty without a URL).

    Krea POSTs the terminal job there (Krea's webhook docs, https://docs.krea.ai).
    Raises :class:`ValueError` for anything but an absolute ``http(s)://`` URL.
    """
    if webhook_url is None:
        return {}
    try:
        parsed = httpx.URL(webhook_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"webhook_url is not a valid URL: {webhook_url!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"webhook_url must be an http(s) URL, got {webhook_url!r}")
    return {"X-Webhook-URL": str(parsed)}


def webhook_base_url(url: str | None) -> str:
    """The client's webhook base URL: ``url`` (``None``: ``$KREA_WEBHOOK_URL``), stripped;
    ``""`` means webhooks are off. Checked by :func:`krea_async._jobs.wakeup.wakeup_for`."""
    return (os.environ.get("KREA_WEBHOOK_URL", "") if url is None else url).strip()


def is_loopback_host(host: str) -> bool:
    """``True`` for ``localhost``, 127.0.0.0/8 and ``::1``."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: httpx.URL, *, allow_insecure_http: bool) -> None:
    """Refuse to send the key over plain HTTP to a non-loopback host (ConfigurationError)."""
    if base_url.scheme not in ("http", "https"):
        raise ConfigurationError(f"base_url must be http(s)://, got {str(base_url)!r}")
    if (
        base_url.scheme == "http"
        and not allow_insecure_http
        and not is_loopback_host(base_url.host)
    ):
        raise ConfigurationError(
            f"refusing to send the API key in clear text to {base_url.host!r} over http://; "
            "use https://, or a loopback address (in Python, AsyncKrea(allow_insecure_http=True) "
            "opts in)"
        )


def base_url_origin(base_url: httpx.URL) -> str:
    """Where ``base_url`` came from, for error messages: ``"from KREA_BASE_URL"``,
    ``"the default"`` (:data:`DEFAULT_BASE_URL`) or ``"from base_url="``; read from
    the environment when asked (the client resolves ``base_url=`` first, then
    ``$KREA_BASE_URL``, then the default)."""
    env = os.environ.get("KREA_BASE_URL", "").strip()
    with contextlib.suppress(httpx.InvalidURL):
        if env and httpx.URL(env) == base_url:
            return "from KREA_BASE_URL"
    if base_url == httpx.URL(DEFAULT_BASE_URL):
        return "the default; set KREA_BASE_URL or base_url= for another"
    return "from base_url="
