"""Batch against a hostile party (round 2): a busy directory, a server that pages
forever, a truncated ledger, prompts holding line separators.

The server of ``tests/hostile.py`` writes every byte on raw asyncio streams in its
own thread, so each async test runs under asyncio and trio; the fake
(``krea_async.testing``) plays the honest API where the hostility is local.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
from pathlib import Path

import anyio
import httpx
import pytest
from hostile import Conn, HostileServer, Request, drop, job_json, respond

from krea_async import AsyncKrea, JobSettings, RetryPolicy
from krea_async._batch._uncertain import MAX_CANDIDATES, MAX_LOOKUP_PAGES
from krea_async.batch import LEDGER_NAME, Batch, BatchLine, lines_from_prompts, load_lines
from krea_async.testing import FakeKrea

pytestmark = pytest.mark.anyio

KEY = "sk-hostile-0123456789abcdef"
ENDPOINT = "image/bytedance/seedream-4"
SMALL = {"width": 64, "height": 64}


def _lines(n: int) -> list[BatchLine]:
    return lines_from_prompts([f"fox {i}" for i in range(n)], ENDPOINT, input=SMALL)


def _batch(krea: AsyncKrea, lines: list[BatchLine], out: Path, **kwargs: object) -> Batch:
    options: dict[str, object] = {
        "concurrency": 2,
        "poll_interval": 0.02,
        "uncertain_grace": 0,
        "progress": False,
    }
    options.update(kwargs)
    return Batch(krea, lines, out, **options)  # type: ignore[arg-type]


def _states(out: Path) -> dict[str, str]:
    db = sqlite3.connect(out / LEDGER_NAME)
    try:
        return dict(db.execute("SELECT name, state FROM lines"))
    finally:
        db.close()


# --------------------------------------------------------------------- (a) busy directory


async def test_a_second_run_on_a_busy_directory_is_refused_before_it_touches_anything(
    tmp_path: Path,
) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.script("completed", times=None, seconds=0.5)
    lines = _lines(2)
    async with fake.client(jobs=JobSettings(poll_interval=0.02)) as krea:
        first = _batch(krea, lines, tmp_path)
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run)
            while not (tmp_path / LEDGER_NAME).exists():
                await anyio.sleep(0.01)
            # A download of the running batch, half written.
            part = tmp_path / ".000000.part"
            part.write_bytes(b"\x89PNG half")
            with pytest.raises(ValueError, match="another batch is running in"):
                await _batch(krea, lines, tmp_path).run()
            assert part.read_bytes() == b"\x89PNG half"
            part.unlink()
    assert first.summary is not None
    assert first.summary.ok, first.summary.line()


# ------------------------------------------------------------- (b) a look-up that never ends


def _client(server: HostileServer) -> AsyncKrea:
    return AsyncKrea(
        api_key=KEY,
        base_url=server.url,
        timeout=httpx.Timeout(2.0),
        retry=RetryPolicy(max_retries=0),
        jobs=JobSettings(poll_interval=0.01),
    )


def _endless_pages(created_at: str | None, *, give_up_after: int = 400) -> tuple[object, list[int]]:
    """``GET /jobs`` answered with 100 fresh jobs and a fresh cursor every time; after
    ``give_up_after`` pages a 400, so that an unbounded look-up ends too."""
    served = [0]

    async def action(request: Request, conn: Conn) -> None:
        served[0] += 1
        n = served[0]
        if n > give_up_after:
            await respond(400, json={"error": "enough"})(request, conn)
            return
        items = [job_json(f"job-{n}-{i}", "completed", created_at=created_at) for i in range(100)]
        page = {"items": items, "next_cursor": f"2026-01-01T00:00:{n:06d}Z"}
        await respond(200, json=page)(request, conn)

    return action, served


def _iso(value: _dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("when", ["future", "undated"])
async def test_the_uncertain_submit_look_up_stops_at_its_page_cap(
    tmp_path: Path, when: str
) -> None:
    """Jobs that cannot be the submit's (stamped days later, or not stamped) on
    fresh cursors forever: the look-up reads its page cap and leaves the line."""
    later = _iso(_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=3))
    action, served = _endless_pages(later if when == "future" else None)
    with HostileServer() as server:
        server.on("POST", "/generate/", drop())  # the submit's answer is lost
        server.on("GET", "/jobs", action)  # type: ignore[arg-type]
        async with _client(server) as krea:
            summary = await _batch(krea, _lines(1), tmp_path).run()
        pages = server.count("GET", "/jobs")
    assert pages == MAX_LOOKUP_PAGES == served[0]
    assert [(r.action, r.candidates) for r in summary.uncertain] == [("unresolved", ())]
    assert "gave up after" in summary.errors["000000"]
    assert summary.counts == {"uncertain": 1}  # not submitted again; looked up next run
    assert server.count("POST", "/generate/") == 1


async def test_a_flood_of_jobs_in_the_submit_window_is_read_once(tmp_path: Path) -> None:
    """Endless pages of jobs stamped inside the window: the submit is ambiguous after
    the first page; a few ids are kept for the report, and nothing is adopted."""
    action, served = _endless_pages(_iso(_dt.datetime.now(_dt.timezone.utc)))
    with HostileServer() as server:
        server.on("POST", "/generate/", drop())
        server.on("GET", "/jobs", action)  # type: ignore[arg-type]
        async with _client(server) as krea:
            summary = await _batch(krea, _lines(1), tmp_path).run()
        pages = server.count("GET", "/jobs")
    assert pages == 1 == served[0]
    (report,) = summary.uncertain
    assert report.action == "left"
    assert len(report.candidates) == MAX_CANDIDATES
    assert _states(tmp_path) == {"000000": "uncertain"}


async def test_the_look_up_ignores_jobs_outside_the_submit_window(tmp_path: Path) -> None:
    """A job stamped an hour after the submit cannot be its job: not adopted."""
    later = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(hours=1)
    page = {
        "items": [job_json("job-late", "completed", created_at=later.isoformat())],
        "next_cursor": None,
    }
    with HostileServer() as server:
        server.on("POST", "/generate/", drop())
        server.on("GET", "/jobs", respond(200, json=page))
        async with _client(server) as krea:
            summary = await _batch(krea, _lines(1), tmp_path).run()
    assert [(r.action, r.candidates) for r in summary.uncertain] == [("left", ())]
    assert _states(tmp_path) == {"000000": "uncertain"}


# -------------------------------------------------------------------- (c) truncated ledger


async def test_a_truncated_ledger_is_refused_and_bills_nothing(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    lines = _lines(3)
    async with fake.client(jobs=JobSettings(poll_interval=0.02)) as krea:
        assert (await _batch(krea, lines, tmp_path).run()).ok
        results = sorted(p.name for p in tmp_path.iterdir())
        (tmp_path / LEDGER_NAME).write_bytes(b"")  # truncated to 0 bytes
        with pytest.raises(ValueError, match="is empty"):
            await _batch(krea, lines, tmp_path).run()
        assert len(fake.ledger) == 3  # nothing submitted again
        assert sorted(p.name for p in tmp_path.iterdir()) == results
        assert (tmp_path / LEDGER_NAME).read_bytes() == b""  # left for the user to see
        # As the message says: delete it, and the ledger is rebuilt from the results.
        (tmp_path / LEDGER_NAME).unlink()
        (tmp_path / "000001.png").unlink()  # one result lost with it
        again = await _batch(krea, lines, tmp_path).run()
    assert again.ok, again.line()
    assert again.recovered == 2
    assert "2 found already downloaded" in again.line()
    assert [e.prompt for e in fake.ledger][3:] == ["fox 1"]  # only the missing line
    assert (tmp_path / "000001.png").exists()


def test_a_new_ledger_never_exists_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger appears by a rename of a complete file: a crash while it is made
    leaves no ledger (a fresh start), never an empty one."""
    from krea_async._batch import _ledger

    seen: list[int] = []
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        assert not (tmp_path / LEDGER_NAME).exists()
        seen.append(Path(src).stat().st_size)
        raise OSError("killed here")

    monkeypatch.setattr(_ledger.os, "replace", replace)
    with pytest.raises(OSError, match="killed here"):
        _ledger.Ledger(tmp_path / LEDGER_NAME)
    assert not (tmp_path / LEDGER_NAME).exists()
    assert len(seen) == 1
    assert seen[0] > 0  # what would have been renamed was a whole database
    monkeypatch.setattr(_ledger.os, "replace", real_replace)
    ledger = _ledger.Ledger(tmp_path / LEDGER_NAME)
    try:
        assert (tmp_path / LEDGER_NAME).stat().st_size > 0
        assert ledger.counts([]) == {}
    finally:
        ledger.close()


