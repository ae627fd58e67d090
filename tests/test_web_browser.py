"""The example FastAPI app in a real Chromium (Debian ``chromium`` driven by Playwright).

Type a prompt, see each state appear in order, see the image render; close the page
mid-job and see the fake mark the job ``cancelled``. The screenshot is saved in the
test's ``tmp_path`` (its path is printed). Never downloads a browser: it uses
``/usr/bin/chromium`` and is skipped only when that binary (or Playwright) is missing.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _web_helpers import serve, wait_until

from examples.fastapi_app.app import create_app
from krea_async import AsyncKrea
from krea_async.testing import FakeKrea

CHROMIUM = os.environ.get("KREA_TEST_CHROMIUM", "/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,  # a real Chromium
    pytest.mark.browser,
    pytest.mark.loopback,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]

playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install playwright")


def factory(url: str) -> Callable[[], AsyncKrea]:
    def make() -> AsyncKrea:
        return AsyncKrea(api_key="fake-key", base_url=url, allow_insecure_http=True)

    return make


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


def test_live_states_then_image(browser: object, tmp_path: Path) -> None:
    # Flux: 7 s x 0.3 = 2.1 s (0.6 s queued, then processing); the page polls every 0.1 s.
    with FakeKrea(time_scale=0.3) as fake, fake.serve_in_thread() as fake_url:
        app = create_app(factory(fake_url), poll_interval=0.1)
        with serve(app) as base:
            page = browser.new_page()  # type: ignore[attr-defined]
            page.goto(base)
            page.fill("#prompt", "a red fox in the snow")
            page.click("#go")
            page.wait_for_selector("#result", timeout=15_000)
            page.wait_for_function("document.getElementById('result').complete", timeout=10_000)
            width = page.evaluate("document.getElementById('result').naturalWidth")
            states = page.eval_on_selector_all("li.state", "els => els.map(e => e.textContent)")
            job_id = page.text_content("#job")
            shot = tmp_path / "fastapi_app_completed.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot: {shot}")
            page.close()
    assert states == ["queued", "processing", "completed"]
    assert width > 0
    assert fake.job(str(job_id))["status"] == "completed"
    assert shot.stat().st_size > 0


def test_closing_the_tab_cancels_the_job(browser: object) -> None:
    # Flux: 7 s x 3 = 21 s; the tab is closed while the job is processing.
    with FakeKrea(time_scale=3.0) as fake, fake.serve_in_thread() as fake_url:
        app = create_app(factory(fake_url), poll_interval=0.1)
        with serve(app) as base:
            page = browser.new_page()  # type: ignore[attr-defined]
            page.goto(base)
            page.fill("#prompt", "a fox who leaves early")
            page.click("#go")
            page.wait_for_selector("li.state", timeout=10_000)
            job_id = str(page.text_content("#job"))
            assert fake.job(job_id)["status"] in ("queued", "processing")
            closed = time.monotonic()
            page.close()
            wait_until(lambda: fake.job(job_id)["status"] == "cancelled", timeout=10)
            took = time.monotonic() - closed  # from the start of page.close()
    print(f"\ntab closed -> job cancelled: {took * 1000:.0f} ms")
    assert took < 1.0
