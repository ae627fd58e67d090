"""A model's lifecycle as Krea's answers announce it: deprecation headers become one
Python warning per model per process.

Source: docs.krea.ai/developers/deprecations. Every successful answer from a deprecated
endpoint carries ``Deprecation: true`` (or an RFC 9745 ``@<epoch>`` date), ``Sunset:
<RFC 1123 date>`` (when it stops accepting requests) and ``Link: <https://docs.krea.ai/
developers/deprecations#...>; rel="deprecation"``. After the sunset the endpoint answers
``410 model_unavailable`` (:class:`~krea_async.ModelUnavailableError`'s territory, not
this module's).
"""

from __future__ import annotations

import email.utils
import re
import threading
import warnings

import httpx

from .._types import user_stacklevel

__all__ = ["ModelDeprecationWarning", "deprecation_notice", "warn_deprecated"]

#: A link worth printing: http(s), printable ASCII, no quotes or angle brackets.
_LINK = re.compile(r"<(https?://[!#-;=?-~]{1,500})>\s*;[^,]*\brel=\"?deprecation\b", re.I)
_ENDPOINT = re.compile(r"[A-Za-z0-9._/-]{1,200}")

_warned: set[str] = set()
_lock = threading.Lock()


class ModelDeprecationWarning(FutureWarning):
    """Krea has deprecated a model this process called (a ``FutureWarning``, shown by
    default): the message names the endpoint, the sunset date (the day it stops
    accepting requests, from the ``Sunset`` header) and Krea's migration page where the
    ``Link`` header gives one. Issued once per model per process. After the sunset the
    endpoint answers 410 (:class:`~krea_async.ModelUnavailableError`). Source:
    docs.krea.ai/developers/deprecations."""


def deprecation_notice(response: httpx.Response) -> str | None:
    """The text of a :class:`ModelDeprecationWarning` for the endpoint of ``response``
    (a successful ``POST /generate/...`` answer) when its headers say the model is
    deprecated, the first time per endpoint per process; else ``None``. Header values
    are server text: only a parsed date and an http(s) link of printable characters
    reach the text. Issue it with :func:`warn_deprecated` from the caller's task (a
    submit may run in a child task, where the caller's line is not on the stack)."""
    headers = response.headers
    value = headers.get("deprecation")
    if value is None or value.strip().lower() == "false":
        return None
    path = response.request.url.path
    endpoint = path[len("/generate/") :] if path.startswith("/generate/") else path
    if not _ENDPOINT.fullmatch(endpoint):
        return None
    with _lock:
        if endpoint in _warned:
            return None
        _warned.add(endpoint)
    text = f"Krea has deprecated {endpoint}"
    sunset = _date(headers.get("sunset", ""))
    if sunset:
        text += f"; it stops accepting requests on {sunset} (after that: 410)"
    link = _LINK.search(headers.get("link", ""))
    text += f"; see {link.group(1)}" if link else "; see docs.krea.ai/developers/deprecations"
    return text


def warn_deprecated(text: str) -> None:
    """Issue a :class:`ModelDeprecationWarning` with ``text`` (from
    :func:`deprecation_notice`), pointing at the first line outside krea-async."""
    warnings.warn(text, ModelDeprecationWarning, stacklevel=user_stacklevel())


def _date(value: str) -> str | None:
    """``YYYY-MM-DD`` of an RFC 1123 date, or ``None`` when it does not parse."""
    try:
        return email.utils.parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
