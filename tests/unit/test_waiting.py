"""One poll step for every wait: what a listing's gaps add to the result, and how a wait ends."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest

from airflow_provider_kaleyra import call_logs, correlation, outcomes, waiting
from airflow_provider_kaleyra.exceptions import KaleyraPermanentError, KaleyraTransientError

NOW = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.timezone.utc)
WATCH = correlation.CallWatch(
    numbers=("+918830907001", "+918830907002"),
    bridge="+6531651234",
    start_time=NOW.isoformat(),
    flow_id="SG_f",
    correlation_token="af-1",
)
LOG = logging.getLogger("test.waiting")


def wait(**changes: Any) -> waiting.Wait:
    fields: dict[str, Any] = {
        "watch": WATCH,
        "policy": outcomes.OutcomePolicy(),
        "deadline": (NOW + dt.timedelta(minutes=10)).isoformat(),
        "poll_interval": 5.0,
        **changes,
    }
    return waiting.Wait(**fields)


def listing(*statuses: str | None, **gaps: Any) -> call_logs.CallLogListing:
    records = [
        call_logs.CallRecord(number, status, correlation_token="af-1")
        for number, status in zip(WATCH.numbers, statuses, strict=False)
    ]
    return call_logs.CallLogListing(records, **gaps)


def test_done_when_every_call_is_final() -> None:
    event = wait().after_poll(listing("ANSWER", "BUSY"), now=NOW)
    assert event is not None
    assert event["status"] == waiting.DONE
    assert [row["status"] for row in event["result"]["calls"]] == ["ANSWER", "BUSY"]


def test_a_complete_listing_adds_nothing_about_gaps() -> None:
    event = wait().after_poll(listing("ANSWER", "ANSWER"), now=NOW)
    assert event is not None
    assert not {"unreadable_entries", "unreadable_count", "listing_cut_off"} & set(event["result"])


def test_poll_again_while_numbers_are_pending_before_the_deadline() -> None:
    assert wait().after_poll(listing("ANSWER", "RINGING"), now=NOW) is None


def test_unreadable_entries_are_quoted_up_to_twenty_and_all_counted() -> None:
    problems = [f"a call-log entry is not an object: 'junk{i}'" for i in range(25)]
    event = wait().after_poll(listing("ANSWER", None, problems=problems), now=NOW + dt.timedelta(hours=1))
    assert event is not None
    assert event["status"] == waiting.TIMEOUT
    result = event["result"]
    assert result["unreadable_entries"] == problems[: waiting.UNREADABLE_SHOWN] == problems[:20]
    assert result["unreadable_count"] == 25
    assert json.loads(json.dumps(result)) == result


def test_a_cut_off_listing_is_said_in_the_result() -> None:
    event = wait().after_poll(listing("ANSWER", "ANSWER", cut_off="page 2 repeated earlier records"), now=NOW)
    assert event is not None
    assert event["result"]["listing_cut_off"] == "page 2 repeated earlier records"


def test_the_timeout_failure_names_what_the_listing_could_not_read() -> None:
    event = wait().after_poll(
        listing("ANSWER", None, problems=["a call-log entry has no callee number"], cut_off="stopped after 100 pages"),
        now=NOW + dt.timedelta(hours=1),
    )
    assert event is not None
    with pytest.raises(outcomes.KaleyraCallsTimeoutError) as caught:
        waiting.complete(event, outcomes.OutcomePolicy(), LOG)
    text = str(caught.value)
    assert "+918830907002" in text
    assert "the call-log listing was cut off (stopped after 100 pages)" in text
    assert "1 call-log entries could not be read: a call-log entry has no callee number" in text


def test_wait_sync_asks_for_the_page_budget_and_polls_until_done() -> None:
    answers = [listing("ANSWER", None), listing("ANSWER", "NOANSWER")]
    asked: list[dict[str, Any]] = []
    pauses: list[float] = []

    def fetch(query: call_logs.CallLogQuery, **kwargs: Any) -> call_logs.CallLogListing:
        assert query == WATCH.query()
        asked.append(kwargs)
        return answers.pop(0)

    deadline = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    event = waiting.wait_sync(
        wait(deadline=deadline, policy=outcomes.OutcomePolicy.build(max_failed=1)), fetch, LOG, sleep=pauses.append
    )
    assert event["status"] == waiting.DONE
    assert asked == [{"max_pages": WATCH.page_budget()}] * 2
    assert pauses == [5.0]


def test_wait_sync_gives_up_at_once_on_a_permanent_error() -> None:
    def fetch(query: call_logs.CallLogQuery, **kwargs: Any) -> call_logs.CallLogListing:
        raise KaleyraPermanentError("RBC001 wrong key")

    event = waiting.wait_sync(wait(), fetch, LOG, sleep=lambda seconds: None)
    assert event == {"status": waiting.ERROR, "message": "RBC001 wrong key", "permanent": True, "failed_polls": 1}


def test_wait_sync_backs_off_after_transient_errors() -> None:
    pauses: list[float] = []

    def fetch(query: call_logs.CallLogQuery, **kwargs: Any) -> call_logs.CallLogListing:
        raise KaleyraTransientError("HTTP 503")

    deadline = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    event = waiting.wait_sync(wait(deadline=deadline, max_poll_failures=3), fetch, LOG, sleep=pauses.append)
    assert (event["status"], event["failed_polls"], event["permanent"]) == (waiting.ERROR, 3, False)
    assert pauses == [5.0, 10.0]


def test_wait_sync_logs_progress_while_it_waits(caplog: pytest.LogCaptureFixture) -> None:
    answers = [
        listing(None, None),
        listing("ANSWER", "RINGING"),
        listing("ANSWER", "RINGING"),
        listing("ANSWER", "BUSY"),
    ]

    def fetch(query: call_logs.CallLogQuery, **kwargs: Any) -> call_logs.CallLogListing:
        return answers.pop(0)

    deadline = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    with caplog.at_level(logging.INFO, logger=LOG.name):
        event = waiting.wait_sync(
            wait(deadline=deadline, policy=outcomes.OutcomePolicy.build(max_failed=1)), fetch, LOG, sleep=lambda s: None
        )
    assert event["status"] == waiting.DONE
    # One line per change while waiting; the final table is complete()'s.
    assert [r.getMessage() for r in caplog.records] == [
        "Kaleyra calls: 0 of 2 calls ended; 2 pending: +918830907001, +918830907002",
        "Kaleyra calls: 1 of 2 calls ended (ANSWER 1); 1 pending: +918830907002",
    ]


@pytest.mark.parametrize(
    ("status", "statuses", "raises"),
    [
        (waiting.DONE, ("ANSWER", "ANSWER"), None),
        (waiting.DONE, ("ANSWER", "NOANSWER"), outcomes.KaleyraCallsFailedError),
        (waiting.TIMEOUT, ("ANSWER", None), outcomes.KaleyraCallsTimeoutError),
    ],
)
def test_the_outcomes_are_kept_however_the_policy_decides(
    status: str, statuses: tuple[str | None, ...], raises: type[Exception] | None
) -> None:
    state = outcomes.tally(WATCH, listing(*statuses).records, outcomes.OutcomePolicy())
    result = outcomes.result_of(WATCH, state.outcomes)
    kept: list[dict[str, Any]] = []
    event = {"status": status, "result": result}
    if raises is None:
        assert waiting.complete(event, outcomes.OutcomePolicy(), LOG, keep=kept.append) == result
    else:
        with pytest.raises(raises):
            waiting.complete(event, outcomes.OutcomePolicy(), LOG, keep=kept.append)
    assert kept == [result]


def test_an_error_event_keeps_no_outcomes() -> None:
    kept: list[dict[str, Any]] = []
    event = {"status": waiting.ERROR, "message": "HTTP 503", "permanent": False, "failed_polls": 5}
    with pytest.raises(KaleyraTransientError):
        waiting.complete(event, outcomes.OutcomePolicy(), LOG, keep=kept.append)
    assert kept == []
