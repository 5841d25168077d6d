from __future__ import annotations

import dataclasses
import datetime as dt
import json
from urllib.parse import urlencode

import pendulum
import pytest

from airflow_provider_kaleyra import wire

FLOW = "SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb"


def call(**overrides: object) -> wire.OutboundCall:
    fields: dict = {"to": ("+18830907001",), "bridge": "+13236789001", "flow_id": FLOW}
    fields.update(overrides)
    return wire.OutboundCall(**fields)


@pytest.mark.parametrize(
    ("region", "url"),
    [
        ("SG", "https://api.ap.kaleyra.io/v1/HXIN1/voice/outbound"),
        ("in", "https://api.in.kaleyra.io/v1/HXIN1/voice/outbound"),
        ("EU", "https://api.eu.kaleyra.io/v1/HXIN1/voice/outbound"),
        ("NA", "https://api.na.kaleyra.ai/v1/HXIN1/voice/outbound"),
    ],
)
def test_outbound_url_per_region(region: str, url: str) -> None:
    assert wire.outbound_url(wire.base_url_for(region), "HXIN1") == url


def test_unknown_region_is_named() -> None:
    with pytest.raises(ValueError, match="region: unknown Kaleyra region 'US'"):
        wire.base_url_for("US")


def test_base_url_override_without_trailing_slash() -> None:
    assert wire.subscriptions_url("http://127.0.0.1:9", "S") == "http://127.0.0.1:9/v1/S/number/subscriptions"


@pytest.mark.parametrize("base", ["https://h.example", "https://h.example/", "https://h.example//"])
def test_api_url_joins_with_one_slash(base: str) -> None:
    assert wire.api_url(base, "v1/S/voice/outbound") == "https://h.example/v1/S/voice/outbound"


def test_form_has_the_seed_fields_in_order_and_target_in_array_form() -> None:
    form = wire.encode_outbound_form(call(to=("+18830907001", "+18830907002")))
    assert list(form) == ["to", "bridge", "target"]
    assert form["to"] == "+18830907001,+18830907002"
    assert json.loads(form["target"]) == [{"ivr": [FLOW]}]


def test_optional_fields_are_encoded_only_when_given() -> None:
    form = wire.encode_outbound_form(
        call(
            retry=2,
            timeout=30,
            delay=0,
            interval=60,
            dlrurl="https://x.example/{id}/{status}",
            callback={"call_end": {"url": ["https://x.example/end"]}},
            time=pendulum.datetime(2026, 12, 1, 15, 30, tz="Asia/Kolkata"),
        )
    )
    assert (form["retry"], form["timeout"], form["delay"], form["interval"]) == ("2", "30", "0", "60")
    assert form["time"] == "2026-12-01T10:00:00+00:00"
    assert json.loads(form["callback"]) == {"call_end": {"url": ["https://x.example/end"]}}
    assert "custom" not in form
    assert "prefix" not in form


def test_numbers_go_out_whole_and_the_form_never_carries_prefix() -> None:
    assert "prefix" not in {f.name for f in dataclasses.fields(wire.OutboundCall)}
    with pytest.raises(TypeError):
        wire.OutboundCall(to=("8830907001",), bridge="+13236789001", flow_id=FLOW, prefix="+91")  # type: ignore[call-arg]
    form = wire.encode_outbound_form(call(to=("+918830907001", "+13236789001")))
    assert form["to"] == "+918830907001,+13236789001"
    assert set(form) == {"to", "bridge", "target"}


def test_time_is_sent_in_utc_seconds_whatever_the_zone() -> None:
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    form = wire.encode_outbound_form(call(time=dt.datetime(2026, 12, 1, 15, 30, 5, 123456, tzinfo=ist)))
    assert form["time"] == "2026-12-01T10:00:05+00:00"


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match=r"time: .* has no timezone"):
        wire.format_time(dt.datetime(2026, 1, 1, 12, 0))


def test_custom_carries_text_and_correlation_token() -> None:
    assert json.loads(wire.encode_custom("hello", "af-1")) == {"text": "hello", wire.CORRELATION_KEY: "af-1"}
    assert json.loads(wire.encode_custom({"order": 7}, None)) == {"order": 7}
    assert wire.encode_custom(None, None) is None


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_custom_is_strict_json(value: float) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        wire.encode_custom({"ratio": value}, "af-1")


@pytest.mark.parametrize(
    "target",
    [
        FLOW,
        json.dumps([{"ivr": [FLOW]}]),
        json.dumps({"ivr": [FLOW]}),
        f'[ {{"ivr":[{FLOW}]}} ]',  # the seed's parameter table: the id unquoted
    ],
)
def test_decode_target_reads_every_spelling_of_the_seed(target: str) -> None:
    assert wire.decode_target(target) == [FLOW]


