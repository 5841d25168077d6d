from __future__ import annotations

import datetime as dt
import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from urllib3.exceptions import NewConnectionError

from airflow_provider_kaleyra import __version__, call_logs, wire
from airflow_provider_kaleyra._compat import AIRFLOW_RELEASE
from airflow_provider_kaleyra.exceptions import (
    KaleyraConnectionConfigError,
    KaleyraInputError,
    KaleyraOutcomeUnknownError,
    KaleyraPermanentError,
    KaleyraTransientError,
)
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook, note_listing
from airflow_provider_kaleyra.retry import RetryPolicy

from .fakes import ACCEPTED, IVR_NOT_FOUND, SECRET_KEY, SID, FakeKaleyra, answer, connection_json, install

pytestmark = pytest.mark.usefixtures("kaleyra_conn")
FLOW = "SG_flow-1"


def make_hook(*answers: object, sleeps: list[float] | None = None) -> tuple[KaleyraHook, FakeKaleyra]:
    record = sleeps if sleeps is not None else []
    hook = KaleyraHook(retry_policy=RetryPolicy(max_attempts=3), sleep=record.append)
    return hook, install(hook, FakeKaleyra(*answers))


def refused() -> requests.ConnectionError:
    cause = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(cause)


def test_trigger_sends_exactly_the_seed_request() -> None:
    hook, fake = make_hook(answer(200, ACCEPTED))
    [result] = hook.trigger_outbound_flow(["+18830907001"], "+13236789001", FLOW)
    [request] = fake.requests
    assert request.method == "POST"
    assert request.url == f"https://api.ap.kaleyra.io/v1/{SID}/voice/outbound"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["api-key"] == SECRET_KEY
    assert request.headers["User-Agent"] == f"airflow-provider-kaleyra/{__version__}"
    form = fake.forms()[0]
    assert form["to"] == ["+18830907001"]
    assert form["bridge"] == ["+13236789001"]
    assert json.loads(form["target"][0]) == [{"ivr": [FLOW]}]
    assert result.code == "RBC3007"
    assert result.numbers == ["+18830907001"]
    assert json.loads(json.dumps(result.as_dict()))["flow_id"] == FLOW


def test_one_session_is_reused() -> None:
    hook, fake = make_hook(answer(200, ACCEPTED), answer(200, ACCEPTED))
    hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    first = hook.session
    hook.trigger_outbound_flow("+18830907002", "+13236789001", FLOW)
    assert hook.session is first
    assert len(fake.requests) == 2


def test_optional_fields_are_sent() -> None:
    hook, fake = make_hook(answer(200, ACCEPTED))
    hook.trigger_outbound_flow(
        "8830907001",
        "+13236789001",
        FLOW,
        prefix="+91",
        retry=1,
        time="2030-01-01T15:30:00+05:30",
        timeout=45,
        delay=2,
        interval=30,
        custom={"order": 42},
        dlrurl="https://hooks.example/dlr?id={id}&status={status}",
        callback={"call_end": {"url": ["https://hooks.example/end"]}},
        correlation_token="af-abc",
    )
    form = {k: v[0] for k, v in fake.forms()[0].items()}
    # The prefix is applied here; Kaleyra gets whole numbers and no prefix field.
    assert form["to"] == "+918830907001"
    assert "prefix" not in form
    assert (form["retry"], form["timeout"], form["delay"], form["interval"]) == ("1", "45", "2", "30")
    assert form["time"] == "2030-01-01T10:00:00+00:00"
    # The correlation token rides along on the user's callback URLs.
    assert form["dlrurl"] == "https://hooks.example/dlr?id={id}&status={status}&airflow_correlation_token=af-abc"
    assert json.loads(form["custom"]) == {"order": 42, wire.CORRELATION_KEY: "af-abc"}
    assert json.loads(form["callback"]) == {
        "call_end": {"url": ["https://hooks.example/end?airflow_correlation_token=af-abc"]}
    }


def test_prepare_builds_the_whole_request_and_sends_nothing() -> None:
    hook, fake = make_hook(answer(200, ACCEPTED))
    call = wire.OutboundCall(to=("+18830907001",), bridge="+13236789001", flow_id=FLOW, correlation_token="af-1")
    prepared = hook.prepare_submit(call)
    assert fake.requests == []
    assert prepared.call is call
    assert prepared.request.method == "POST"
    assert prepared.request.url == f"https://api.ap.kaleyra.io/v1/{SID}/voice/outbound"
    assert prepared.request.headers["api-key"] == SECRET_KEY
    assert prepared.summary == f"to=[+18830907001] bridge=+13236789001 flow={FLOW}"
    result = hook.send_submit(prepared)
    assert fake.requests == [prepared.request]
    assert (result.code, result.numbers, result.correlation_token) == ("RBC3007", ["+18830907001"], "af-1")


