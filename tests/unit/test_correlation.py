"""Tying call-log records to the submission that placed them: one belongs-rule for every reader."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from airflow_provider_kaleyra import call_logs, correlation, wire
from airflow_provider_kaleyra.call_logs import CallRecord, StatusCategory

UTC = dt.timezone.utc
NUMBERS = ("+918830907001", "+918830907002")
SUBMITTED = dt.datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
RECORD = {
    "numbers": list(NUMBERS),
    "bridge": "+6531651234",
    "flow_id": "SG_f",
    "submitted_at": "2026-01-01T10:00:00+00:00",
    "correlation_token": "af-mine",
    "call_ids": [],
    "country_code": "91",
}


def at(minutes: float) -> dt.datetime:
    return SUBMITTED + dt.timedelta(minutes=minutes)


def watch(**changes: object) -> correlation.CallWatch:
    return correlation.watch_from_record({**RECORD, **changes})


def rec(number: str = NUMBERS[0], status: str | None = "BUSY", **kw: object) -> CallRecord:
    fields: dict[str, object] = {"bridge": "+6531651234", "flow_id": "SG_f", "started_at": at(0.1), **kw}
    return CallRecord(number=number, status=status, **fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the watch


def test_watch_round_trips_through_json() -> None:
    w = dataclasses.replace(watch(call_ids=["c1"]), end_time="2026-01-01T11:00:00+00:00")
    assert correlation.CallWatch.from_dict(json.loads(json.dumps(w.as_dict()))) == w
    assert w.country_code == "91"


def test_an_old_watch_without_country_code_still_loads() -> None:
    data = watch().as_dict()
    del data["country_code"]
    assert correlation.CallWatch.from_dict(data).country_code is None


def test_one_query_covers_the_submission_with_a_window_opening_before_it() -> None:
    query = watch().query()
    assert query.bridge == "+6531651234"
    assert query.start_time == "2026-01-01T09:58:00+00:00"
    assert query.call_id is None
    assert watch().page_budget() == call_logs.MIN_PAGES


def test_a_single_known_call_id_is_queried_directly() -> None:
    w = watch(numbers=["+918830907001"], call_ids=["c9"])
    assert w.query().call_id == "c9"


def test_record_without_numbers_is_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="missing numbers"):
        correlation.watch_from_record({"submitted_at": "2026-01-01T10:00:00+00:00"})


def test_a_record_that_kept_its_numbers_out_of_xcom_cannot_be_watched() -> None:
    with pytest.raises(ValueError, match="a campaign of 5000 numbers keeps its list out of XCom"):
        correlation.watch_from_record({**RECORD, "numbers": [], "numbers_in_xcom": False, "numbers_count": 5000})


def test_batch_watch_covers_one_request_from_when_it_left() -> None:
    call = wire.OutboundCall(to=NUMBERS, bridge="+6531651234", flow_id="SG_f", correlation_token="af-1")
    w = correlation.batch_watch(call, "2026-01-01T10:00:00+00:00", "91")
    assert w == correlation.CallWatch(
        numbers=NUMBERS,
        bridge="+6531651234",
        start_time="2026-01-01T10:00:00+00:00",
        flow_id="SG_f",
        correlation_token="af-1",
        country_code="91",
    )
    assert w.belongs(rec("8830907002", correlation_token=None))


# --------------------------------------------------------------------------- the belongs-rule


def test_a_known_call_id_decides() -> None:
    w = watch(call_ids=["c1"])
    assert w.belongs(rec("+919999999999", call_id="c1", bridge="+13236789001", correlation_token="af-other"))


@pytest.mark.parametrize(
    "number", ["+918830907001", "918830907001", "8830907001", "+91 88309 07001", "+91-88309-07001"]
)
def test_a_watched_number_in_any_spelling_belongs(number: str) -> None:
    w = watch()
    assert w.belongs(rec(number))
    assert w.number_of(rec(number)) == "+918830907001"


def test_a_national_number_needs_the_country_code() -> None:
    assert not watch(country_code=None).belongs(rec("8830907001"))
    assert watch(country_code=None).belongs(rec("918830907001"))


@pytest.mark.parametrize("number", ["+918830907999", "+18830907001", "830907001", "", "unknown"])
def test_a_number_not_watched_never_belongs(number: str) -> None:
    assert not watch().belongs(rec(number, correlation_token="af-mine"))


def test_the_token_decides_when_the_record_carries_one() -> None:
    w = watch()
    # Same token: this submission's call, even where other fields would disagree.
    assert w.belongs(rec(correlation_token="af-mine", bridge="+13236789001", started_at=at(-60)))
    # Another token: another task's call to the same number, even where everything else agrees.
    assert not w.belongs(rec(correlation_token="af-someone-else"))
    # No token in the log (Kaleyra does not echo custom): the other fields decide.
    assert w.belongs(rec(correlation_token=None))
    assert not w.belongs(rec(correlation_token=None, bridge="+13236789001"))


def test_without_a_token_in_the_watch_the_records_token_is_no_evidence() -> None:
    assert watch(correlation_token=None).belongs(rec(correlation_token="af-anything"))


@pytest.mark.parametrize(
    ("bridge", "belongs"),
    [
        ("+6531651234", True),
        ("6531651234", True),  # without "+"
        ("31651234", True),  # national: the tail of at least 6 digits
        ("651234", True),
        ("51234", False),  # too short a tail to say it is the same DID
        ("+13236789001", False),
        ("+6531651299", False),
        ("", True),  # nothing to compare
        (None, True),
    ],
)
def test_bridges_are_compared_by_digits(bridge: str | None, belongs: bool) -> None:
    assert watch().belongs(rec(bridge=bridge)) is belongs


@pytest.mark.parametrize(
    ("flow", "belongs"),
    [
        ("SG_f", True),
        ("40112", True),  # a numeric id for the SG_ id that was sent: no evidence against
        ("SG_other", False),
        (None, True),
    ],
)
def test_flow_ids_of_one_form_must_agree(flow: str | None, belongs: bool) -> None:
    assert watch().belongs(rec(flow_id=flow)) is belongs


def test_numeric_flow_ids_must_agree_with_each_other() -> None:
    assert watch(flow_id="40112").belongs(rec(flow_id="40112"))
    assert not watch(flow_id="40112").belongs(rec(flow_id="40113"))
    assert watch(flow_id="40112").belongs(rec(flow_id="SG_f"))


@pytest.mark.parametrize(
    ("started", "belongs"),
    [
        (at(-1.9), True),  # within the 2 minutes of clock skew
        (at(-2.1), False),
        (at(59), True),
        (at(61), False),  # after the window closed
        (None, True),  # no time in the log: no evidence against
    ],
)
def test_the_time_window_allows_two_minutes_of_skew(started: dt.datetime | None, belongs: bool) -> None:
    w = dataclasses.replace(watch(), end_time="2026-01-01T11:00:00+00:00")
    assert w.belongs(rec(started_at=started)) is belongs


def test_same_bridge_and_same_flow_directly() -> None:
    assert correlation.same_bridge("+91 80 4718 0000", "804718-0000")
    assert not correlation.same_bridge("+6531651234", "+6531651235")
    assert correlation.same_flow(" SG_f ", "SG_f")
    assert correlation.same_flow("12", "SG_f")
    assert not correlation.same_flow("SG_f", "SG_g")


# --------------------------------------------------------------------------- outcomes


def test_correlate_counts_a_call_logged_without_plus_or_country_code() -> None:
    outcomes = correlation.correlate(watch(), [rec("8830907001", "BUSY"), rec("918830907002", "ANSWER")])
    assert [(o.number, o.status) for o in outcomes] == [("+918830907001", "BUSY"), ("+918830907002", "ANSWER")]
    assert outcomes[0].category is StatusCategory.CALLEE


def test_correlate_ignores_another_tasks_call_and_keeps_pending() -> None:
    outcomes = correlation.correlate(
        watch(),
        [
            rec(status="BUSY", correlation_token="af-someone-else", started_at=at(0.15)),
            rec(status="ANSWER", correlation_token="af-mine", call_id="c1", duration=40),
        ],
    )
    assert outcomes[0] == correlation.CallOutcome("+918830907001", "ANSWER", StatusCategory.SUCCESS, "c1", 40)
    assert outcomes[1] == correlation.CallOutcome("+918830907002", None, StatusCategory.PENDING)


@pytest.mark.parametrize(
    "other",
    [
        {"bridge": "+13236789001"},
        {"flow_id": "SG_other"},
        {"started_at": at(-60)},
        {"number": "+918830907999"},
    ],
)
def test_without_a_token_a_contradicting_record_is_not_counted(other: dict[str, object]) -> None:
    number = str(other.pop("number", NUMBERS[0]))
    [first, _] = correlation.correlate(watch(), [rec(number, "BUSY", **other)])
    assert first.category is StatusCategory.PENDING


def test_a_final_call_beats_one_in_progress_and_the_latest_final_wins() -> None:
    records = [
        rec(NUMBERS[1], "NOANSWER", started_at=at(0.1)),
        rec(NUMBERS[1], "ANSWER", started_at=at(1)),
        rec(NUMBERS[1], "RINGING", started_at=at(2)),
    ]
    assert correlation.correlate(watch(), records)[1].status == "ANSWER"


def test_outcomes_keep_the_submission_order() -> None:
    records = [rec(n, "ANSWER") for n in reversed(NUMBERS)]
    assert [o.number for o in correlation.correlate(watch(), records)] == list(NUMBERS)


def test_an_outcome_row_says_pending_for_no_status() -> None:
    row = correlation.CallOutcome("+918830907001", None, StatusCategory.PENDING).as_row()
    assert row == {
        "number": "+918830907001",
        "status": "PENDING",
        "category": "pending",
        "call_id": None,
        "duration": None,
    }


# --------------------------------------------------------------------------- a shared listing


def test_records_by_number_find_what_the_rule_finds_in_listing_order() -> None:
    mine = watch()
    others = watch(numbers=["+918830907003"], correlation_token="af-other")
    records = [
        rec(NUMBERS[1], "RINGING", correlation_token="af-mine", call_id="1"),
        rec("+918830907003", "BUSY", correlation_token="af-other", call_id="2"),
        rec("8830907001", "ANSWER", call_id="3"),  # national spelling: the prefix's country code
        rec(NUMBERS[0], "BUSY", correlation_token="af-someone-else", call_id="4"),
        rec(NUMBERS[1], "ANSWER", correlation_token="af-mine", call_id="5"),
    ]
    index = correlation.RecordsByNumber(records)
    assert [r.call_id for r in index.belonging_to(mine)] == ["1", "3", "5"]
    assert [r.call_id for r in index.belonging_to(others)] == ["2"]
    assert correlation.correlate(mine, index.belonging_to(mine)) == correlation.correlate(mine, records)


def test_the_number_index_is_built_once_per_watch() -> None:
    w = watch()
    assert w.numbers_by_digits is w.numbers_by_digits
    assert w.numbers_by_digits == {"918830907001": NUMBERS[0], "918830907002": NUMBERS[1],
                                   "8830907001": NUMBERS[0], "8830907002": NUMBERS[1]}
    assert correlation.CallWatch.from_dict(w.as_dict()) == w  # the cache is no field