def test_correlation_token_is_stable_and_distinct() -> None:
    assert wire.correlation_token("d", "r", "t", -1) == wire.correlation_token("d", "r", "t", -1)
    assert wire.correlation_token("d", "r", "t", 0) != wire.correlation_token("d", "r", "t", 1)


def test_seed_success_reply_is_ok() -> None:
    body = {
        "code": "RBC3007",
        "message": "Submitted Successfully",
        "data": {"to": "+18830907XXX", "target": [{"ivr": [FLOW]}], "bridge": "+13236789XXX"},
        "error": {},
    }
    reply = wire.parse_reply(200, json.dumps(body).encode())
    assert reply.ok
    assert (reply.code, reply.message) == ("RBC3007", "Submitted Successfully")
    assert wire.call_ids(reply.data) == []


def test_call_ids_are_read_when_present() -> None:
    assert wire.call_ids({"id": "c-1"}) == ["c-1"]
    assert wire.call_ids([{"call_id": "c-2"}, {"x": 1}]) == ["c-2"]


def test_seed_failure_reply_is_permanent_and_explained() -> None:
    body = {
        "code": "RBC3115",
        "message": "IVR not found",
        "data": [{"to": "+1", "target": [{"ivr": [FLOW]}], "bridge": "+1"}],
        "error": {"scalar": "IVR not found"},
    }
    reply = wire.parse_reply(400, json.dumps(body))
    assert reply.disposition is wire.Disposition.PERMANENT
    assert "RBC3115" in reply.explain()
    assert "not published" in reply.explain()


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (200, "RBC3007", wire.Disposition.OK),
        (200, "RBC3115", wire.Disposition.PERMANENT),  # a 200 is not success by itself
        (200, "RBC9999", wire.Disposition.PERMANENT),  # unknown code: never success
        (200, None, wire.Disposition.PERMANENT),
        (401, "RBC001", wire.Disposition.PERMANENT),
        (503, None, wire.Disposition.TRANSIENT),
        (500, "XYZ", wire.Disposition.TRANSIENT),
        (429, None, wire.Disposition.TRANSIENT),
        (404, None, wire.Disposition.PERMANENT),
        (500, "RBC3115", wire.Disposition.PERMANENT),  # the code wins over the status
    ],
)
def test_classify_code_first_then_status(status: int, code: str | None, expected: wire.Disposition) -> None:
    assert wire.classify(status, code) is expected


@pytest.mark.parametrize(
    "body", [b"", b"<html><body>Bad Gateway</body></html>", b"[1, 2]", b"{\"a\": 1}", b"null", b"\"text\""]
)
def test_body_that_is_not_kaleyra_json_keeps_status_and_start_of_body(body: bytes) -> None:
    reply = wire.parse_reply(502, body)
    assert reply.code is None
    assert reply.disposition is wire.Disposition.TRANSIENT
    assert "HTTP 502" in reply.explain()
    assert body.decode()[:20] in reply.explain()


def test_long_body_is_cut() -> None:
    reply = wire.parse_reply(500, "x" * 5000)
    assert reply.body_excerpt is not None
    assert len(reply.body_excerpt) == wire.BODY_EXCERPT_CHARS


def test_retry_after_seconds_and_http_date() -> None:
    assert wire.parse_retry_after("7") == 7.0
    now = dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=dt.timezone.utc)
    assert wire.parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert wire.parse_retry_after("soon") is None
    assert wire.parse_reply(429, b"", {"Retry-After": "3"}).retry_after == 3.0


def test_error_detail_flattens_objects_and_lists() -> None:
    assert wire.error_detail({"to": "invalid"}) == "to: invalid"
    assert wire.error_detail([{"to": "invalid"}, "x"]) == "to: invalid; x"


def test_redacted_summary_counts_numbers_and_never_has_headers() -> None:
    form = wire.encode_outbound_form(call(to=tuple(f"+1883090{i:04d}" for i in range(5))))
    summary = wire.redacted_summary(form)
    assert "and 2 more" in summary
    assert FLOW in summary


def test_subscriptions_summary_is_tolerant() -> None:
    data = [{"number": "+1", "capabilities": ["voice_out"], "number_status": "Active"}, {"other": 1}]
    assert wire.subscriptions_summary(data) == [
        {"number": "+1", "status": "Active", "capabilities": ["voice_out"]}
    ]
    assert wire.subscriptions_summary({"number": "+2", "capabilities": "sms"})[0]["capabilities"] == ["sms"]
    assert wire.subscriptions_summary(None) == []


