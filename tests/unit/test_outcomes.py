"""The outcome policy: when a wait is settled, and which failure it ends with."""

from __future__ import annotations

import pytest

from airflow_provider_kaleyra import call_logs, correlation, outcomes
from airflow_provider_kaleyra._compat import AirflowFailException
from airflow_provider_kaleyra.exceptions import KaleyraInputError, KaleyraPermanentError
from airflow_provider_kaleyra.outcomes import (
    KaleyraCallsFailedError,
    KaleyraCallsTimeoutError,
    KaleyraFlowBrokenError,
    OutcomePolicy,
)

WATCH = correlation.CallWatch(
    numbers=tuple(f"+9188309070{i:02d}" for i in range(10)),
    bridge="+6531651234",
    start_time="2026-01-01T10:00:00+00:00",
    flow_id="SG_flow-42",
)


def result(*statuses: str | None) -> dict:
    found = [
        correlation.CallOutcome(n, s, call_logs.status_category(s), f"c{i}", 30 if s == "ANSWER" else None)
        for i, (n, s) in enumerate(zip(WATCH.numbers, statuses, strict=False))
    ]
    return outcomes.result_of(WATCH, found)


def test_result_rows_and_counts() -> None:
    r = result("ANSWER", "BUSY", None, "FLOW_PAUSED", "WEIRD")
    assert r["calls"][0] == {
        "number": WATCH.numbers[0],
        "status": "ANSWER",
        "category": "success",
        "call_id": "c0",
        "duration": 30,
    }
    assert r["calls"][2]["status"] == "PENDING"
    assert r["counts"] == {"success": 1, "callee": 1, "configuration": 1, "unknown": 1, "pending": 1}
    assert r["statuses"] == {"ANSWER": 1, "BUSY": 1, "FLOW_PAUSED": 1, "PENDING": 1, "WEIRD": 1}
    assert r["pending"] == [WATCH.numbers[2]]
    assert r["flow_id"] == "SG_flow-42"


def test_all_answered_succeeds() -> None:
    assert outcomes.failure_for(result(*["ANSWER"] * 5 + ["FLOW_ANSWER"] * 5), OutcomePolicy()) is None


def test_by_default_one_failed_call_fails_the_task_retryably() -> None:
    failure = outcomes.failure_for(result(*["ANSWER"] * 9, "BUSY"), OutcomePolicy())
    assert isinstance(failure, KaleyraCallsFailedError)
    assert not isinstance(failure, AirflowFailException)
    assert "1 of 10 calls of flow SG_flow-42" in str(failure)
    assert f"{WATCH.numbers[9]} BUSY" in str(failure)


@pytest.mark.parametrize(("busy", "fails"), [(3, False), (4, True)])
def test_min_success_ratio_tolerates_its_share(busy: int, fails: bool) -> None:
    policy = OutcomePolicy.build(min_success_ratio=0.7)
    r = result(*["ANSWER"] * (10 - busy), *["BUSY"] * busy)
    assert (outcomes.failure_for(r, policy) is not None) is fails


@pytest.mark.parametrize(("failed", "fails"), [(2, False), (3, True)])
def test_max_failed(failed: int, fails: bool) -> None:
    r = result(*["ANSWER"] * (10 - failed), *["NOANSWER"] * failed)
    assert (outcomes.failure_for(r, OutcomePolicy.build(max_failed=2)) is not None) is fails


@pytest.mark.parametrize(
    "status", ["FLOW_NOT_PUBLISHED", "FLOW_PAUSED", "FLOW_UNASSIGNED", "BRIDGE_UNAVAILABLE", "NOROUTE"]
)
def test_a_configuration_status_fails_without_retry_naming_flow_bridge_and_meaning(status: str) -> None:
    failure = outcomes.failure_for(result("ANSWER", status), OutcomePolicy.build(max_failed=5))
    assert isinstance(failure, KaleyraFlowBrokenError)
    assert isinstance(failure, AirflowFailException)
    text = str(failure)
    assert "SG_flow-42" in text
    assert "+6531651234" in text
    assert status in text
    assert call_logs.CALL_STATUSES[status].meaning in text


def test_unknown_status_counts_as_failed_never_success() -> None:
    failure = outcomes.failure_for(result(*["ANSWER"] * 9, "SOMETHING_NEW"), OutcomePolicy())
    assert isinstance(failure, KaleyraCallsFailedError)


def test_custom_success_and_failure_statuses() -> None:
    policy = OutcomePolicy.build(success_statuses=["ANSWER", "NOANSWER"], failure_statuses="BUSY")
    assert outcomes.failure_for(result("ANSWER", "NOANSWER", "REJECTED"), policy) is None  # REJECTED: neither
    assert isinstance(outcomes.failure_for(result("ANSWER", "BUSY"), policy), KaleyraCallsFailedError)


def test_timeout_lists_the_numbers_still_pending() -> None:
    failure = outcomes.failure_for(result("ANSWER", None, "RINGING"), OutcomePolicy(), timed_out=True)
    assert isinstance(failure, KaleyraCallsTimeoutError)
    assert WATCH.numbers[1] in str(failure)
    assert WATCH.numbers[2] in str(failure)
    assert WATCH.numbers[0] not in str(failure).split(":", 2)[-1]


