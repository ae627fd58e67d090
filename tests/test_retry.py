"""The retry policy's arithmetic: Retry-After parsing, full-jitter bounds, the test switch."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from krea_async import RetryPolicy
from krea_async._http.retry import backoff_enabled, no_backoff, parse_retry_after


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    now = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert parse_retry_after("Sat, 21 Nov 2026 12:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Sat, 21 Nov 2026 11:00:00 GMT", now=now) == 0.0
    for junk in (None, "", "soon", "nan", "Mon, 99 Foo"):
        assert parse_retry_after(junk) is None


@given(attempt=st.integers(min_value=0, max_value=200))
def test_full_jitter_stays_within_the_cap(attempt: int) -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=8.0)
    wait = policy.backoff(attempt)
    assert wait is not None
    assert 0.0 <= wait <= min(8.0, 0.5 * 2**attempt)


def test_retry_after_replaces_backoff_up_to_its_cap() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    assert policy.backoff(0, retry_after=4.0) == 4.0
    assert policy.backoff(0, retry_after=11.0) is None  # too long: give up, raise


def test_no_backoff_switch_zeroes_waits_and_restores() -> None:
    policy = RetryPolicy()
    assert backoff_enabled()
    with no_backoff():
        assert policy.backoff(5) == 0.0
        assert policy.backoff(0, retry_after=30.0) == 0.0
    assert backoff_enabled()


def test_policy_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="initial_backoff"):
        RetryPolicy(initial_backoff=-0.1)


def test_poll_interval_is_fixed_then_grows_to_its_cap() -> None:
    from krea_async._jobs.polling import next_poll_interval

    waits: list[float] = []
    current = 2.0
    for t in (1, 10, 29, 31, 33, 36, 40, 46, 55, 70, 85):
        current = next_poll_interval(current, elapsed=t, poll_interval=2.0, max_poll_interval=15.0)
        waits.append(current)
    assert waits[:3] == [2.0, 2.0, 2.0]  # Krea's docs: every 2 s
    assert waits[3:7] == [3.0, 4.5, 6.75, 10.125]  # then 1.5x per poll
    assert waits[7:] == [15.0] * 4  # capped at max_interval


def test_job_stream_refuses_a_deadline_that_is_not_positive() -> None:
    from krea_async import JobStream

    async def never(_: str) -> object:
        raise AssertionError("not polled")

    with pytest.raises(ValueError, match="deadline"):
        JobStream(get=never, cancel=never, job_id="j", deadline=0)  # type: ignore[arg-type]


# ---------------------------------------------------------------- decide(): the pure function

from krea_async._http.retry import STOP, UNCERTAIN, Decision, Outcome, decide  # noqa: E402

POLICY = RetryPolicy(max_retries=3, initial_backoff=0.5, max_backoff=8.0, deadline=60.0)
REFUSED = Outcome(status=None, sent=False)  # connect error: never reached the server
DROPPED = Outcome(status=None, sent=True)  # read timeout / connection dropped after sending


@pytest.mark.parametrize(
    ("outcome", "replay_safe", "expected"),
    [
        (Outcome(status=503), True, "retry"),
        (Outcome(status=502), True, "retry"),
        (Outcome(status=408), True, "retry"),
        (Outcome(status=429), True, "retry"),
        (Outcome(status=400), True, STOP),
        (Outcome(status=404), True, STOP),
        (Outcome(status=501), True, STOP),  # not in retry_statuses
        (DROPPED, True, "retry"),
        (REFUSED, True, "retry"),
        # A submit (not replay-safe): only what certainly did not happen is retried.
        (REFUSED, False, "retry"),
        (Outcome(status=429), False, "retry"),
        (Outcome(status=400), False, STOP),
        (DROPPED, False, UNCERTAIN),
        (Outcome(status=500), False, UNCERTAIN),
        (Outcome(status=503), False, UNCERTAIN),
        (Outcome(status=408), False, UNCERTAIN),
        (Outcome(status=501), False, UNCERTAIN),
    ],
)
def test_decide_table(outcome: Outcome, replay_safe: bool, expected: object) -> None:
    decision = decide(POLICY, attempt=0, outcome=outcome, replay_safe=replay_safe)
    if expected == "retry":
        assert not decision.stop
        assert decision.wait is not None
        assert 0.0 <= decision.wait <= 0.5
        assert not decision.uncertain
    else:
        assert decision == expected


def test_decide_stops_after_max_retries() -> None:
    outcome = Outcome(status=503)
    assert not decide(POLICY, attempt=2, outcome=outcome, replay_safe=True).stop
    assert decide(POLICY, attempt=3, outcome=outcome, replay_safe=True) == STOP
    none = RetryPolicy(max_retries=0)
    assert decide(none, attempt=0, outcome=outcome, replay_safe=True) == STOP
    # Uncertainty wins over the retry budget: it is reported even with no retries.
    assert decide(none, attempt=0, outcome=DROPPED, replay_safe=False) == UNCERTAIN


def test_decide_honours_retry_after_and_its_cap() -> None:
    with_header = Outcome(status=429, retry_after=7.0)
    assert decide(POLICY, attempt=0, outcome=with_header, replay_safe=False) == Decision(7.0)
    too_long = Outcome(status=503, retry_after=61.0)
    assert decide(POLICY, attempt=0, outcome=too_long, replay_safe=True) == STOP


def test_decide_respects_the_deadline() -> None:
    outcome = Outcome(status=503, retry_after=5.0)
    assert decide(POLICY, attempt=1, outcome=outcome, replay_safe=True, elapsed=50.0) == Decision(
        5.0
    )
    assert decide(POLICY, attempt=1, outcome=outcome, replay_safe=True, elapsed=56.0) == STOP


@given(attempt=st.integers(min_value=0, max_value=2), seed=st.integers(0, 2**32))
def test_decide_backoff_is_full_jitter_and_reproducible(attempt: int, seed: int) -> None:
    import random

    a = decide(POLICY, attempt=attempt, outcome=DROPPED, replay_safe=True, rng=random.Random(seed))
    b = decide(POLICY, attempt=attempt, outcome=DROPPED, replay_safe=True, rng=random.Random(seed))
    assert a == b
    assert a.wait is not None
    assert 0.0 <= a.wait <= min(8.0, 0.5 * 2**attempt)


def test_decide_without_backoff_waits_zero() -> None:
    with no_backoff():
        assert decide(POLICY, attempt=2, outcome=DROPPED, replay_safe=True) == Decision(0.0)
        header = Outcome(status=429, retry_after=30.0)
        assert decide(POLICY, attempt=0, outcome=header, replay_safe=True) == Decision(0.0)
