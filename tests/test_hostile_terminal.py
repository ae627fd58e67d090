"""Terminal escape injection: server text printed by the CLI (``jobs show``, ``jobs
wait``, ``jobs list``, the ``error:`` line, ``batch``) never reaches the terminal
as control sequences, into a pipe as well as onto a screen.

The server (``tests/hostile.py``) writes every byte itself; the CLI runs under
click's runner (its output is a pipe, not a terminal) on asyncio and trio.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hostile import HostileServer, job_json, respond

from krea_async._cli import cli
from krea_async._cli._safe_text import safe_text

OSC52 = "\x1b]52;c;ZXZpbA==\x07"  # clipboard write
OSC8 = "\x1b]8;;https://evil.example/\x1b\\https://cdn.krea.ai/ok.png\x1b]8;;\x1b\\"
CLEAR = "\x1b[2J\x1b[H"  # screen clear
TITLE = "\x1b]0;pwned\x07"  # window title
C1 = "\x9b2J\x9d0;pwned\x9c"  # the same in 8-bit controls
BIDI = "\u202egnp.exe\u202c\u2066\u2069"
FAKE_LINE = "\nurl        https://evil.example/x.png"
HOSTILE = OSC52 + OSC8 + CLEAR + TITLE + C1 + BIDI + FAKE_LINE + "\x00\x08\x7f\u2028"
FORBIDDEN = set("\x1b\x07\x9b\x9c\x9d\x00\x08\x7f\u202e\u202c\u2066\u2069\u2028")

JOB = "6a4f2d1e-0b5c-4c1e-9f8a-2b3c4d5e6f70"


def assert_inert(text: str) -> None:
    assert not FORBIDDEN & set(text), repr(text)
    assert not any(line.startswith("url        https://evil") for line in text.splitlines())


def run(server: HostileServer, backend: str, *args: str) -> Result:
    env = {"KREA_API_KEY": None, "KREA_BASE_URL": None, "KREA_LOG": None}
    base = ["--backend", backend, "--api-key", "k", "--base-url", server.url]
    return CliRunner().invoke(cli, [*base, *args], env=env)


@pytest.fixture
def server() -> HostileServer:
    with HostileServer() as srv:
        yield srv  # type: ignore[misc]


def hostile_job(server: HostileServer, status: str) -> None:
    job = job_json(
        JOB,
        status,
        urls=[f"https://cdn.example/{HOSTILE}.png"],
        type="image" + HOSTILE,
    )
    job["result"]["error"] = "boom" + HOSTILE
    job["result"]["style_id"] = "style" + HOSTILE
    server.on("GET", "/jobs", respond(200, json={"items": [job], "next_cursor": None}))
    server.on("GET", f"/jobs/{JOB}", respond(200, json=job))


def test_safe_text_escapes_every_control() -> None:
    shown = safe_text(HOSTILE)
    assert_inert(shown)
    assert "\\x1b]52;c;ZXZpbA==\\x07" in shown  # visible, inert
    assert "\\u202e" in shown
    assert "\\x0aurl" in shown
    assert safe_text("a\tb\nc", multiline=True) == "a\tb\nc"
    assert safe_text("héllo wörld, 日本") == "héllo wörld, 日本"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("status", ["completed", "processing" + HOSTILE])
def test_jobs_show(server: HostileServer, backend: str, status: str) -> None:
    hostile_job(server, status)
    result = run(server, backend, "jobs", "show", JOB)
    assert result.exit_code == 0, result.output
    assert_inert(result.output)
    assert "\\x1b]52" in result.output
    assert result.stdout.splitlines()[0] == f"job        {JOB}"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_jobs_list_and_json(server: HostileServer, backend: str) -> None:
    hostile_job(server, "completed")
    listed = run(server, backend, "jobs", "list")
    assert listed.exit_code == 0, listed.output
    assert_inert(listed.output)
    shown = run(server, backend, "jobs", "show", JOB, "--json")
    assert shown.exit_code == 0, shown.output
    assert_inert(shown.output)
    assert json.loads(shown.stdout)["type"] == "image" + HOSTILE  # the JSON keeps the value


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_jobs_wait_progress_urls_and_error_line(server: HostileServer, backend: str) -> None:
    hostile_job(server, "completed")
    result = run(server, backend, "jobs", "wait", JOB, "--poll-interval", "0.01")
    assert result.exit_code == 0, result.output
    assert_inert(result.output)
    hostile_job(server, "failed")
    failed = run(server, backend, "jobs", "wait", JOB, "--poll-interval", "0.01")
    assert failed.exit_code == 1, failed.output
    assert_inert(failed.output)
    [line] = [ln for ln in failed.stderr.splitlines() if ln.startswith("error:")]
    assert "boom" in line


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_error_line_of_an_api_error(server: HostileServer, backend: str) -> None:
    server.on("GET", f"/jobs/{JOB}", respond(400, json={"error": "bad" + HOSTILE}))
    result = run(server, backend, "jobs", "show", JOB)
    assert result.exit_code == 1, result.output
    assert_inert(result.output)
    assert "bad" in result.stderr


def test_batch_prints_nothing_raw_into_a_pipe(server: HostileServer, tmp_path: Path) -> None:
    """A failed line's error (a job's ``result.error``) and the summary go to a pipe."""
    failed = job_json(JOB, "failed", result={"error": "boom" + HOSTILE})
    server.on("POST", "/generate/", respond(200, json=job_json(JOB, "queued")))
    server.on("GET", "/jobs/", respond(200, json=failed))
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "a"}\n')
    env = {"KREA_API_KEY": None, "KREA_BASE_URL": None, "KREA_LOG": None}
    args = ["--api-key", "k", "--base-url", server.url, "batch", str(src)]
    args += ["-o", str(tmp_path / "o"), "-m", "image/bfl/flux-1-dev", "--poll-interval", "0.01"]
    result = CliRunner().invoke(cli, [*args, "--no-progress"], env=env)
    assert result.exit_code == 1, result.output
    assert "boom" in result.stderr
    assert_inert(result.output)