def test_timeout_says_what_the_call_log_listing_could_not_read() -> None:
    r = {
        **result("ANSWER", None),
        "unreadable_entries": ["a call-log entry is not an object: 'junk'"],
        "unreadable_count": 3,
        "listing_cut_off": "page 2 repeated earlier records; paging stopped there",
    }
    text = str(outcomes.failure_for(r, OutcomePolicy(), timed_out=True))
    assert f"1 of 2 numbers have no final status yet: {WATCH.numbers[1]}. Note: " in text
    assert "the call-log listing was cut off (page 2 repeated earlier records; paging stopped there)" in text
    assert "3 call-log entries could not be read: a call-log entry is not an object: 'junk'" in text


def test_timeout_without_gaps_in_the_listing_adds_no_note() -> None:
    text = str(outcomes.failure_for(result("ANSWER", None), OutcomePolicy(), timed_out=True))
    assert "Note:" not in text


def test_pending_without_timeout_is_not_a_failure_yet() -> None:
    assert outcomes.failure_for(result("ANSWER", None), OutcomePolicy()) is None


def test_settled_when_all_final_or_verdict_certain() -> None:
    policy = OutcomePolicy.build(max_failed=1)

    def tally(*statuses: str | None) -> outcomes.Tally:
        return outcomes.Tally(outcomes.outcomes_in(result(*statuses)), policy)

    assert tally("ANSWER", "BUSY").settled
    assert not tally("ANSWER", "BUSY", None).settled
    assert tally("BUSY", "BUSY", None).settled  # hopeless already
    assert tally("FLOW_PAUSED", None, None).settled  # the flow is broken


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"min_success_ratio": 1.5}, "min_success_ratio"),
        ({"max_failed": -1}, "max_failed"),
        ({"max_failed": 1, "min_success_ratio": 0.5}, "max_failed"),
        ({"success_statuses": []}, "success_statuses"),
        ({"failure_statuses": ["ANSWER"]}, "failure_statuses"),
    ],
)
def test_bad_policy_values_name_the_parameter(kwargs: dict, parameter: str) -> None:
    with pytest.raises(KaleyraInputError) as caught:
        OutcomePolicy.build(**kwargs)
    assert caught.value.parameter == parameter
    assert isinstance(caught.value, KaleyraPermanentError)


def test_policy_round_trips_through_a_dict() -> None:
    policy = OutcomePolicy.build(success_statuses=["answer"], failure_statuses=["BUSY"], max_failed=2)
    assert OutcomePolicy.from_dict(policy.as_dict()) == policy


def test_summary_table_is_readable() -> None:
    table = outcomes.summary_table(result("ANSWER", "BUSY"))
    lines = table.splitlines()
    assert lines[0].split() == ["number", "status", "category", "call", "id", "duration", "(s)"]
    assert WATCH.numbers[0] in lines[2]
    assert "ANSWER" in lines[2]
    assert "30" in lines[2]
    assert lines[-1] == "2 call(s) -- success: 1, callee: 1"


def test_numbers_with_status_picks_the_calls_to_redial() -> None:
    r = result("ANSWER", "NOANSWER", None, "BUSY")
    assert outcomes.numbers_with_status(r, "NOANSWER", "busy") == [WATCH.numbers[1], WATCH.numbers[3]]
    assert outcomes.numbers_with_status(r, "PENDING") == [WATCH.numbers[2]]
    assert outcomes.numbers_with_status(None, "NOANSWER") == []  # the task never got to a table


# Before, all three read "... failed, more than the N the policy allows: ..." and named no parameter.
@pytest.mark.parametrize(
    ("policy", "limit", "allow"),
    [
        (
            {},
            "and with neither max_failed nor min_success_ratio set, one failed call fails the task",
            "max_failed=2",
        ),
        ({"max_failed": 1}, "more than max_failed=1 allows", "max_failed=2"),
        (
            {"min_success_ratio": 0.9},
            "more than min_success_ratio=0.9 allows (at most 0 of 3)",
            "min_success_ratio=0.33",
        ),
    ],
)
def test_a_policy_failure_names_the_parameter_that_would_have_allowed_it(policy: dict, limit: str, allow: str) -> None:
    failure = outcomes.failure_for(result("ANSWER", "NOANSWER", "BUSY"), OutcomePolicy.build(**policy))
    assert str(failure) == (
        f"2 of 3 calls of flow SG_flow-42 from bridge +6531651234 failed, {limit}: "
        f"{WATCH.numbers[1]} NOANSWER, {WATCH.numbers[2]} BUSY. "
        f"To accept this, set {allow}, or count BUSY, NOANSWER as success with success_statuses"
    )
    # What the message proposes does allow it.
    suggested = {allow.split("=")[0]: float(allow.split("=")[1])}
    assert outcomes.failure_for(result("ANSWER", "NOANSWER", "BUSY"), OutcomePolicy.build(**suggested)) is None
    as_success = OutcomePolicy.build(**policy, success_statuses=["ANSWER", "NOANSWER", "BUSY"])
    assert outcomes.failure_for(result("ANSWER", "NOANSWER", "BUSY"), as_success) is None
