"""The fake Krea API over a real socket: ``serve_in_thread`` (uvicorn), the
``python -m krea_async.testing serve`` command, Krea's docs examples, webhooks."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from krea_async.testing import (
    FakeKrea,
    ManualClock,
    drop_after,
    drop_before,
    http_error,
    refuse_connection,
    slow,
)

pytestmark = pytest.mark.loopback

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
FLUX = "/generate/image/bfl/flux-1-dev"
AUTH = {"Authorization": "Bearer loopback-token"}


def fake_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("krea-fake")]


def test_serve_in_thread_runs_a_job_and_shuts_down_cleanly() -> None:
    fake = FakeKrea(time_scale=0.01)  # Flux: 0.07 s
    with fake.serve_in_thread() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert fake_threads()
        with httpx.Client(base_url=base_url, headers=AUTH) as c:
            job = c.post(FLUX, json={"prompt": "loop", "width": 640, "height": 512}).json()
            for _ in range(50):
                job = c.get(f"/jobs/{job['job_id']}").json()
                if job["status"] == "completed":
                    break
                time.sleep(0.02)
            assert job["status"] == "completed"
            url = job["result"]["urls"][0]
            assert url.startswith(base_url + "/_fake/files/")
            image = httpx.get(url)  # no auth
            assert image.headers["content-type"] == "image/png"
            assert image.content[16:24] == (640).to_bytes(4, "big") + (512).to_bytes(4, "big")
    assert fake_threads() == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url + "/jobs", headers=AUTH)


def test_manual_clock_driven_from_the_test_thread() -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0, concurrency=1)
    with fake.serve_in_thread() as base_url, httpx.Client(base_url=base_url, headers=AUTH) as c:
        first = c.post(FLUX, json={"prompt": "a"}).json()
        second = c.post(FLUX, json={"prompt": "b"}).json()
        assert (first["status"], second["status"]) == ("queued", "backlogged")
        clock.advance(7)
        assert c.get(f"/jobs/{second['job_id']}").json()["status"] == "queued"
        clock.advance(7)
        assert c.get(f"/jobs/{second['job_id']}").json()["status"] == "completed"


@pytest.mark.parametrize("fault", [drop_before(), drop_after(), refuse_connection()])
def test_dropped_connection_is_a_connection_error_not_a_500(fault: object) -> None:
    fake = FakeKrea()
    fake.inject(fault, on="submit", times=1)  # type: ignore[arg-type]
    with fake.serve_in_thread() as base_url, httpx.Client(base_url=base_url, headers=AUTH) as c:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            c.post(FLUX, json={"prompt": "x"}, headers={"X-Request-Trace": "once"})
        created = len(fake.ledger)
        assert c.post(FLUX, json={"prompt": "x"}).status_code == 200  # the server lives on
    assert created == (1 if fault == drop_after() else 0)


def test_slow_and_http_faults_over_loopback() -> None:
    fake = FakeKrea()
    fake.inject(slow(0.4), on="poll", times=1)
    fake.inject(http_error(502, html=True), on="list", times=1)
    with fake.serve_in_thread() as base_url, httpx.Client(base_url=base_url, headers=AUTH) as c:
        job_id = c.post(FLUX, json={"prompt": "x"}).json()["job_id"]
        with pytest.raises(httpx.ReadTimeout):
            c.get(f"/jobs/{job_id}", timeout=0.1)
        bad = c.get("/jobs")
        assert bad.status_code == 502
        assert "text/html" in bad.headers["content-type"]
        assert c.get("/jobs").status_code == 200


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, object]]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_webhooks_are_posted_when_asked(receiver: tuple[str, list[dict[str, object]]]) -> None:
    url, received = receiver
    fake = FakeKrea(time_scale=0.01, deliver_webhooks=True)
    with fake, fake.serve_in_thread() as base_url:
        job = httpx.post(
            base_url + FLUX, json={"prompt": "hook"}, headers={**AUTH, "X-Webhook-URL": url}
        ).json()
        deadline = time.monotonic() + 3
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
    assert [p["job_id"] for p in received] == [job["job_id"]]
    assert received[0]["status"] == "completed"
    assert fake.webhooks[0].response_status == 204
    assert fake_threads() == []


def _run_example(cmd: list[str], base_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KREA_BASE_URL": base_url, "KREA_API_KEY": "docs-example-key"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize(
    ("script", "size"),
    [("text_to_image_requests.py", (1024, 576)), ("image_to_image_requests.py", (1024, 1024))],
)
@pytest.mark.slow  # subprocesses against the served fake
def test_docs_examples_run_unchanged(script: str, size: tuple[int, int]) -> None:
    pytest.importorskip("requests")
    fake = FakeKrea(api_key="docs-example-key")  # default time scale: done before the 2 s poll
    with fake.serve_in_thread() as base_url:
        done = _run_example([sys.executable, str(EXAMPLES / script)], base_url)
        assert done.returncode == 0, done.stderr
        url = done.stdout.strip().splitlines()[-1]
        image = httpx.get(url)
    assert url.startswith(base_url)
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = int.from_bytes(image.content[16:20], "big"), int.from_bytes(image.content[20:24], "big")
    assert (w, h) == size
    assert [e.path for e in fake.ledger] == [
        FLUX if script.startswith("text") else "/generate/image/google/nano-banana-pro"
    ]


@pytest.mark.slow  # subprocesses against the served fake
@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl binary")
def test_curl_example_runs_unchanged() -> None:
    fake = FakeKrea(api_key="docs-example-key")
    with fake.serve_in_thread() as base_url:
        done = _run_example(["sh", str(EXAMPLES / "text_to_image.sh")], base_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith(base_url + "/_fake/files/")
    assert fake.ledger[0].body == {
        "prompt": "a serene mountain landscape at sunset",
        "width": 1024,
        "height": 576,
        "steps": 28,
    }


@pytest.mark.slow  # subprocesses against the served fake
def test_serve_command_prints_the_url_and_serves() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "krea_async.testing",
            "serve",
            "--port",
            "0",
            "--api-key",
            "k",
            "--time-scale",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert "FAKE" in lines[0]
        base_url = lines[2].split("Base URL:")[1].strip()
        deadline = time.monotonic() + 10
        while True:
            try:
                r = httpx.post(
                    base_url + FLUX, json={"prompt": "cli"}, headers={"Authorization": "Bearer k"}
                )
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert r.status_code == 200
        assert r.json()["status"] == "queued"
        assert (
            httpx.get(base_url + "/jobs", headers={"Authorization": "Bearer x"}).status_code == 401
        )
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