def test_a_broken_connection_fails_in_prepare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", connection_json(region="MARS"))
    call = wire.OutboundCall(to=("+18830907001",), bridge="+13236789001", flow_id=FLOW)
    with pytest.raises(KaleyraConnectionConfigError, match="region='MARS'"):
        KaleyraHook().prepare_submit(call)


def test_ivr_not_found_is_permanent_with_code_and_redacted_summary() -> None:
    hook, _ = make_hook(answer(400, IVR_NOT_FOUND))
    with pytest.raises(KaleyraPermanentError) as info:
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    error = info.value
    assert (error.code, error.kaleyra_message, error.http_status) == ("RBC3115", "IVR not found", 400)
    assert "RBC3115" in str(error)
    assert FLOW in str(error)
    assert SECRET_KEY not in str(error)


def test_a_200_with_a_failure_code_is_a_failure() -> None:
    hook, _ = make_hook(answer(200, IVR_NOT_FOUND))
    with pytest.raises(KaleyraPermanentError, match="RBC3115"):
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        pytest.param(
            200, {"code": "RBC3008", "message": "Queued", "data": {}, "error": {}}, "RBC3008 'Queued'", id="200-RBC3008"
        ),
        pytest.param(200, {"code": "RBC4242", "message": "New"}, "RBC4242 'New'", id="200-another-code"),
        pytest.param(200, {"message": "ok", "data": {}}, "no code 'ok'", id="200-without-code"),
        pytest.param(202, {"code": "RBC3008"}, "RBC3008", id="202-unknown-code"),
        pytest.param(500, {"message": "internal"}, "HTTP 500", id="500-json"),
        pytest.param(500, "<html>oops</html>", "HTTP 500 with a body that is not Kaleyra JSON", id="500-html"),
        pytest.param(502, "<html>Bad Gateway</html>", "<html>Bad Gateway", id="502-proxy-page"),
        pytest.param(503, "", "HTTP 503 with a body that is not Kaleyra JSON: ''", id="503-empty"),
        pytest.param(504, None, "HTTP 504", id="504-gateway-timeout"),
        pytest.param(400, "<html>Bad Request</html>", "HTTP 400", id="400-proxy-page"),
        pytest.param(403, b"", "HTTP 403", id="403-empty"),
    ],
)
def test_an_answer_that_does_not_prove_nothing_was_done_is_an_unknown_outcome_sent_once(
    status: int, body: object, shown: str
) -> None:
    hook, fake = make_hook(answer(status, body), answer(200, ACCEPTED))
    with pytest.raises(KaleyraOutcomeUnknownError) as info:
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert len(fake.requests) == 1  # never sent again: it may have dialled
    assert shown in str(info.value)
    assert "does not say whether it dialled" in str(info.value)
    assert info.value.http_status == status
    assert isinstance(info.value, KaleyraPermanentError)  # no Airflow retry either
    assert SECRET_KEY not in str(info.value)


def test_200_with_an_unknown_code_names_the_code() -> None:
    hook, _ = make_hook(answer(200, {"code": "RBC3008", "message": "Queued", "data": {}, "error": {}}))
    with pytest.raises(KaleyraOutcomeUnknownError, match="RBC3008") as info:
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert (info.value.code, info.value.kaleyra_message) == ("RBC3008", "Queued")


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "RBC3115"), (200, "RBC3115"), (401, "RBC001"), (402, "E110"), (400, "RBC3001")],
)
def test_a_refusal_that_proves_nothing_was_done_is_permanent_not_unknown(status: int, code: str) -> None:
    hook, fake = make_hook(answer(status, {"code": code, "message": "no", "data": [], "error": {}}))
    with pytest.raises(KaleyraPermanentError, match=code) as info:
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert not isinstance(info.value, KaleyraOutcomeUnknownError)
    assert (info.value.code, info.value.http_status) == (code, status)
    assert len(fake.requests) == 1


def test_wrong_credentials_are_permanent() -> None:
    body = {"code": "RBC001", "message": "Incorrect SID or API Key", "data": [], "error": {}}
    hook, _ = make_hook(answer(401, body))
    with pytest.raises(KaleyraPermanentError, match="RBC001"):
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)


