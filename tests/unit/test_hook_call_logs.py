"""KaleyraHook.call_logs: one listing per poll, paged, retried like any read-only request."""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_kaleyra import call_logs
from airflow_provider_kaleyra._compat import AIRFLOW_RELEASE
from airflow_provider_kaleyra.exceptions import KaleyraPermanentError, KaleyraTransientError
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook, note_listing

from .fakes import FakeKaleyra, answer, connection_json, install

pytestmark = pytest.mark.usefixtures("kaleyra_conn")
QUERY = call_logs.CallLogQuery(
    bridge="+6531651234", start_time="2026-01-01T10:00:00+00:00", end_time="2026-01-01T11:00:00+00:00"
)


def listed(calls: list[dict], total: int | None = None, code: str | None = "RBC3200", error: object = None) -> dict:
    data: object = calls if total is None else {"calls": calls, "total": total}
    return {"code": code, "message": "ok", "data": data, "error": {} if error is None else error}


def call(i: int, status: str = "ANSWER") -> dict:
    return {"id": f"c{i}", "to": f"+9188309070{i:02d}", "status": status}


def hook(fake: FakeKaleyra) -> KaleyraHook:
    h = KaleyraHook(sleep=lambda seconds: None)
    install(h, fake)
    return h


def logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """Airflow logs through structlog (to the console) or stdlib logging, by version."""
    captured = capsys.readouterr()
    if AIRFLOW_RELEASE < (3, 1):  # stdlib logging: caplog has each record, Airflow's console handler repeats it
        return caplog.text
    return caplog.text + captured.out + captured.err


def test_pages_until_the_total_is_read() -> None:
    fake = FakeKaleyra(answer(200, listed([call(0), call(1)], 3)), answer(200, listed([call(2, "BUSY")], 3)))
    listing = hook(fake).call_logs(QUERY, page_size=2)
    assert [r.status for r in listing.records] == ["ANSWER", "ANSWER", "BUSY"]
    assert listing.cut_off is None
    urls = [urlsplit(r.url or "") for r in fake.requests]
    assert {u.path for u in urls} == {"/v1/HXIN169510844XXX/voice/call-logs"}
    assert [parse_qs(u.query)["page"] for u in urls] == [["1"], ["2"]]
    assert [r.headers["limit"] for r in fake.requests] == ["2", "2"]
    assert all(r.method == "GET" for r in fake.requests)


def test_the_filters_travel_in_the_query_string_and_in_a_form_body() -> None:
    fake = FakeKaleyra(answer(200, listed([call(0)])))
    hook(fake).call_logs(QUERY)
    [request] = fake.requests
    expected = {
        "bridge": ["+6531651234"],
        "start_time": ["2026-01-01T10:00:00+00:00"],
        "end_time": ["2026-01-01T11:00:00+00:00"],
        "page": ["1"],
    }
    assert parse_qs(urlsplit(request.url or "").query) == expected
    assert fake.forms() == [expected]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["limit"] == str(call_logs.PAGE_SIZE)


@pytest.mark.parametrize("code", ["RBC3200", "RBC3000", "", None, "SOMETHING_NEW"])
@pytest.mark.parametrize("error", [{}, [], None])
def test_any_2xx_with_an_empty_error_is_a_listing(code: str | None, error: object) -> None:
    body = {"code": code, "message": "ok", "data": [call(0)], "error": error}
    listing = hook(FakeKaleyra(answer(200, body))).call_logs(QUERY)
    assert [r.call_id for r in listing.records] == ["c0"]
    assert listing.codes == (frozenset({code}) if code else frozenset())


def test_a_listing_without_code_and_error_fields_is_read() -> None:
    listing = hook(FakeKaleyra(answer(200, {"data": {"calls": [call(0)]}}))).call_logs(QUERY)
    assert len(listing.records) == 1


def test_a_5xx_is_retried_because_listing_is_read_only() -> None:
    fake = FakeKaleyra(answer(503, "busy"), answer(200, listed([call(0)], 1)))
    assert len(hook(fake).call_logs(QUERY).records) == 1
    assert len(fake.requests) == 2


def test_wrong_credentials_fail_permanently() -> None:
    refused = {"code": "RBC001", "message": "Incorrect SID or API Key", "data": [], "error": {}}
    with pytest.raises(KaleyraPermanentError, match="list call logs"):
        hook(FakeKaleyra(answer(401, refused))).call_logs(QUERY)


