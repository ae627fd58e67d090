"""The fake's assets, styles and node apps: a part of its state (see ``_state.py``),
behind the same lock."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ._util import ApiError, iso, paginate, parse_cursor, parse_limit

__all__ = ["AssetRecord", "Catalog", "StyleRecord"]


@attrs.define(kw_only=True, eq=False)
class StyleRecord:
    data: dict[str, Any]
    owner: str | None  # token of the API user who owns it; None: not the caller's
    created: int
    shared: bool = False
    share_code: str | None = None


@attrs.define(kw_only=True, eq=False)
class AssetRecord:
    data: dict[str, Any]
    owner: str
    created: int
    content: bytes


def _owner_json(owner: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "krea-fake-user:" + owner)),
        "name": "api-user",
        "avatar_url": None,
    }


class Catalog:
    """Assets, styles and node apps of one fake (a base of :class:`State`)."""

    def __init__(self) -> None:
        self.assets: dict[str, AssetRecord] = {}
        self.styles: dict[str, StyleRecord] = {}
        self.node_apps: dict[str, dict[str, Any]] = {}

    def _stamp(self) -> int:  # pragma: no cover - State defines it
        raise NotImplementedError

    def advance(self) -> float:  # pragma: no cover - State defines it
        raise NotImplementedError

    def add_asset(self, owner: str, content: bytes, data: dict[str, Any]) -> dict[str, Any]:
        """Store an upload; ``data`` lacks ``uploaded_at``, set here."""
        created = self._stamp()
        data["uploaded_at"] = iso(created)
        self.assets[data["id"]] = AssetRecord(
            data=data, owner=owner, created=created, content=content
        )
        return data

    def asset(self, asset_id: str, owner: str) -> AssetRecord:
        """One of the owner's assets (404 otherwise)."""
        found = self.assets.get(asset_id)
        if found is None or found.owner != owner:
            raise ApiError(404, f"Asset {asset_id} not found")
        return found

    def list_assets(self, owner: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /assets``: newest first, ``cursor`` = an ``uploaded_at``."""
        cursor = parse_cursor(query.get("cursor"))
        limit = parse_limit(query.get("limit"))
        mine = [a for a in self.assets.values() if a.owner == owner]
        page, next_cursor = paginate(mine, lambda a: a.created, cursor, limit)
        return {"items": [a.data for a in page], "next_cursor": next_cursor}

    # -- styles --------------------------------------------------------------------

    def seed_style(self, data: dict[str, Any], *, owner: str | None) -> None:
        """Add a style that exists from the start (an official or another user's)."""
        self.styles[data["id"]] = StyleRecord(data=data, owner=owner, created=self._stamp())

    def new_style(
        self, owner: str, *, name: str, model: str, urls: list[str], trigger_word: str | None
    ) -> dict[str, Any]:
        """The style a LoRA training job will create when it completes."""
        return {
            "id": str(uuid.uuid4()),
            "title": name,
            "urls": list(urls[:4]),
            "public": False,
            "cover_url": urls[0] if urls else None,
            "prompt": trigger_word or name,
            "models": [model],
            "owner": _owner_json(owner),
            "like_count": 0,
        }

    def style(
        self, style_id: str, owner: str, *, must_own: bool = False, forbidden: bool = False
    ) -> StyleRecord:
        """A style the caller can see (404), and owns when ``must_own`` (404 or,
        with ``forbidden=True``, 403)."""
        self.advance()
        found = self.styles.get(style_id)
        visible = found is not None and (
            found.owner == owner or found.shared or bool(found.data.get("public"))
        )
        if found is None or not visible:
            raise ApiError(404, f"Style {style_id} not found")
        if must_own and found.owner != owner:
            if forbidden:
                raise ApiError(403, "You do not own this style")
            raise ApiError(404, f"Style {style_id} not found or you are not the owner")
        return found

    def list_styles(self, owner: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /styles`` with ``filter``, ``ids``, ``user``, ``model``, ``liked``."""
        self.advance()
        cursor = parse_cursor(query.get("cursor"))
        limit = parse_limit(query.get("limit"))
        kind = query.get("filter") or "all"
        filters: dict[str, Callable[[StyleRecord], bool]] = {
            "all": lambda s: s.owner == owner or s.shared or bool(s.data["public"]),
            "user": lambda s: s.owner == owner,
            "community": lambda s: (
                bool(s.data["public"]) and s.data["owner"] is not None and s.owner != owner
            ),
            "krea": lambda s: s.data["owner"] is None,
            "shared": lambda s: s.shared,
            "unapproved": lambda s: False,
            "editor": lambda s: s.data["owner"] is None,
            "gallery": lambda s: bool(s.data["public"]),
            "public": lambda s: bool(s.data["public"]),
        }
        if kind not in filters:
            raise ApiError(400, f"filter: {kind!r} is not one of {list(filters)}")
        liked = (query.get("liked") or "false").lower()
        if liked not in ("true", "false"):
            raise ApiError(400, f"liked: {liked!r} is not a boolean")
        ids = {i for i in (query.get("ids") or "").split(",") if i}
        styles: Iterable[StyleRecord] = (s for s in self.styles.values() if filters[kind](s))
        if liked == "true":
            styles = ()  # the fake's users like nothing
        if ids:
            styles = (s for s in styles if s.data["id"] in ids)
        if query.get("user"):
            styles = (s for s in styles if (s.data["owner"] or {}).get("id") == query["user"])
        if query.get("model"):
            styles = (s for s in styles if query["model"] in s.data["models"])
        page, next_cursor = paginate(list(styles), lambda s: s.created, cursor, limit)
        return {"items": [s.data for s in page], "next_cursor": next_cursor}