def test_form_round_trips_through_urlencoding() -> None:
    form = wire.encode_outbound_form(call(custom="a&b=c", correlation_token="af-x"))
    from urllib.parse import parse_qs

    decoded = {k: v[0] for k, v in parse_qs(urlencode(form)).items()}
    assert json.loads(decoded["custom"]) == {"text": "a&b=c", wire.CORRELATION_KEY: "af-x"}


@pytest.mark.parametrize(
    "envelope",
    [
        {"code": "RBC3200"},
        {"message": "Call logs fetched"},
        {"data": []},
        {"error": {"to": "invalid"}},
        {"code": None, "message": None, "data": None, "error": None},
    ],
    ids=repr,
)
def test_any_object_with_an_envelope_field_is_an_envelope(envelope: dict) -> None:
    reply = wire.parse_reply(200, json.dumps(envelope))
    assert reply.body_excerpt is None
    assert reply.code == envelope.get("code")
    assert reply.error == envelope.get("error")


def test_a_numeric_code_is_read_as_text() -> None:
    assert wire.parse_reply(200, b'{"code": 3007, "message": "x"}').code == "3007"


# --------------------------------------------------------------------------- did Kaleyra do nothing?


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        ("RBC3115", 400),
        ("RBC001", 401),
        ("E110", 402),
        ("RBC3001", 400),
        ("RBC3429", 429),
        ("RBC3115", 200),  # the code proves it, whatever the status
        (None, 429),  # a 429 without a code: rate limiting acts before the request does
        ("RBC3008", 429),
    ],
)
def test_answers_that_prove_nothing_was_done(code: str | None, http_status: int) -> None:
    assert wire.nothing_done(code, http_status)


@pytest.mark.parametrize(
    ("code", "http_status"),
    [
        ("RBC3007", 200),  # accepted: certainly something was done
        ("RBC3008", 200),  # a code this provider does not know
        ("CLE402", 200),
        (None, 200),
        (None, 500),
        (None, 502),
        (None, 503),
        (None, 400),  # a proxy's 400 page says nothing about Kaleyra
        (None, None),
        ("", 404),
    ],
)
def test_answers_that_do_not_prove_nothing_was_done(code: str | None, http_status: int | None) -> None:
    assert not wire.nothing_done(code, http_status)


def test_nothing_done_codes_are_the_refusals_the_provider_knows() -> None:
    assert frozenset({"RBC3115", "RBC001", "E110", "RBC3001", "RBC3429"}) == wire.NOTHING_DONE_CODES
    assert all(wire.KNOWN_CODES[c].disposition is not wire.Disposition.OK for c in wire.NOTHING_DONE_CODES)


# --------------------------------------------------------------------------- the correlation token on URLs


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
    form = wire.encode_outbound_form(
        call(
            dlrurl="https://h/dlr?s={status}",
            callback={"call_end": {"url": ["https://h/end"], "callback_profile": ["p1"]}},
            correlation_token="af-1",
        )
    )
    assert form["dlrurl"] == "https://h/dlr?s={status}&airflow_correlation_token=af-1"
    assert json.loads(form["callback"]) == {
        "call_end": {"url": ["https://h/end?airflow_correlation_token=af-1"], "callback_profile": ["p1"]}
    }


def test_without_a_token_urls_are_sent_unchanged() -> None:
    assert wire.encode_outbound_form(call(dlrurl="https://h/dlr"))["dlrurl"] == "https://h/dlr"


def test_an_explained_answer_says_kaleyras_words_once_without_the_scalar_key() -> None:
    words = "Incorrect SID or API Key"
    body = {"code": "RBC001", "message": words, "data": [], "error": {"scalar": words}}
    # Before: "RBC001 'Incorrect SID or API Key' (HTTP 401; incorrect SID or API key): scalar: Incorrect SID or API Key"
    assert wire.parse_reply(401, json.dumps(body)).explain() == "RBC001 'Incorrect SID or API Key' (HTTP 401)"
    other = {**body, "message": "Unauthorized", "error": {"scalar": "key revoked"}}
    assert wire.parse_reply(401, json.dumps(other)).explain() == (
        "RBC001 'Unauthorized' (HTTP 401; incorrect SID or API key): key revoked"
    )
    fields = {**body, "message": "Invalid", "error": {"to": "not a number"}}
    assert wire.parse_reply(400, json.dumps(fields)).explain().endswith(": to: not a number")
