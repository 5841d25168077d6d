"""The call-log contract: statuses, times, the listing request, the tolerant answer, paging."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from airflow_provider_kaleyra import call_logs, wire
from airflow_provider_kaleyra.call_logs import StatusCategory

UTC = dt.timezone.utc
#: 2026-01-01T10:00:00+00:00
EPOCH = 1767261600
MOMENT = dt.datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def reply(
    data: Any = None, *, code: Any = "RBC3200", error: Any = None, status: int = 200, absent: tuple[str, ...] = ()
) -> wire.Reply:
    """A parsed answer; the fields named in ``absent`` are left out of the body."""
    body: dict[str, Any] = {"code": code, "message": "ok", "data": data, "error": {} if error is None else error}
    for key in absent:
        body.pop(key)
    return wire.parse_reply(status, json.dumps(body))


def entry(i: int, status: str = "ANSWER", **fields: Any) -> dict[str, Any]:
    return {"id": f"c{i}", "to": f"+9188309070{i:02d}", "status": status, **fields}


# --------------------------------------------------------------------------- statuses

EXPECTED = {
    StatusCategory.SUCCESS: {"ANSWER", "FLOW_ANSWER"},
    StatusCategory.CALLEE: {
        "NOANSWER",
        "BUSY",
        "REJECTED",
        "CANCEL",
        "OBD_TIMEOUT",
        "BUSY_CHANNEL1",
        "BUSY_CHANNEL2",
        "FAILED_CHANNEL1",
        "FAILED_CHANNEL2",
        "NOANSWER_CHANNEL1",
        "NOANSWER_CHANNEL2",
    },
    StatusCategory.CAPACITY: {"MAXUSE", "QUEUE_TIMEOUT", "FAILED"},
    StatusCategory.CONFIGURATION: {
        "FLOW_UNASSIGNED",
        "FLOW_PAUSED",
        "FLOW_NOT_PUBLISHED",
        "FLOW_UNREACHABLE",
        "BRIDGE_UNAVAILABLE",
        "NOROUTE",
    },
    StatusCategory.INBOUND: {"MISS_CALL", "NO_INCOMING_CLI"},
}


def test_every_named_status_is_in_exactly_the_expected_category() -> None:
    table = {
        category: {s for s, i in call_logs.CALL_STATUSES.items() if i.category is category} for category in EXPECTED
    }
    assert table == EXPECTED
    assert sum(len(v) for v in EXPECTED.values()) == len(call_logs.CALL_STATUSES) == 24


@pytest.mark.parametrize("status", sorted(call_logs.CALL_STATUSES))
def test_each_status_has_a_meaning(status: str) -> None:
    assert call_logs.status_meaning(status) == call_logs.CALL_STATUSES[status].meaning
    assert call_logs.status_category(status.lower()) is call_logs.CALL_STATUSES[status].category


@pytest.mark.parametrize("status", ["CHANUNAVAIL", "CONGESTION", "DND", "NOANSWER_LEG1", "SOMETHING_NEW"])
def test_unknown_and_old_platform_statuses_are_unknown_never_success(status: str) -> None:
    assert call_logs.status_category(status) is StatusCategory.UNKNOWN
    assert status not in call_logs.SUCCESS_STATUSES
    assert "does not know" in call_logs.status_meaning(status)


@pytest.mark.parametrize("status", [None, "", "queued", "RINGING", "in-progress"])
def test_missing_or_in_progress_status_is_pending(status: str | None) -> None:
    assert call_logs.status_category(status) is StatusCategory.PENDING
    assert call_logs.status_meaning(status) == "no final status yet"


def test_status_spelling_is_normalised() -> None:
    assert call_logs.normalise_status(" flow not published ") == "FLOW_NOT_PUBLISHED"
    assert call_logs.normalise_status("busy") == "BUSY"
    assert call_logs.normalise_status(None) is None


def test_a_record_is_final_once_its_status_is() -> None:
    assert call_logs.CallRecord("+918830907001", "BUSY").final
    assert not call_logs.CallRecord("+918830907001", "RINGING").final
    assert call_logs.CallRecord("+918830907001", None).category is StatusCategory.PENDING


# --------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(EPOCH, id="epoch-seconds"),
        pytest.param(EPOCH * 1000, id="epoch-milliseconds"),
        pytest.param(float(EPOCH), id="epoch-seconds-float"),
        pytest.param(str(EPOCH), id="epoch-seconds-string"),
        pytest.param(str(EPOCH * 1000), id="epoch-milliseconds-string"),
        pytest.param(f" {EPOCH} ", id="epoch-string-with-spaces"),
        pytest.param("2026-01-01T10:00:00+00:00", id="iso-utc-offset"),
        pytest.param("2026-01-01T10:00:00Z", id="iso-z"),
        pytest.param("2026-01-01T15:30:00+05:30", id="iso-india-offset"),
        pytest.param("2026-01-01T05:00:00-05:00", id="iso-negative-offset"),
        pytest.param(MOMENT, id="aware-datetime"),
    ],
)
def test_parse_time_reads_epochs_and_iso_with_offset_as_utc(value: object) -> None:
    parsed = call_logs.parse_time(value, "Asia/Kolkata")  # an offset wins over the account's zone
    assert parsed == MOMENT
    assert parsed is not None
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("value", ["2026-01-01T15:30:00", "2026-01-01 15:30:00", dt.datetime(2026, 1, 1, 15, 30)])
def test_a_naive_time_is_read_in_the_account_time_zone(value: object) -> None:
    assert call_logs.parse_time(value, "Asia/Kolkata") == MOMENT  # 15:30 IST is 10:00 UTC
    assert call_logs.parse_time(value) == MOMENT + dt.timedelta(hours=5, minutes=30)  # UTC by default


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "yesterday",
        "2026-13-01T10:00:00Z",
        "nan",
        "inf",
        float("nan"),
        True,
        {"at": EPOCH},
        [EPOCH],
        "P1D",  # a duration
        "2026-01-01",  # a date: no moment of the day
        "10:00",  # a time of day: no date
    ],
)
def test_unreadable_times_are_none(value: object) -> None:
    assert call_logs.parse_time(value, "Asia/Kolkata") is None


def test_filter_times_go_out_as_utc_iso_with_offset() -> None:
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert call_logs.format_filter_time(dt.datetime(2026, 1, 1, 15, 30, 0, 999, tzinfo=ist)) == (
        "2026-01-01T10:00:00+00:00"
    )
    with pytest.raises(ValueError, match="no timezone"):
        call_logs.format_filter_time(dt.datetime(2026, 1, 1, 10, 0))


# --------------------------------------------------------------------------- the request


def test_url_is_the_documented_call_logs_path() -> None:
    assert call_logs.call_logs_url("https://api.ap.kaleyra.io/", "HX1") == "https://api.ap.kaleyra.io/v1/HX1/voice/call-logs"


def test_request_carries_the_filters_in_the_query_and_in_a_form_body() -> None:
    query = call_logs.CallLogQuery(
        bridge="+6531651234", start_time="2026-01-01T00:00:00+00:00", call_id="c1", status="ANSWER"
    )
    request = call_logs.call_logs_request(query, page=3, limit=50)
    expected = {
        "bridge": "+6531651234",
        "start_time": "2026-01-01T00:00:00+00:00",
        "call_id": "c1",
        "status": "ANSWER",
        "page": "3",
    }
    assert request.params == expected
    assert request.body == expected
    assert request.headers == {"limit": "50", "Content-Type": "application/x-www-form-urlencoded"}


def test_empty_filters_are_left_out_and_offset_is_never_sent() -> None:
    request = call_logs.call_logs_request(call_logs.CallLogQuery(bridge="+6531651234", end_time=""), page=1)
    assert request.params == request.body == {"bridge": "+6531651234", "page": "1"}
    assert request.headers["limit"] == str(call_logs.PAGE_SIZE)


@pytest.mark.parametrize(("numbers", "pages"), [(1, 100), (2500, 100), (10_000, 400), (10_001, 404)])
def test_page_budget_leaves_room_for_each_numbers_retries(numbers: int, pages: int) -> None:
    assert call_logs.page_budget(numbers) == pages


# --------------------------------------------------------------------------- did the listing succeed?


@pytest.mark.parametrize("code", ["RBC3200", "RBC3000", "RBC3007", "", None, "XYZ123"], ids=repr)
@pytest.mark.parametrize("error", [{}, [], None, "absent"], ids=repr)
def test_a_2xx_with_an_empty_error_is_a_listing_whatever_the_code(code: str | None, error: object) -> None:
    answer = reply([], code=code, error=error, absent=("error",) if error == "absent" else ())
    assert call_logs.listing_succeeded(answer)


def test_a_listing_without_a_code_field_succeeds() -> None:
    assert call_logs.listing_succeeded(wire.parse_reply(200, json.dumps({"data": [entry(1)]})))
    assert call_logs.listing_succeeded(wire.parse_reply(204, json.dumps({"message": "none", "error": {}})))


@pytest.mark.parametrize("error", [{"start_time": "invalid"}, ["bad page"], "denied"], ids=repr)
def test_a_non_empty_error_fails_the_listing(error: object) -> None:
    assert not call_logs.listing_succeeded(reply([], error=error))


@pytest.mark.parametrize("code", [wire.BAD_CREDENTIALS, wire.INVALID_PARAMETER, wire.RATE_LIMITED, wire.IVR_NOT_FOUND])
def test_a_known_refusal_code_fails_even_with_200_and_no_error(code: str) -> None:
    assert not call_logs.listing_succeeded(reply([], code=code))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"code": "RBC3200", "data": [], "error": {}}),
        (503, {"code": "RBC3200", "data": [], "error": {}}),
        (302, {"data": []}),
        (200, "<html>login</html>"),
        (200, ""),
        (200, [entry(1)]),  # a bare list is not Kaleyra's envelope
    ],
)
def test_a_non_2xx_or_a_body_that_is_not_the_envelope_fails(status: int, body: object) -> None:
    raw = body if isinstance(body, str) else json.dumps(body)
    assert not call_logs.listing_succeeded(wire.parse_reply(status, raw))


# --------------------------------------------------------------------------- one call, one page


def test_parses_the_assumed_shape_with_total() -> None:
    data = {
        "calls": [
            {
                "id": "c1",
                "to": "+918830907001",
                "bridge": "+6531651234",
                "flow_id": "SG_f",
                "status": "ANSWER",
                "start_time": "2026-01-01T10:00:00+00:00",
                "duration": "31",
                "custom": json.dumps({wire.CORRELATION_KEY: "af-1", "text": "x"}),
                "something_new": {"ignored": True},
            }
        ],
        "total": 3,
    }
    page = call_logs.parse_page(data)
    [record] = page.records
    assert record == call_logs.CallRecord(
        number="+918830907001",
        status="ANSWER",
        call_id="c1",
        bridge="+6531651234",
        flow_id="SG_f",
        started_at=MOMENT,
        duration=31,
        correlation_token="af-1",
    )
    assert (page.entries, page.total) == (1, 3)


def test_parses_the_dlrurl_placeholder_names() -> None:
    item = {
        "callid": "c2",
        "callee": "918830907002",
        "caller": "6531651234",
        "call_status": "busy",
        "starttime": str(EPOCH),
        "billsec": "0",
        "ivr_id": '[{"ivr":["SG_f"]}]',
    }
    record = call_logs.parse_call_record(item)
    assert record == call_logs.CallRecord(
        number="918830907002",
        status="BUSY",
        call_id="c2",
        bridge="6531651234",
        flow_id="SG_f",
        started_at=MOMENT,
        duration=0,
    )


def test_a_naive_start_time_is_read_in_the_listing_time_zone() -> None:
    record = call_logs.parse_call_record(entry(1, starttime="2026-01-01 15:30:00"), "Asia/Kolkata")
    assert isinstance(record, call_logs.CallRecord)
    assert record.started_at == MOMENT


@pytest.mark.parametrize(
    ("item", "token"),
    [
        (entry(1, custom=json.dumps({wire.CORRELATION_KEY: "af-1"})), "af-1"),
        (entry(1, custom={wire.CORRELATION_KEY: "af-2"}), "af-2"),
        (entry(1, **{wire.CORRELATION_KEY: "af-3"}), "af-3"),
        (entry(1, custom="plain text"), None),
        (entry(1, custom=json.dumps({"text": "x"})), None),
        (entry(1), None),
    ],
)
def test_the_correlation_token_is_read_when_the_log_echoes_it(item: dict, token: str | None) -> None:
    record = call_logs.parse_call_record(item)
    assert isinstance(record, call_logs.CallRecord)
    assert record.correlation_token == token


@pytest.mark.parametrize(
    ("flow", "expected"),
    [("SG_f", "SG_f"), (40112, "40112"), ([{"ivr": ["SG_f"]}], "SG_f"), ({"ivr": ["SG_g"]}, "SG_g"), ("[]", None)],
    ids=repr,
)
def test_flow_ids_in_every_spelling(flow: object, expected: str | None) -> None:
    record = call_logs.parse_call_record(entry(1, flow_id=flow))
    assert isinstance(record, call_logs.CallRecord)
    assert record.flow_id == expected


@pytest.mark.parametrize(
    ("data", "numbers"),
    [
        pytest.param([entry(1), entry(2)], ["+918830907001", "+918830907002"], id="bare-list"),
        pytest.param({"calls": [entry(1)]}, ["+918830907001"], id="calls-key"),
        pytest.param({"call_logs": [entry(1)], "total": 1}, ["+918830907001"], id="call_logs-key"),
        pytest.param({"records": [entry(1)]}, ["+918830907001"], id="records-key"),
        pytest.param({"data": [entry(1)]}, ["+918830907001"], id="nested-data-key"),
        pytest.param(entry(1), ["+918830907001"], id="one-call-object"),
    ],
)
def test_data_as_a_list_or_an_object_holding_one(data: object, numbers: list[str]) -> None:
    page = call_logs.parse_page(data)
    assert [r.number for r in page.records] == numbers
    assert page.problems == []


def test_unreadable_entries_are_reported_not_dropped_silently() -> None:
    page = call_logs.parse_page({"calls": [{"status": "ANSWER"}, "junk", {"to": "+918830907001"}, {"to": ["x"]}]})
    assert [r.number for r in page.records] == ["+918830907001"]
    assert page.records[0].status is None  # no status: still pending
    assert len(page.problems) == 3
    assert "no callee number" in page.problems[0]
    assert "not an object" in page.problems[1]
    assert page.entries == 4


@pytest.mark.parametrize("data", [None, {}, {"message": "nothing"}, []])
def test_empty_answers_are_empty_pages(data: object) -> None:
    page = call_logs.parse_page(data)
    assert page.records == []
    assert page.problems == []
    assert page.entries == 0


@pytest.mark.parametrize("data", ["oops", 42, 1.5, True], ids=repr)
def test_unreadable_data_is_a_problem(data: object) -> None:
    page = call_logs.parse_page(data)
    assert page.records == []
    assert page.entries == 0
    assert "neither a list nor an object" in page.problems[0]


# --------------------------------------------------------------------------- paging

QUERY = call_logs.CallLogQuery(bridge="+6531651234", start_time="2026-01-01T10:00:00+00:00")


def read_all(pager: call_logs.CallLogPager, *answers: wire.Reply) -> list[call_logs.CallLogRequest]:
    """Feed ``answers`` page by page, as a hook does; the requests the pager asked for."""
    requests = []
    replies = list(answers)
    while (request := pager.next_request()) is not None:
        requests.append(request)
        pager.add(replies.pop(0))
    assert replies == [], "the pager stopped before every scripted page was read"
    return requests


def test_a_short_page_without_total_is_the_last_and_a_full_one_may_not_be() -> None:
    short = call_logs.CallLogPager(QUERY, page_size=5)
    assert len(read_all(short, reply([entry(i) for i in range(4)]))) == 1
    full = call_logs.CallLogPager(QUERY, page_size=5)
    assert len(read_all(full, reply([entry(i) for i in range(5)]), reply([]))) == 2


def test_a_total_is_compared_with_what_was_read_when_pages_are_smaller_than_asked() -> None:
    pager = call_logs.CallLogPager(QUERY, page_size=4, max_pages=2)
    pages = [reply({"calls": [entry(2 * p), entry(2 * p + 1)], "total": 6}) for p in range(3)]
    assert len(read_all(pager, *pages)) == 3  # the budget grew with the smaller pages
    assert len(pager.result().records) == 6
    assert pager.result().cut_off is None


def test_pager_reads_until_the_total_and_collects_the_codes() -> None:
    pager = call_logs.CallLogPager(QUERY, page_size=2)
    requests = read_all(
        pager,
        reply({"calls": [entry(0), entry(1)], "total": 3}, code="RBC3200"),
        reply({"calls": [entry(2, "BUSY")], "total": 3}, code=None),
    )
    assert [r.params["page"] for r in requests] == ["1", "2"]
    listing = pager.result()
    assert [r.status for r in listing.records] == ["ANSWER", "ANSWER", "BUSY"]
    assert listing == call_logs.CallLogListing(listing.records, [], None, frozenset({"RBC3200"}))


def test_pager_keeps_unreadable_data_as_a_problem() -> None:
    pager = call_logs.CallLogPager(QUERY)
    read_all(pager, reply("unreadable"))
    listing = pager.result()
    assert listing.records == []
    assert "neither a list nor an object" in listing.problems[0]
    assert listing.cut_off is None


def test_a_page_repeating_records_already_read_stops_with_cut_off() -> None:
    same = reply([entry(0), entry(1)])  # the API ignores ``page``: every page is the first
    pager = call_logs.CallLogPager(QUERY, page_size=2)
    read_all(pager, same, same)
    listing = pager.result()
    assert [r.call_id for r in listing.records] == ["c0", "c1"]  # not counted twice
    assert listing.cut_off is not None
    assert "page 2 repeated earlier records" in listing.cut_off


def test_records_without_call_ids_repeat_by_number_time_and_status() -> None:
    same = reply([{"to": "+918830907001", "status": "BUSY", "starttime": EPOCH}])
    pager = call_logs.CallLogPager(QUERY, page_size=1)
    read_all(pager, same, same)
    assert len(pager.result().records) == 1
    assert pager.result().cut_off is not None


def test_spending_max_pages_sets_cut_off() -> None:
    pager = call_logs.CallLogPager(QUERY, page_size=1, max_pages=2)
    read_all(pager, reply({"calls": [entry(0)], "total": 5}), reply({"calls": [entry(1)], "total": 5}))
    listing = pager.result()
    assert len(listing.records) == 2
    assert listing.cut_off is not None
    assert "stopped after 2 pages of 1" in listing.cut_off
    assert "2026-01-01T10:00:00+00:00" in listing.cut_off


def test_reading_the_last_page_within_the_budget_is_not_cut_off() -> None:
    pager = call_logs.CallLogPager(QUERY, page_size=1, max_pages=2)
    read_all(pager, reply({"calls": [entry(0)], "total": 2}), reply({"calls": [entry(1)], "total": 2}))
    assert pager.result().cut_off is None


def test_the_pager_reads_naive_times_in_its_time_zone() -> None:
    pager = call_logs.CallLogPager(QUERY, timezone="Asia/Kolkata")
    read_all(pager, reply([entry(1, start_time="2026-01-01T15:30:00")]))
    assert pager.result().records[0].started_at == MOMENT


# --------------------------------------------------------------------------- codes, once


def test_first_sighting_is_true_once_per_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_logs, "_codes_noted", set())
    assert call_logs.first_sighting("RBC3200")
    assert not call_logs.first_sighting("RBC3200")
    assert call_logs.first_sighting("RBC3000")
