"""Tying call-log records to the submission that placed them, and the token on callback URLs."""

from __future__ import annotations

import json

import pytest

from airflow_provider_kaleyra import correlation, validation, wire
from airflow_provider_kaleyra.call_logs import CallRecord, StatusCategory

NUMBERS = ("+918830907001", "+918830907002")
RECORD = {
    "numbers": list(NUMBERS),
    "bridge": "+6531651234",
    "flow_id": "SG_f",
    "submitted_at": "2026-01-01T10:00:00+00:00",
    "correlation_token": "af-mine",
    "call_ids": [],
}


def watch() -> correlation.CallWatch:
    return correlation.watch_from_record(RECORD)


def rec(number: str, status: str | None, **kw: object) -> CallRecord:
    defaults: dict[str, object] = {
        "bridge": "+6531651234",
        "flow_id": "SG_f",
        "started_at": "2026-01-01T10:00:05+00:00",
    }
    return CallRecord(number=number, status=status, **{**defaults, **kw})  # type: ignore[arg-type]


def test_watch_round_trips_through_json() -> None:
    w = watch()
    assert correlation.CallWatch.from_dict(json.loads(json.dumps(w.as_dict()))) == w


def test_one_query_covers_the_submission_with_a_window_opening_before_it() -> None:
    query = watch().query()
    assert query.bridge == "+6531651234"
    assert query.start_time == "2026-01-01T09:58:00+00:00"
    assert query.call_id is None


def test_a_single_known_call_id_is_queried_directly() -> None:
    w = correlation.watch_from_record({**RECORD, "numbers": ["+918830907001"], "call_ids": ["c9"]})
    assert w.query().call_id == "c9"


def test_the_token_decides_when_the_record_carries_one() -> None:
    outcomes = correlation.correlate(
        watch(),
        [
            rec("+918830907001", "BUSY", correlation_token="af-someone-else", started_at="2026-01-01T10:00:09+00:00"),
            rec("+918830907001", "ANSWER", correlation_token="af-mine", call_id="c1", duration=40),
        ],
    )
    assert outcomes[0] == correlation.CallOutcome("+918830907001", "ANSWER", StatusCategory.SUCCESS, "c1", 40)
    assert outcomes[1].category is StatusCategory.PENDING  # never in the logs yet


@pytest.mark.parametrize(
    "other",
    [
        {"bridge": "+13236789001"},
        {"flow_id": "SG_other"},
        {"started_at": "2026-01-01T09:00:00+00:00"},
        {"number": "+918830907999"},
    ],
)
def test_without_a_token_bridge_flow_time_and_number_must_match(other: dict[str, str]) -> None:
    number = other.pop("number", "+918830907001")
    [first, _] = correlation.correlate(watch(), [rec(number, "BUSY", **other)])
    assert first.category is StatusCategory.PENDING


def test_without_a_token_a_matching_record_counts() -> None:
    [first, _] = correlation.correlate(watch(), [rec("918830907001", "BUSY")])
    assert (first.status, first.category) == ("BUSY", StatusCategory.CALLEE)


def test_a_final_call_beats_one_in_progress_and_the_latest_final_wins() -> None:
    records = [
        rec("+918830907002", "NOANSWER", started_at="2026-01-01T10:00:01+00:00"),
        rec("+918830907002", "ANSWER", started_at="2026-01-01T10:01:00+00:00"),
        rec("+918830907002", "RINGING", started_at="2026-01-01T10:02:00+00:00"),
    ]
    assert correlation.correlate(watch(), records)[1].status == "ANSWER"


def test_outcomes_keep_the_submission_order() -> None:
    records = [rec(n, "ANSWER") for n in reversed(NUMBERS)]
    assert [o.number for o in correlation.correlate(watch(), records)] == list(NUMBERS)


def test_record_without_numbers_is_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="missing numbers"):
        correlation.watch_from_record({"submitted_at": "2026-01-01T10:00:00+00:00"})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h/cb", "https://h/cb?airflow_correlation_token=af-1"),
        ("https://h/cb?id={id}", "https://h/cb?id={id}&airflow_correlation_token=af-1"),
        ("https://h/cb?", "https://h/cb?airflow_correlation_token=af-1"),
        ("https://h/cb#frag", "https://h/cb?airflow_correlation_token=af-1#frag"),
        ("https://h/cb?airflow_correlation_token=x", "https://h/cb?airflow_correlation_token=x"),
    ],
)
def test_token_is_appended_to_urls(url: str, expected: str) -> None:
    assert wire.url_with_token(url, "af-1") == expected


def test_form_encoding_appends_the_token_to_dlrurl_and_every_callback_url() -> None:
    [call], _ = validation.outbound_calls(
        to="+918830907001",
        bridge="+6531651234",
        flow_id="SG_f",
        dlrurl="https://h/dlr?s={status}",
        callback={"call_end": {"url": ["https://h/end"], "callback_profile": ["p1"]}},
        correlation_token="af-1",
    )
    form = wire.encode_outbound_form(call)
    assert form["dlrurl"] == "https://h/dlr?s={status}&airflow_correlation_token=af-1"
    assert json.loads(form["callback"]) == {
        "call_end": {"url": ["https://h/end?airflow_correlation_token=af-1"], "callback_profile": ["p1"]}
    }


def test_without_a_token_urls_are_sent_unchanged() -> None:
    [call], _ = validation.outbound_calls(
        to="+918830907001", bridge="+6531651234", flow_id="SG_f", dlrurl="https://h/dlr"
    )
    assert wire.encode_outbound_form(call)["dlrurl"] == "https://h/dlr"


def test_explicit_watch_is_validated() -> None:
    w = validation.call_watch(numbers="+918830907001", start_time="2026-01-01T10:00:00Z", bridge="+6531651234")
    assert w.start_time == "2026-01-01T10:00:00+00:00"
    with pytest.raises(validation.KaleyraInputError, match="start_time"):
        validation.call_watch(numbers="+918830907001")
    with pytest.raises(validation.KaleyraInputError, match="start_time"):
        validation.call_watch(numbers="+918830907001", start_time="2026-01-01T10:00:00")
    with pytest.raises(validation.KaleyraInputError, match="numbers"):
        validation.call_watch(numbers="12", start_time="2026-01-01T10:00:00Z")
    with pytest.raises(validation.KaleyraInputError, match="record"):
        validation.call_watch(record="not json")
    assert validation.call_watch(record=json.dumps(RECORD)) == watch()
