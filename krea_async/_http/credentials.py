"""The API key: checked once (:func:`check_api_key`), held where no ``repr`` or
message shows it (:class:`Secret`), and sent only as the ``Authorization`` header of
API requests (:class:`BearerAuth`). :data:`REDACTED` stands in for it everywhere else.

A request may carry another secret: a webhook capability URL (``X-Webhook-URL``, see
:data:`CAPABILITY_HEADERS`), whose token lets its holder post to the app's receiver.
:meth:`Secret.with_capabilities` makes the redaction cover it too, and
:func:`redacted_headers` hides both headers of a request an error keeps.

API keys: https://docs.krea.ai/developers/api-keys-and-billing
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from .._errors import ConfigurationError

__all__ = [
    "CAPABILITY_HEADERS",
    "REDACTED",
    "BearerAuth",
    "Secret",
    "check_api_key",
    "redacted_headers",
]


REDACTED = "**********"
"""What stands in for the API key wherever the SDK keeps text."""

CAPABILITY_HEADERS = frozenset({"x-webhook-url"})
"""Request headers (lower case) whose value is a capability: a webhook URL ending in a
token (https://docs.krea.ai/developers/webhooks). Redacted like the key."""

# The shortest last path segment of a capability URL redacted on its own (a token).
_MIN_TOKEN_CHARS = 16


def check_api_key(key: str) -> str:
    """``key`` without surrounding whitespace, if it can travel in an HTTP header.

    A key must be visible ASCII (``!`` to ``~``) with no whitespace or control
    character inside; else :class:`~krea_async.ConfigurationError`, whose message
    says where the bad character is but never shows the key. A key pasted with its
    ``Bearer `` prefix (as it appears in an ``Authorization`` header) is refused
    with a message saying to drop the prefix.
    """
    key = key.strip()
    scheme, _, rest = key.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        raise ConfigurationError(
            "the API key starts with 'Bearer '; give the key alone (the SDK adds the "
            "'Bearer' prefix itself): drop 'Bearer ' from api_key= or KREA_API_KEY"
        )
    for index, char in enumerate(key):
        if not "!" <= char <= "~":
            kind = (
                "whitespace"
                if char.isspace()
                else "a control character"
                if ord(char) < 0x20 or ord(char) == 0x7F
                else "a non-ASCII character"
            )
            raise ConfigurationError(
                f"the API key contains {kind} at position {index} of {len(key)}; a Krea "
                "key is visible ASCII only (check how KREA_API_KEY was set)"
            )
    return key


class Secret:
    """Holds the API key; its ``repr`` and ``str`` never show it.

    ``also``: other secrets of the same request (see :meth:`with_capabilities`),
    redacted with the key but never revealed.
    """

    __slots__ = ("_also", "_value")

    def __init__(self, value: str, also: tuple[str, ...] = ()) -> None:
        self._value = value
        self._also = also

    def reveal(self) -> str:
        """The key itself (only for the ``Authorization`` header)."""
        value: str = self._value
        return value

    def with_capabilities(self, headers: httpx.Headers) -> Secret:
        """This key plus the capability URLs in ``headers`` (:data:`CAPABILITY_HEADERS`):
        each URL, and its last path segment (the token) when it has at least 16
        characters, so an echo of the token alone is caught too."""
        also: list[str] = []
        for name in CAPABILITY_HEADERS:
            for url in headers.get_list(name):
                also.append(url)
                token = url.rstrip("/").rsplit("/", 1)[-1]
                if len(token) >= _MIN_TOKEN_CHARS:
                    also.append(token)
        if not also:
            return self
        return Secret(self._value, tuple(sorted(set(also), key=len, reverse=True)))

    def _secrets(self) -> tuple[str, ...]:
        return tuple(v for v in (self._value, *self._also) if v)

    def found_in(self, text: str) -> bool:
        """Whether ``text`` shows the key or another secret of this request."""
        return any(v in text for v in self._secrets())

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the key (and of the request's other
        secrets) replaced by ``**********``."""
        for value in self._secrets():
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def redact_data(self, value: object) -> object:
        """Parsed JSON with the secrets redacted from every string (keys included)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact(str(k)): self.redact_data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact_data(v) for v in value]
        return value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


def redacted_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """``headers`` with ``Authorization`` and every capability header
    (:data:`CAPABILITY_HEADERS`) replaced by :data:`REDACTED`."""
    return [
        (k, REDACTED if k.lower() == "authorization" or k.lower() in CAPABILITY_HEADERS else v)
        for k, v in headers.multi_items()
    ]


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <key>`` to each API request (never to downloads)."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    @property
    def secret(self) -> Secret:
        """The key this auth sends (its repr never shows it)."""
        return self._secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._secret.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(**********)"
