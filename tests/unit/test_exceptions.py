"""The one place an answer, or its absence, becomes an exception: refusal, transient, or unknown outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra._compat import AirflowFailException
from airflow_provider_kaleyra.exceptions import (
    KaleyraError,
    KaleyraInputError,
    KaleyraOutcomeUnknownError,
    KaleyraPermanentError,
    KaleyraTransientError,
    cause_chain,
    error_after_tries,
    error_for_reply,
    transport_failure,
)

BASE = "https://api.ap.kaleyra.io/"
SENT = "to=[+918830907001] bridge=+6531651234 flow=SG_f"


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> wire.Reply:
    raw = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    return wire.parse_reply(status, raw, headers)


def envelope(code: str, message: str = "m") -> dict[str, Any]:
    return {"code": code, "message": message, "data": [], "error": {}}


def after(
    answer: wire.Reply | None, *, idempotent: bool = False, nothing_sent: bool = False, error: Exception | None = None
) -> KaleyraError:
    return error_after_tries(
        nothing_sent,
        answer,
        error,
        action="trigger flow SG_f",
        idempotent=idempotent,
        base_url=BASE,
        tries=3,
        sent=SENT,
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "RBC3115"), (200, "RBC3115"), (401, "RBC001"), (402, "E110"), (400, "RBC3001")],
)
def test_a_post_refused_with_a_nothing_done_code_is_a_permanent_refusal(status: int, code: str) -> None:
    error = after(reply(status, envelope(code)))
    assert type(error) is KaleyraPermanentError
    assert (error.code, error.http_status, error.sent) == (code, status, SENT)
    assert str(error).startswith(f"Kaleyra refused to trigger flow SG_f: {code}")
    assert str(error).endswith(f"[sent: {SENT}]")


@pytest.mark.parametrize("body", [envelope("RBC3429"), None, "<html>slow down</html>"], ids=repr)
def test_a_post_answered_429_is_a_transient_refusal(body: object) -> None:
    error = after(reply(429, body, {"Retry-After": "7"}))
    assert type(error) is KaleyraTransientError
    assert error.retry_after == 7.0
    assert not isinstance(error, AirflowFailException)


@pytest.mark.parametrize(
    ("status", "body", "named"),
    [
        pytest.param(200, envelope("RBC3008", "Queued"), "RBC3008 'Queued'", id="200-unknown-code"),
        pytest.param(200, {"message": "ok"}, "no code 'ok'", id="200-no-code"),
        pytest.param(400, envelope("RBC9999"), "RBC9999", id="400-unknown-code"),
        pytest.param(
            503, "<html>down</html>", "HTTP 503 with a body that is not Kaleyra JSON: '<html>down</html>'", id="503"
        ),
        pytest.param(500, envelope("XYZ"), "XYZ", id="500-unknown-code"),
        pytest.param(200, "", "HTTP 200 with a body that is not Kaleyra JSON: ''", id="200-empty"),
        pytest.param(404, "<html>Not Found</html>", "HTTP 404", id="404-page"),
    ],
)
def test_a_post_answer_that_does_not_prove_nothing_was_done_is_an_unknown_outcome(
    status: int, body: object, named: str
) -> None:
    answer = reply(status, body)
    error = after(answer)
    assert isinstance(error, KaleyraOutcomeUnknownError)
    assert isinstance(error, AirflowFailException)  # never retried by Airflow
    assert named in str(error)
    assert "not sent again automatically" in str(error)
    assert (error.code, error.http_status) == (answer.code, status)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, "", KaleyraTransientError),
        (500, envelope("XYZ"), KaleyraTransientError),
        (200, envelope("RBC3008"), KaleyraPermanentError),  # unknown code: reported, never taken as success
        (401, envelope("RBC001"), KaleyraPermanentError),
    ],
)
def test_a_read_only_request_keeps_the_plain_classification(status: int, body: object, expected: type) -> None:
    error = after(reply(status, body), idempotent=True)
    assert type(error) is expected
    assert not isinstance(error, KaleyraOutcomeUnknownError)


def test_no_connection_is_transient_and_names_the_url_and_tries() -> None:
    error = after(None, nothing_sent=True, error=ConnectionRefusedError("refused"))
    assert type(error) is KaleyraTransientError
    assert str(error).startswith(
        f"Could not reach Kaleyra at {BASE} to trigger flow SG_f after 3 tries (ConnectionRefusedError: refused); "
        "check the connection's region or base_url and the network"
    )
    assert error.http_status is None


def test_no_answer_to_a_post_that_may_have_left_is_an_unknown_outcome() -> None:
    error = after(None, error=TimeoutError("read timed out"))
    assert isinstance(error, KaleyraOutcomeUnknownError)
    assert "may have been accepted" in str(error)
    assert "read timed out" in str(error)
    assert (error.code, error.http_status) == (None, None)


def test_no_answer_names_only_what_the_network_said() -> None:
    timed_out = TimeoutError("timed out")
    wrapper = OSError("HTTPConnectionPool(host='h', port=443): Read timed out. (read timeout=30)")
    wrapper.__cause__ = timed_out
    error = after(None, error=wrapper)
    assert str(error).startswith(
        "No answer from Kaleyra to the request to trigger flow SG_f (TimeoutError: timed out); it may have been "
        "accepted, so it is not sent again automatically (that could dial the same people twice)"
    )


def test_the_cause_chain_follows_causes_reasons_and_arguments_once_each() -> None:
    root = ConnectionRefusedError(111, "Connection refused")
    by_reason = RuntimeError("pool")
    by_reason.reason = root  # type: ignore[attr-defined]
    by_argument = ValueError(by_reason)
    top = LookupError("top")
    top.__context__ = by_argument
    root.__context__ = top  # a loop: each link is still visited once
    assert list(cause_chain(top)) == [top, by_argument, by_reason, root]
    assert transport_failure(top) == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert transport_failure(None) == "no answer"
    assert transport_failure(TimeoutError()) == "TimeoutError"


def test_no_answer_to_a_read_only_request_is_transient() -> None:
    assert type(after(None, idempotent=True, error=TimeoutError("t"))) is KaleyraTransientError


def test_error_for_reply_follows_the_disposition() -> None:
    assert type(error_for_reply(reply(503, ""), action="x")) is KaleyraTransientError
    assert type(error_for_reply(reply(400, envelope("RBC3115")), action="x")) is KaleyraPermanentError


def test_input_error_names_parameter_and_value() -> None:
    error = KaleyraInputError("to", "12", "not a phone number")
    assert (error.parameter, error.value, str(error)) == ("to", "12", "to='12': not a phone number")
    assert isinstance(error, ValueError)
    assert isinstance(error, AirflowFailException)
