"""The call-logs request and the tolerant parsing of its (undocumented) answer."""

from __future__ import annotations

import json

import pytest

from airflow_provider_kaleyra import call_logs, wire


def test_url_and_request_carry_filters_page_and_limit_header() -> None:
    assert call_logs.call_logs_url("https://api.ap.kaleyra.io/", "HX1") == "https://api.ap.kaleyra.io/v1/HX1/voice/call-logs"
    query = call_logs.CallLogQuery(bridge="+6531651234", start_time="2026-01-01T00:00:00+00:00", call_id="c1")
    params, headers = call_logs.call_logs_request(query, page=3, limit=50)
    assert params == {
        "bridge": "+6531651234",
        "start_time": "2026-01-01T00:00:00+00:00",
        "call_id": "c1",
        "page": "3",
    }
    assert headers == {"limit": "50"}


def test_call_logs_success_code_is_known_as_ok() -> None:
    assert wire.classify(200, wire.CALL_LOGS_LISTED) is wire.Disposition.OK


def test_parses_the_assumed_shape_with_total() -> None:
    data = {
        "calls": [
            {
                "id": "c1",
                "to": "+918830907001",
                "bridge": "+6531651234",
                "flow_id": "SG_f",
                "status": "ANSWER",
                "start_time": "2026-01-01T00:00:01+00:00",
                "duration": "31",
                "custom": json.dumps({wire.CORRELATION_KEY: "af-1", "text": "x"}),
                "something_new": {"ignored": True},
            }
        ],
        "total": 3,
    }
    page = call_logs.parse_page(data, page=1, limit=1)
    [record] = page.records
    assert record == call_logs.CallRecord(
        number="+918830907001",
        status="ANSWER",
        call_id="c1",
        bridge="+6531651234",
        flow_id="SG_f",
        started_at="2026-01-01T00:00:01+00:00",
        duration=31,
        correlation_token="af-1",
    )
    assert page.has_more  # 1 of 3
    assert not call_logs.parse_page(data, page=3, limit=1).has_more


def test_parses_a_bare_list_with_other_field_names() -> None:
    data = [
        {"callid": "c2", "callee": "+918830907002", "call_status": "busy", "billsec": 0, "ivr_id": '[{"ivr":["SG_f"]}]'}
    ]
    page = call_logs.parse_page(data, page=1, limit=100)
    assert page.records[0].status == "BUSY"
    assert page.records[0].flow_id == "SG_f"
    assert not page.has_more  # a short page without a total is the last


def test_a_full_page_without_total_means_there_may_be_more() -> None:
    data = [{"to": f"+91883090700{i}", "status": "ANSWER"} for i in range(5)]
    assert call_logs.parse_page(data, page=1, limit=5).has_more


def test_unreadable_entries_are_reported_not_dropped_silently() -> None:
    page = call_logs.parse_page({"calls": [{"status": "ANSWER"}, "junk", {"to": "+918830907001"}]}, 1)
    assert [r.number for r in page.records] == ["+918830907001"]
    assert page.records[0].status is None  # no status: still pending
    assert len(page.problems) == 2
    assert "no callee number" in page.problems[0]
    assert "not an object" in page.problems[1]


@pytest.mark.parametrize("data", [None, {}, {"message": "nothing"}, []])
def test_empty_answers_are_empty_pages(data: object) -> None:
    page = call_logs.parse_page(data, 1)
    assert page.records == []
    assert not page.has_more


def test_a_scalar_data_is_a_problem() -> None:
    page = call_logs.parse_page("oops", 1)
    assert page.records == []
    assert "neither a list nor an object" in page.problems[0]
