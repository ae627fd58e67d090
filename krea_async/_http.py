"""Compatibility shim: the old request-layer module, split in wave 1 of issue 7.

``HttpCore`` is now :class:`krea_async._request.Requester`; the transport
(pool, key, httpx-exception mapping) is :mod:`krea_async._transport`; URL rules
are :mod:`krea_async._urls`. Kept only until the branches that still import from
here are merged; import from the new modules.
"""

from __future__ import annotations

from ._request import Requester as HttpCore
from ._transport import DEFAULT_TIMEOUT, Secret, SharedState
from ._urls import check_base_url, is_loopback_host

__all__ = [
    "DEFAULT_TIMEOUT",
    "HttpCore",
    "Secret",
    "SharedState",
    "check_base_url",
    "is_loopback_host",
]
