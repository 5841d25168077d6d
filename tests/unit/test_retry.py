from __future__ import annotations

import pytest

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.retry import RetryPolicy, TryOutcome

POLICY = RetryPolicy(max_attempts=3, initial_backoff=1, max_backoff=10, max_retry_after=60)


def reply(status: int, retry_after: str | None = None) -> wire.Reply:
    return wire.parse_reply(status, b"", {"Retry-After": retry_after} if retry_after else {})


def test_nothing_sent_is_retried_with_backoff_for_a_post() -> None:
    assert POLICY.next_delay(1, TryOutcome.NOT_SENT, idempotent=False) == 1
    assert POLICY.next_delay(2, TryOutcome.NOT_SENT, idempotent=False) == 2
    assert POLICY.next_delay(3, TryOutcome.NOT_SENT, idempotent=False) is None  # bounded


def test_maybe_sent_post_is_never_sent_again() -> None:
    assert POLICY.next_delay(1, TryOutcome.MAYBE_SENT, idempotent=False) is None


def test_maybe_sent_read_is_retried() -> None:
    assert POLICY.next_delay(1, TryOutcome.MAYBE_SENT, idempotent=True) == 1


def test_429_honours_retry_after_within_bound() -> None:
    assert POLICY.next_delay(1, TryOutcome.ANSWERED, reply(429, "5"), idempotent=False) == 5
    assert POLICY.next_delay(1, TryOutcome.ANSWERED, reply(429, "600"), idempotent=False) is None
    assert POLICY.next_delay(1, TryOutcome.ANSWERED, reply(429), idempotent=False) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_post_is_not_resent_but_a_read_is(status: int) -> None:
    # A 5xx after a POST may come from a proxy after Kaleyra acted: do not dial twice.
    assert POLICY.next_delay(1, TryOutcome.ANSWERED, reply(status), idempotent=False) is None
    assert POLICY.next_delay(1, TryOutcome.ANSWERED, reply(status), idempotent=True) == 1


def test_permanent_answers_are_never_retried() -> None:
    assert POLICY.next_delay(1, TryOutcome.ANSWERED, reply(400), idempotent=True) is None


def test_backoff_is_capped() -> None:
    assert RetryPolicy(max_attempts=99, initial_backoff=1, max_backoff=4).backoff(10) == 4