def test_429_waits_retry_after_then_succeeds() -> None:
    sleeps: list[float] = []
    hook, fake = make_hook(answer(429, None, {"Retry-After": "2"}), answer(200, ACCEPTED), sleeps=sleeps)
    [result] = hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert result.code == "RBC3007"
    assert sleeps == [2.0]
    assert len(fake.requests) == 2


def test_429_is_bounded_then_transient() -> None:
    sleeps: list[float] = []
    hook, fake = make_hook(*[answer(429, None, {"Retry-After": "1"})] * 3, sleeps=sleeps)
    with pytest.raises(KaleyraTransientError, match="HTTP 429") as info:
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert not isinstance(info.value, KaleyraOutcomeUnknownError)  # a 429 proves nothing was done
    assert len(fake.requests) == 3
    assert sleeps == [1.0, 1.0]


def test_rate_limit_code_is_retried_then_accepted() -> None:
    sleeps: list[float] = []
    limited = {"code": "RBC3429", "message": "Too many requests", "data": [], "error": {}}
    hook, fake = make_hook(answer(429, limited), answer(200, ACCEPTED), sleeps=sleeps)
    [result] = hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert result.code == "RBC3007"
    assert len(fake.requests) == 2
    assert sleeps == [1.0]


def test_a_retry_after_too_long_to_wait_is_transient_at_once() -> None:
    hook, fake = make_hook(answer(429, None, {"Retry-After": "3600"}))
    with pytest.raises(KaleyraTransientError, match="HTTP 429") as info:
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert info.value.retry_after == 3600.0
    assert len(fake.requests) == 1


def test_connection_refused_is_retried_then_transient() -> None:
    sleeps: list[float] = []
    hook, fake = make_hook(refused(), refused(), refused(), sleeps=sleeps)
    with pytest.raises(KaleyraTransientError, match="Could not reach Kaleyra"):
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert len(fake.requests) == 3
    assert sleeps == [1.0, 2.0]


def test_connection_refused_then_success() -> None:
    hook, fake = make_hook(refused(), answer(200, ACCEPTED))
    [result] = hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert result.code == "RBC3007"
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    "lost",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer")),
    ],
)
def test_no_answer_after_sending_is_never_resent(lost: Exception) -> None:
    hook, fake = make_hook(lost)
    with pytest.raises(KaleyraOutcomeUnknownError, match="may have been accepted"):
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert len(fake.requests) == 1


def test_bad_input_sends_nothing() -> None:
    hook, fake = make_hook()
    with pytest.raises(KaleyraInputError, match="bridge='123'"):
        hook.trigger_outbound_flow("+18830907001", "123", FLOW)
    assert fake.requests == []


def test_test_connection_uses_the_read_only_endpoint() -> None:
    body = {
        "code": "CLE402",
        "message": "Numbers listed",
        "data": [{"number": "+13236789001", "capabilities": ["voice_out"], "number_status": "Active"}],
        "error": {},
    }
    hook, fake = make_hook(answer(200, body))
    ok, message = hook.test_connection()
    assert ok
    assert "1 subscribed numbers, 1 can place calls (+13236789001)" in message
    assert fake.requests[0].method == "GET"
    assert fake.requests[0].url.endswith(f"/v1/{SID}/number/subscriptions")


def test_test_connection_reports_refusal_in_words() -> None:
    body = {"code": "RBC001", "message": "Incorrect SID or API Key", "data": [], "error": {}}
    hook, _ = make_hook(answer(401, body))
    ok, message = hook.test_connection()
    assert not ok
    assert "Incorrect SID or API Key" in message
    assert SECRET_KEY not in message


def test_read_only_request_is_retried_on_5xx() -> None:
    body = {"code": "CLE402", "message": "ok", "data": [], "error": {}}
    hook, fake = make_hook(answer(503, ""), answer(200, body))
    assert hook.list_numbers() == []
    assert len(fake.requests) == 2


def test_read_only_request_out_of_tries_on_5xx_is_transient_not_unknown() -> None:
    hook, fake = make_hook(*[answer(503, "")] * 3)
    with pytest.raises(KaleyraTransientError, match="HTTP 503") as info:
        hook.list_numbers()
    assert not isinstance(info.value, KaleyraOutcomeUnknownError)
    assert len(fake.requests) == 3


# ---------------------------------------------------------------- call logs
# One listing per poll, paged, retried like any read-only request.


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
