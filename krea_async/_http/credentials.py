"""The API key: checked once (:func:`check_api_key`), held where no ``repr`` or
message shows it (:class:`Secret`), and sent only as the ``Authorization`` header of
API requests (:class:`BearerAuth`). :data:`REDACTED` stands in for it everywhere else.

API keys: https://docs.krea.ai/developers/api-keys-and-billing
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from .._errors import ConfigurationError

__all__ = ["REDACTED", "BearerAuth", "Secret", "check_api_key"]


REDACTED = "**********"
"""What stands in for the API key wherever the SDK keeps text."""


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
    """Holds the API key; its ``repr`` and ``str`` never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself (only for the ``Authorization`` header)."""
        value: str = self._value
        return value

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the key replaced by ``**********``."""
        if self._value and self._value in text:
            return text.replace(self._value, REDACTED)
        return text

    def redact_data(self, value: object) -> object:
        """Parsed JSON with the key redacted from every string (keys included)."""
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
