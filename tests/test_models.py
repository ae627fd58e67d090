"""Parsing jobs: every payload becomes a Job or a WireFormatError, never a stray exception."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from krea_async import Job, JobPage, JobResult, JobStatus
from krea_async._converter import (
    WireFormatError,
    loads_json,
    parse_datetime,
    parse_job,
    structure,
    unstructure,
)

UTC = dt.timezone.utc

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
job_like = st.fixed_dictionaries(
    {},
    optional={
        "job_id": st.one_of(st.uuids().map(str), json_values),
        "status": st.one_of(st.sampled_from([s.value for s in JobStatus]), json_values),
        "created_at": st.one_of(st.just("2026-11-21T10:00:00.000Z"), json_values),
        "completed_at": st.one_of(st.none(), st.just("2026-11-21T10:00:07Z"), json_values),
        "result": st.one_of(
            st.none(),
            st.just({}),
            st.fixed_dictionaries({"urls": st.lists(st.text(max_size=30), max_size=3)}),
            json_values,
        ),
        "type": json_values,
        "estimated_time": json_values,
    },
)


@given(payload=st.one_of(job_like, json_values))
def test_any_payload_is_a_job_or_a_wire_error(payload: Any) -> None:
    try:
        job = structure(payload, Job)
    except WireFormatError:
        return
    assert isinstance(job.job_id, str)
    assert isinstance(job.status, JobStatus)
    assert isinstance(job.result, JobResult)
    assert all(isinstance(u, str) for u in job.result.urls)
    assert job.raw == payload  # the whole object, unknown keys included


def test_a_jobs_raw_keeps_shared_strings_not_per_answer_copies() -> None:
    """10,000 jobs in flight each keep their last payload: its keys, status and type are
    one shared copy, not one per parsed answer (issue 8's memory goal)."""
    texts = [
        f'{{"job_id": "j{i}", "status": "queued", "type": "externalImage", '
        f'"created_at": "2026-01-01T00:00:00Z", "result": null, "extra_{i}": 1}}'
        for i in range(2)
    ]
    a, b = (parse_job(loads_json(t)) for t in texts)
    for key in ("job_id", "status", "type", "created_at", "result"):
        ka = next(k for k in a.raw if k == key)
        kb = next(k for k in b.raw if k == key)
        assert ka is kb, key
    assert a.raw["status"] is b.raw["status"]
    assert a.raw["type"] is b.raw["type"]
    assert a.raw["extra_0"] == 1  # unknown keys kept
    assert b.raw["extra_1"] == 1


@given(payload=st.dictionaries(st.text(max_size=10), json_values, max_size=5) | json_values)
def test_any_page_payload_is_a_page_or_a_wire_error(payload: Any) -> None:
    try:
        page = structure(payload, JobPage)
    except WireFormatError:
        return
    assert all(isinstance(j, Job) for j in page.items)


def test_pending_job_with_null_or_empty_result_and_unknown_fields() -> None:
    for result in (None, {}):
        job = structure(
            {
                "job_id": "4d0e5f97-9721-4422-b88c-73a9032d7de1",
                "status": "queued",
                "created_at": "2026-11-21T10:00:00.123Z",
                "completed_at": None,
                "result": result,
                "type": "externalVideo",
                "estimated_time": "60-120 seconds",
            },
            Job,
        )
        assert job.status is JobStatus.QUEUED
        assert job.result.urls == ()
        assert job.type == "externalVideo"
        assert job.raw["estimated_time"] == "60-120 seconds"
        assert job.created_at == dt.datetime(2026, 11, 21, 10, 0, 0, 123000, tzinfo=UTC)
        assert not job.is_terminal


def test_all_nine_statuses_and_an_unknown_one() -> None:
    terminal = {s for s in JobStatus if s.is_terminal}
    assert {s.value for s in terminal} == {"completed", "failed", "cancelled"}
    assert len(list(JobStatus)) == 9
    new = JobStatus("rendering-previews")
    assert new == "rendering-previews"
    assert str(new) == "rendering-previews"
    assert not new.is_terminal
    assert not new.is_known
    assert JobStatus("completed") is JobStatus.COMPLETED


def test_failed_job_error_message_from_string_or_object() -> None:
    job = structure(
        {
            "job_id": "j",
            "status": "failed",
            "created_at": "2026-11-21T10:00:00Z",
            "result": {"error": {"code": "nsfw", "message": "moderation"}},
        },
        Job,
    )
    assert job.result.error_message == "moderation"
    job = structure(
        {
            "job_id": "j",
            "status": "failed",
            "created_at": "2026-11-21T10:00:00Z",
            "result": {"error": "provider error"},
        },
        Job,
    )
    assert job.result.error_message == "provider error"


def test_next_cursor_in_both_spellings() -> None:
    for key in ("next_cursor", "nextCursor"):
        page = structure({"items": [], key: "2026-11-21T10:00:00Z"}, JobPage)
        assert page.next_cursor == "2026-11-21T10:00:00Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T10:00:00Z", dt.datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21T10:00:00.1234567Z", dt.datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-21T12:00:00+02:00", dt.datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21T12:00:00+0200", dt.datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21 10:00:00", dt.datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ],
)
def test_timestamps_become_aware_utc(text: str, expected: dt.datetime) -> None:
    assert parse_datetime(text) == expected


def test_unstructure_round_trips_a_job() -> None:
    payload = {
        "job_id": "j1",
        "status": "completed",
        "created_at": "2026-11-21T10:00:00Z",
        "completed_at": "2026-11-21T10:00:07Z",
        "result": {"urls": ["https://cdn.example/x.png"]},
        "type": "externalImage",
    }
    job = structure(payload, Job)
    again = structure(unstructure(job), Job)
    assert again == job