# ------------------------------------------------------------- (d) separators in a prompt

SEPARATORS = ["\u2028", "\u2029", "\x0c", "\x0b", "\x1c", "\x85"]


async def test_a_prompt_holding_line_separators_is_one_billed_job(tmp_path: Path) -> None:
    prompts = [f"a fox{sep}and a hen" for sep in SEPARATORS]
    src = tmp_path / "in.jsonl"
    # ensure_ascii=False writes U+2028, U+2029 and U+0085 raw: still valid JSON Lines.
    src.write_text(
        "".join(json.dumps({"prompt": p, **SMALL}, ensure_ascii=False) + "\r\n" for p in prompts),
        encoding="utf-8",
    )
    lines = load_lines(src, default_endpoint=ENDPOINT)
    assert [ln.input["prompt"] for ln in lines] == prompts
    txt = tmp_path / "in.txt"
    txt.write_text("".join(f"{p}\n" for p in prompts), encoding="utf-8", newline="")
    assert [ln.input["prompt"] for ln in load_lines(txt, default_endpoint=ENDPOINT)] == prompts
    fake = FakeKrea(time_scale=0.01)
    async with fake.client(jobs=JobSettings(poll_interval=0.02)) as krea:
        summary = await _batch(krea, lines, tmp_path / "out").run()
    assert summary.ok, summary.line()
    assert sorted(e.prompt or "" for e in fake.ledger) == sorted(prompts)
