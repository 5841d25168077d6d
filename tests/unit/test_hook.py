from __future__ import annotations

import json

import pytest
import requests
from urllib3.exceptions import NewConnectionError

from airflow_provider_kaleyra import __version__, wire
from airflow_provider_kaleyra.exceptions import (
    KaleyraConnectionConfigError,
    KaleyraInputError,
    KaleyraOutcomeUnknownError,
    KaleyraPermanentError,
    KaleyraTransientError,
)
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
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
        timeout=45,
        delay=2,
        interval=30,
        custom={"order": 42},
        dlrurl="https://hooks.example/dlr?id={id}&status={status}",
        callback={"call_end": {"url": ["https://hooks.example/end"]}},
        correlation_token="af-abc",
    )
    form = {k: v[0] for k, v in fake.forms()[0].items()}
    assert form["prefix"] == "+91"
    assert form["retry"] == "1"
    # The correlation token rides along on the user's callback URLs.
    assert form["dlrurl"] == "https://hooks.example/dlr?id={id}&status={status}&airflow_correlation_token=af-abc"
    assert json.loads(form["custom"]) == {"order": 42, wire.CORRELATION_KEY: "af-abc"}
    assert json.loads(form["callback"]) == {
        "call_end": {"url": ["https://hooks.example/end?airflow_correlation_token=af-abc"]}
    }


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


def test_unknown_code_fails_and_shows_it() -> None:
    hook, _ = make_hook(answer(200, {"code": "RBC4242", "message": "Something new", "data": {}, "error": {}}))
    with pytest.raises(KaleyraPermanentError, match="RBC4242 'Something new'"):
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)


def test_wrong_credentials_are_permanent() -> None:
    body = {"code": "RBC001", "message": "Incorrect SID or API Key", "data": [], "error": {}}
    hook, _ = make_hook(answer(401, body))
    with pytest.raises(KaleyraPermanentError, match="RBC001"):
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_transient_and_the_post_is_sent_once(status: int) -> None:
    hook, fake = make_hook(answer(status, "<html>oops</html>"))
    with pytest.raises(KaleyraTransientError, match=f"HTTP {status} .*<html>oops") as info:
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert len(fake.requests) == 1
    assert info.value.http_status == status


def test_empty_body_error_shows_status() -> None:
    hook, _ = make_hook(answer(400, b""))
    with pytest.raises(KaleyraPermanentError, match="HTTP 400 with a body that is not Kaleyra JSON: ''"):
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
    with pytest.raises(KaleyraTransientError, match="HTTP 429"):
        hook.trigger_outbound_flow("+18830907001", "+13236789001", FLOW)
    assert len(fake.requests) == 3
    assert sleeps == [1.0, 1.0]


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


@pytest.mark.parametrize(
    ("conn", "match"),
    [
        ({"login": "", "password": "k" * 12}, "Connection 'kaleyra_default' has no Account SID"),
        ({"login": SID, "password": ""}, "Connection 'kaleyra_default' has no API key"),
        ({"login": SID, "password": "k" * 12, "extra": {"region": "US"}}, "region='US' is not a Kaleyra region"),
        ({"login": SID, "password": "k" * 12, "extra": {"base_url": "api.x"}}, "base_url='api.x'"),
        ({"login": SID, "password": "k" * 12, "extra": {"timeout": "soon"}}, "timeout='soon'"),
    ],
)
def test_connection_problems_are_named(monkeypatch: pytest.MonkeyPatch, conn: dict, match: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps({"conn_type": "kaleyra", **conn}))
    with pytest.raises(KaleyraConnectionConfigError, match=match):
        _ = KaleyraHook().settings


@pytest.mark.parametrize(
    ("extra", "base"),
    [
        ({"region": "EU"}, "https://api.eu.kaleyra.io/"),
        ({"extra__kaleyra__region": "IN"}, "https://api.in.kaleyra.io/"),
        ({"region": "NA", "base_url": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080"),
        ({}, "https://api.ap.kaleyra.io/"),
    ],
)
def test_base_url_from_region_or_override(monkeypatch: pytest.MonkeyPatch, extra: dict, base: str) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_KALEYRA_DEFAULT",
        json.dumps({"conn_type": "kaleyra", "login": SID, "password": SECRET_KEY, "extra": extra}),
    )
    assert KaleyraHook().settings.base_url == base


def test_timeout_from_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", connection_json(timeout="12.5"))
    settings = KaleyraHook().settings
    assert settings.read_timeout == 12.5
    assert SECRET_KEY not in repr(settings)
