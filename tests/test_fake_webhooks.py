"""The fake delivers webhooks for real over loopback: a job created with
``X-Webhook-URL`` is POSTed to that URL once terminal, with the duplicates,
delay, reordering and loss a :class:`WebhookPolicy` asks for.

The receiver is a small Starlette app on a real uvicorn server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio.to_thread
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from krea_async.testing import FakeKrea, ManualClock, WebhookAttempt, WebhookPolicy

pytestmark = pytest.mark.loopback

FLUX = "/generate/image/bfl/flux-1-dev"
AUTH = {"Authorization": "Bearer hook-token"}


class Receiver:
    """A Starlette app on uvicorn (127.0.0.1) that keeps every JSON body it gets."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 204
        self.url = ""

    async def _hook(self, request: Request) -> Response:
        self.received.append(await request.json())
        return Response(status_code=self.status)

    @classmethod
    def running(cls) -> Iterator[Receiver]:
        receiver = cls()
        app = Starlette(routes=[Route("/hook", receiver._hook, methods=["POST"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", loop="asyncio")
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.005)
        receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        try:
            yield receiver
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from Receiver.running()


def wait_until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def submit(c: httpx.Client, url: str, prompt: str) -> str:
    r = c.post(FLUX, json={"prompt": prompt}, headers={"X-Webhook-URL": url})
    assert r.status_code == 200, r.text
    return str(r.json()["job_id"])


def test_each_terminal_state_is_posted_once_with_the_job_json(receiver: Receiver) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, deliver_webhooks=True)
    with fake, fake.serve_in_thread() as base, httpx.Client(base_url=base, headers=AUTH) as c:
        done = submit(c, receiver.url, "done")
        doomed = submit(c, receiver.url, "doomed")
        c.delete(f"/jobs/{doomed}")
        wait_until(lambda: len(receiver.received) == 1)
        assert receiver.received[0]["job_id"] == doomed
        assert receiver.received[0]["status"] == "cancelled"
        clock.advance(60)
        wait_until(lambda: len(receiver.received) == 2)
        payload = receiver.received[1]
        assert payload["job_id"] == done
        assert payload["status"] == "completed"
        assert payload["result"]["urls"][0].startswith(base + "/_fake/files/")
        assert payload == fake.job(done)  # the full job JSON, as GET /jobs/{id} returns it
        c.get("/jobs")  # a tick later, still nothing more
        time.sleep(0.1)
    assert len(receiver.received) == 2
    assert [(a.job_id, a.copy, a.response_status) for a in fake.webhook_attempts] == [
        (doomed, 0, 204),
        (done, 0, 204),
    ]
    assert {w.job_id: w.response_status for w in fake.webhooks} == {doomed: 204, done: 204}


def test_duplicates_arrive_and_are_recorded(receiver: Receiver) -> None:
    fake = FakeKrea(time_scale=0.001, deliver_webhooks=WebhookPolicy(duplicates=2))
    with fake, fake.serve_in_thread() as base, httpx.Client(base_url=base, headers=AUTH) as c:
        job = submit(c, receiver.url, "twice")
        wait_until(lambda: len(receiver.received) == 3)
    assert [p["job_id"] for p in receiver.received] == [job] * 3
    assert sorted(a.copy for a in fake.webhook_attempts) == [0, 1, 2]
    assert len(fake.webhooks) == 1  # one terminal transition, three copies


def test_delay_holds_each_post_back(receiver: Receiver) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, deliver_webhooks=WebhookPolicy(delay=0.3))
    with fake, fake.serve_in_thread() as base, httpx.Client(base_url=base, headers=AUTH) as c:
        job = submit(c, receiver.url, "late")
        c.delete(f"/jobs/{job}")
        clock.advance(0.29)
        time.sleep(0.2)  # ten ticks of the sender: had the copy been due, it would be sent
        assert receiver.received == []
        assert fake.webhooks_pending() == 1
        clock.advance(0.02)  # past 0.3 s on the fake's clock since the job ended
        wait_until(lambda: len(receiver.received) == 1)
    assert fake.webhooks_pending() == 0


def test_reordering_shuffles_deliveries_reproducibly(receiver: Receiver) -> None:
    def run(seed: int) -> list[str]:
        receiver.received.clear()
        clock = ManualClock()
        # one sender: copies due in the same tick then leave in the seeded order
        # (with several senders they race, which reorders them further)
        policy = WebhookPolicy(reorder=0.2, seed=seed, tick=0.05, workers=1)
        fake = FakeKrea(clock=clock, deliver_webhooks=policy)
        with fake, fake.serve_in_thread() as base, httpx.Client(base_url=base, headers=AUTH) as c:
            jobs = [submit(c, receiver.url, f"job {i}") for i in range(8)]
            clock.advance(60)  # all complete at one clock step, in creation order
            clock.advance(1)  # past every copy's reorder draw (0..0.2 s on the clock)
            wait_until(lambda: len(receiver.received) == 8)
            order = [p["job_id"] for p in receiver.received]
        assert sorted(order) == sorted(jobs)
        return [str(jobs.index(j)) for j in order]

    first = run(7)
    assert first != sorted(first)  # out of order
    assert run(7) == first  # the same seed, the same order


def test_loss_drops_copies_and_says_which(receiver: Receiver) -> None:
    fake = FakeKrea(time_scale=0.001, deliver_webhooks=WebhookPolicy(loss=0.5, seed=3))
    with fake, fake.serve_in_thread() as base, httpx.Client(base_url=base, headers=AUTH) as c:
        jobs = [submit(c, receiver.url, f"maybe {i}") for i in range(20)]
        wait_until(lambda: len(fake.webhook_attempts) == 20 and fake.webhooks_pending() == 0)
    attempts: list[WebhookAttempt] = fake.webhook_attempts
    lost = {a.job_id for a in attempts if a.lost}
    sent = {a.job_id for a in attempts if not a.lost}
    assert lost
    assert sent
    assert lost | sent == set(jobs)
    assert not lost & sent
    assert {p["job_id"] for p in receiver.received} == sent
    assert all(a.sent_at is None and a.response_status is None for a in attempts if a.lost)


def test_an_unreachable_receiver_is_recorded_as_an_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"  # bound, never listening
        fake = FakeKrea(time_scale=0.001, deliver_webhooks=WebhookPolicy(timeout=1))
        with fake, fake.serve_in_thread() as base, httpx.Client(base_url=base, headers=AUTH) as c:
            submit(c, dead, "nobody home")
            wait_until(lambda: len(fake.webhook_attempts) == 1)
    [attempt] = fake.webhook_attempts
    assert attempt.response_status is None
    assert attempt.error is not None
    assert attempt.error.startswith("ConnectError")
    assert fake.webhooks[0].error == attempt.error


def test_policy_values_are_checked() -> None:
    with pytest.raises(ValueError, match="loss"):
        WebhookPolicy(loss=1.5)
    with pytest.raises(ValueError, match="delay"):
        WebhookPolicy(delay=-1)
    with pytest.raises(ValueError, match="duplicates"):
        WebhookPolicy(duplicates=-1)


def test_a_webhook_url_that_is_not_a_uri_is_400() -> None:
    fake = FakeKrea()
    with fake.serve_in_thread() as base, httpx.Client(base_url=base, headers=AUTH) as c:
        r = c.post(FLUX, json={"prompt": "x"}, headers={"X-Webhook-URL": "not a url at all"})
    assert r.status_code == 400
    assert "X-Webhook-URL" in r.json()["error"]
    assert fake.ledger == []


def test_a_dead_receiver_does_not_hold_back_other_deliveries(receiver: Receiver) -> None:
    """Deliveries run concurrently: while one receiver hangs (it answers only when
    the test lets it), the webhook of another job still arrives."""
    release = threading.Event()
    entered = threading.Event()

    async def hang(request: Request) -> Response:
        entered.set()
        await anyio.to_thread.run_sync(release.wait, 30)
        return Response(status_code=204)

    app = Starlette(routes=[Route("/dead", hang, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    dead_url = f"http://127.0.0.1:{sock.getsockname()[1]}/dead"
    clock = ManualClock()
    fake = FakeKrea(clock=clock, deliver_webhooks=WebhookPolicy(timeout=30))
    try:
        with fake, fake.serve_in_thread() as base, httpx.Client(base_url=base, headers=AUTH) as c:
            wait_until(lambda: server.started)
            stuck = submit(c, dead_url, "to a dead receiver")
            c.delete(f"/jobs/{stuck}")
            assert entered.wait(10)  # the first POST is in flight and hangs
            fine = submit(c, receiver.url, "to a live receiver")
            c.delete(f"/jobs/{fine}")
            wait_until(lambda: len(receiver.received) == 1, 10)
            assert not release.is_set()  # the dead receiver still holds its POST
            assert receiver.received[0]["job_id"] == fine
            release.set()
            wait_until(lambda: fake.webhooks_pending() == 0, 10)
    finally:
        release.set()
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert {a.job_id: a.response_status for a in fake.webhook_attempts} == {stuck: 204, fine: 204}
