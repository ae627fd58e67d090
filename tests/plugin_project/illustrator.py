"""The app under test: illustrates prompts with Krea."""

from __future__ import annotations

import httpx

from krea_async import AsyncKrea, JobFailedError

MODEL = "image/bfl/flux-1-dev"


async def illustrate(krea: AsyncKrea, prompt: str) -> str | None:
    """Return the URL of an image for ``prompt``, or ``None`` if the job failed."""
    try:
        result = await krea.subscribe(MODEL, input={"prompt": prompt})
    except JobFailedError:
        return None
    return result.data.urls[0]


async def illustrate_from_env(prompt: str) -> str | None:
    """Same, with a client configured from KREA_API_KEY / KREA_BASE_URL."""
    async with AsyncKrea() as krea:  # what a real app does: no test-only options
        return await illustrate(krea, prompt)


def submit_with_httpx(base_url: str, token: str, prompt: str) -> str:
    """An app with its own HTTP client: submit and return the job id."""
    response = httpx.post(
        f"{base_url}/generate/{MODEL}",
        json={"prompt": prompt},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    return str(response.json()["job_id"])