def test_a_known_refusal_code_fails_even_with_200() -> None:
    refused = {"code": "RBC001", "message": "Incorrect SID or API Key", "data": [], "error": {}}
    fake = FakeKaleyra(answer(200, refused))
    with pytest.raises(KaleyraPermanentError, match="RBC001"):
        hook(fake).call_logs(QUERY)
    assert len(fake.requests) == 1


def test_a_non_empty_error_fails_the_listing() -> None:
    body = listed([], code="RBC3001", error={"start_time": "invalid date"})
    with pytest.raises(KaleyraPermanentError, match="start_time: invalid date"):
        hook(FakeKaleyra(answer(400, body))).call_logs(QUERY)


def test_a_rate_limited_listing_out_of_tries_is_transient() -> None:
    limited = answer(429, {"code": "RBC3429", "message": "Too many requests"})
    fake = FakeKaleyra(*[limited] * 4)
    with pytest.raises(KaleyraTransientError, match="RBC3429"):
        hook(fake).call_logs(QUERY)
    assert len(fake.requests) == 4


def test_unreadable_data_is_reported_as_a_problem() -> None:
    body = {"code": "RBC3200", "message": "ok", "data": "no calls today", "error": {}}
    listing = hook(FakeKaleyra(answer(200, body))).call_logs(QUERY)
    assert listing.records == []
    assert "neither a list nor an object" in listing.problems[0]


def test_naive_times_are_read_in_the_connections_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", connection_json(timezone="Asia/Kolkata"))
    entry = {**call(0), "starttime": "2026-01-01 15:30:00"}
    listing = hook(FakeKaleyra(answer(200, listed([entry])))).call_logs(QUERY)
    assert listing.records[0].started_at == dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.timezone.utc)


def test_max_pages_bounds_the_listing_and_says_so() -> None:
    pages = [answer(200, listed([call(i)], total=10)) for i in range(3)]
    fake = FakeKaleyra(*pages)
    listing = hook(fake).call_logs(QUERY, page_size=1, max_pages=3)
    assert len(fake.requests) == 3
    assert listing.cut_off is not None
    assert "stopped after 3 pages" in listing.cut_off


def test_a_page_that_repeats_stops_the_listing_with_cut_off() -> None:
    same = answer(200, listed([call(0), call(1)]))  # the API ignores ``page``
    fake = FakeKaleyra(same, same)
    listing = hook(fake).call_logs(QUERY, page_size=2)
    assert [r.call_id for r in listing.records] == ["c0", "c1"]
    assert listing.cut_off is not None
    assert "repeated earlier records" in listing.cut_off
    assert len(fake.requests) == 2


# --------------------------------------------------------------------------- what is logged


def test_an_unfamiliar_listing_code_is_logged_once_per_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(call_logs, "_codes_noted", set())
    caplog.set_level(logging.INFO)
    fake = FakeKaleyra(*[answer(200, listed([call(0)], code="RBC3200"))] * 3)
    first = hook(fake)
    first.call_logs(QUERY)
    first.call_logs(QUERY)
    hook(fake).call_logs(QUERY)  # another hook, same process
    text = logs(caplog, capsys)
    assert text.count("listing answered with code RBC3200") == 1
    assert call_logs._codes_noted == {"RBC3200"}


def test_a_cut_off_is_logged_every_time(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.WARNING)
    same = answer(200, listed([call(0)], code=None))
    fake = FakeKaleyra(*[same] * 4)
    hook(fake).call_logs(QUERY, page_size=1)
    hook(fake).call_logs(QUERY, page_size=1)
    assert logs(caplog, capsys).count("call-log listing was cut off: page 2 repeated earlier records") == 2


def test_note_listing_names_each_new_code_and_the_cut_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(call_logs, "_codes_noted", {"RBC3200"})
    log = logging.getLogger("test.note_listing")
    caplog.set_level(logging.INFO, logger=log.name)
    listing = call_logs.CallLogListing([], cut_off="stopped after 100 pages", codes=frozenset({"RBC3200", "X1"}))
    note_listing(listing, log)
    note_listing(listing, log)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert any(level == logging.INFO and "code X1" in m for level, m in messages)
    assert not any("code RBC3200" in m for _, m in messages)
    assert sum("code X1" in m for _, m in messages) == 1
    assert sum(level == logging.WARNING and "stopped after 100 pages" in m for level, m in messages) == 2
