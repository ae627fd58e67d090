"""The data every fake starts with: two public styles (an official one and another
user's) and a sample node app (:data:`SAMPLE_NODE_APP_ID`)."""

from __future__ import annotations

import uuid

from ._state import State
from ._util import iso

__all__ = ["SAMPLE_NODE_APP_ID", "seed_state"]

#: The id of the node app every fake starts with (``GET /node-apps/{id}``).
SAMPLE_NODE_APP_ID = "0c5d3b1e-7f1a-4c2e-9d8b-5a6f7e8d9c01"


def seed_state(state: State) -> None:
    """Add the seed styles and node app to ``state``."""
    created = iso(round(state.clock() * 1_000_000))
    for sid, title, owner, models in (
        (
            "krea-fake-official-watercolor",
            "Watercolor (fake official style)",
            None,
            ["flux_dev", "flux_schnell"],
        ),
        (
            "krea-fake-community-neon",
            "Neon noir (fake community style)",
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "krea-fake-someone-else")),
                "name": "someone-else",
                "avatar_url": None,
            },
            ["flux_dev"],
        ),
    ):
        state.seed_style(
            {
                "id": sid,
                "title": title,
                "urls": [f"/_fake/images/512x768/{sid}.png"],
                "public": True,
                "cover_url": f"/_fake/images/512x768/{sid}.png",
                "prompt": title.split(" (")[0],
                "models": models,
                "owner": owner,
                "like_count": 42,
                "created_at": created,
            },
            owner=None,
        )
    state.node_apps[SAMPLE_NODE_APP_ID] = {
        "id": SAMPLE_NODE_APP_ID,
        "author_id": "krea-fake-author",
        "workspace_id": "fake-workspace",
        "name": "Product shot (fake)",
        "slug": "product-shot-fake",
        "description": "A sample node app of the fake: num_images pictures of a prompt.",
        "scope": "public",
        "created_at": created,
        "updated_at": created,
        "last_version_id": SAMPLE_NODE_APP_ID,
        "version": 1,
        "version_created_at": created,
        "username": "krea-fake",
        "example_outputs": ["/_fake/images/768x768/product-shot.png"],
        "input_openapi_schema": {
            "type": "object",
            "properties": {
                "prompt": {"type": "string", "minLength": 1, "maxLength": 1800},
                "num_images": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
                "image_url": {"type": "string", "format": "uri"},
            },
            "required": ["prompt"],
            "additionalProperties": False,
        },
        "output_openapi_schema": {
            "type": "object",
            "properties": {"images": {"type": "array", "items": {"type": "string"}}},
            "required": ["images"],
        },
        "input_key_mapping": {
            "prompt": "node-1-text",
            "num_images": "node-2-count",
            "image_url": "node-3-image",
        },
        "output_key_mapping": {"node-9-images": "images"},
    }
