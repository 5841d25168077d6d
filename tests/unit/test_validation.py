from __future__ import annotations

import datetime as dt
import json

import pendulum
import pytest

from airflow_provider_kaleyra import call_logs, validation, wire
from airflow_provider_kaleyra.exceptions import KaleyraInputError
from airflow_provider_kaleyra.validation import outbound_calls

from .fakes import DEVANAGARI_ZERO, FULLWIDTH_ZERO, spelled

GOOD = {"to": ["+918830907001"], "bridge": "+13236789001", "flow_id": "SG_flow-1"}
#: +918830907301 with the digits after +91 in Devanagari, and all in fullwidth digits.
DEVANAGARI = "+91" + spelled("8830907301", DEVANAGARI_ZERO)
FULLWIDTH = spelled("+918830907301", FULLWIDTH_ZERO)


def calls(**overrides: object) -> list[wire.OutboundCall]:
    return outbound_calls(**{**GOOD, **overrides})[0]


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("+918830907001", ("+918830907001",)),
        ("+918830907001, +918830907002", ("+918830907001", "+918830907002")),
        (["+91 88309-07001", "+1 (323) 678-9001"], ("+918830907001", "+13236789001")),
        ("['+918830907001', '+918830907002']", ("+918830907001", "+918830907002")),
        ('["+918830907001"]', ("+918830907001",)),
        ("+918830907001,", ("+918830907001",)),
    ],
)
def test_numbers_in_every_spelling(to: object, expected: tuple[str, ...]) -> None:
    assert validation.parse_numbers(to).numbers == expected


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("918830907001", "give prefix for national numbers"),
        ("+91883", "not E.164"),
        ("+0918830907001", "not E.164"),
        ("+9188309070011234", "not E.164"),
        ("call me", "not E.164"),
        ("+91883O907001", "not E.164"),
    ],
)
def test_non_e164_number_is_named(bad: str, problem: str) -> None:
    with pytest.raises(KaleyraInputError) as info:
        calls(to=["+918830907001", bad])
    assert info.value.parameter == "to"
    assert info.value.value == bad
    assert str(info.value).startswith(f"to={bad!r}: not a phone number: ")
    assert problem in str(info.value)


def test_national_numbers_get_the_prefix_and_go_out_whole() -> None:
    result, callees = outbound_calls(**{**GOOD, "to": "8830907001, +13236789002", "prefix": "+91"})
    assert result[0].to == ("+918830907001", "+13236789002")
    assert callees.country_code == "91"
    with pytest.raises(KaleyraInputError, match="prefix='x91'"):
        calls(to="8830907001", prefix="x91")


def test_without_prefix_there_is_no_country_code() -> None:
    assert validation.parse_numbers("+918830907001").country_code is None


@pytest.mark.parametrize("empty", [[], "", " , ", None])
def test_empty_number_list(empty: object) -> None:
    with pytest.raises(KaleyraInputError, match="no phone number given"):
        calls(to=empty)


def test_duplicates_are_dropped_and_reported() -> None:
    result, callees = outbound_calls(**{**GOOD, "to": ["+918830907001", "+91 8830907001", "+918830907002"]})
    assert result[0].to == ("+918830907001", "+918830907002")
    assert callees.duplicates == ("+91 8830907001 (+918830907001)",)


def test_duplicates_are_found_across_spellings_with_and_without_prefix() -> None:
    callees = validation.parse_numbers(
        ["8830907001", "+918830907001", "+91 (883) 090-7001", "883.090.7001", "+918830907001"], prefix="+91"
    )
    assert callees.numbers == ("+918830907001",)
    assert callees.duplicates == (
        "+918830907001",
        "+91 (883) 090-7001 (+918830907001)",
        "883.090.7001 (+918830907001)",
        "+918830907001",
    )


@pytest.mark.parametrize(
    ("flow_id", "problem"),
    [
        ("", "a Flow ID from Flow Builder is required"),
        (None, "a Flow ID from Flow Builder is required"),
        (["a", "b"], "exactly one flow"),
        ("a,b", "exactly one flow"),
        ("a b", "no spaces"),
    ],
)
def test_flow_id_problems_are_named(flow_id: object, problem: str) -> None:
    with pytest.raises(KaleyraInputError, match=f"flow_id=.*{problem}"):
        calls(flow_id=flow_id)


def test_a_single_flow_in_a_list_is_fine() -> None:
    assert calls(flow_id=["SG_x"])[0].flow_id == "SG_x"


def test_integer_bridge_is_country_code_and_number() -> None:
    # The seed types the bridge as an Integer; native rendering does the same to "+1...".
    assert calls(bridge=13236789001)[0].bridge == "+13236789001"


@pytest.mark.parametrize("bad", ["", "13236789001", "+1323", None, 1323, True, 1.5])
def test_bridge_not_e164_is_named(bad: object) -> None:
    with pytest.raises(KaleyraInputError, match="bridge="):
        calls(bridge=bad)


def test_callback_valid_is_normalised() -> None:
    result = calls(callback={"CALL_END": {"url": "https://x.example/end", "callback_profile": ["p1"]}})
    assert result[0].callback == {"call_end": {"url": ["https://x.example/end"], "callback_profile": ["p1"]}}


@pytest.mark.parametrize(
    ("callback", "match"),
    [
        ({"call_hangup": {"url": ["https://x.example"]}}, "callback='call_hangup': unknown event"),
        ({"call_end": {"webhook": ["https://x.example"]}}, "unknown key"),
        ({"call_end": {"url": ["ftp://x"]}}, "http\\(s\\) URL"),
        ({"call_end": {"callback_profile": [f"p{i}" for i in range(11)]}}, "11 profile ids and URLs"),
        ("{not json", "not JSON"),
        ({"call_end": "https://x.example"}, "a mapping of url/callback_profile"),
    ],
)
def test_callback_problems_are_named(callback: object, match: str) -> None:
    with pytest.raises(KaleyraInputError, match=match):
        calls(callback=callback)


def test_callback_limit_counts_all_events() -> None:
    ok = {
        "call_start": {"url": [f"https://x.example/{i}" for i in range(5)]},
        "call_end": {"callback_profile": [f"p{i}" for i in range(5)]},
    }
    assert calls(callback=ok)[0].callback is not None
    too_many = {**ok, "call_answer": {"url": ["https://x.example/more"]}}
    with pytest.raises(KaleyraInputError, match="11 profile ids"):
        calls(callback=too_many)


def test_time_must_be_aware_and_goes_out_as_utc() -> None:
    with pytest.raises(KaleyraInputError, match=r"time=datetime.datetime\(2030, 1, 1, 9, 0\): has no timezone"):
        calls(time=dt.datetime(2030, 1, 1, 9, 0))
    aware = pendulum.datetime(2030, 1, 1, 9, 0, tz="Europe/Rome")
    [call] = calls(time=aware)
    assert call.time == aware
    assert call.time is not None
    assert call.time.utcoffset() == dt.timedelta(0)
    assert wire.encode_outbound_form(call)["time"] == "2030-01-01T08:00:00+00:00"


@pytest.mark.parametrize(
    "text", ["2030-01-01T09:00:00+01:00", "2030-01-01T08:00:00Z", "2030-01-01 13:30:00+05:30", " 2030-01-01T08:00:00Z "]
)
def test_a_time_string_with_an_offset_is_parsed_to_a_datetime(text: str) -> None:
    [call] = calls(time=text)
    assert call.time == dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.timezone.utc)
    assert wire.encode_outbound_form(call)["time"] == "2030-01-01T08:00:00+00:00"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2030-01-01", "a date and time is needed"),
        ("P1D", "a date and time is needed"),
        ("2030-01-01 09:00:00", "has no timezone"),
        ("2030-13-01T09:00:00Z", "not an ISO 8601 date and time"),
    ],
)
def test_a_time_string_that_is_not_a_moment_is_refused(text: str, problem: str) -> None:
    with pytest.raises(KaleyraInputError, match=f"time={text!r}: {problem}"):
        calls(time=text)


def test_the_present_is_not_the_past() -> None:
    now = dt.datetime(2030, 1, 1, 8, 0, 0, 500_000, tzinfo=dt.timezone.utc)
    assert validation.check_time("2030-01-01T08:00:00Z", now=now) == now.replace(microsecond=0)
    with pytest.raises(KaleyraInputError, match="is in the past"):
        validation.check_time("2030-01-01T07:59:59Z", now=now)


@pytest.mark.parametrize("name", ["retry", "timeout", "delay", "interval"])
@pytest.mark.parametrize("bad", [-1, "soon", 1.5, True])
def test_counts_are_whole_numbers(name: str, bad: object) -> None:
    with pytest.raises(KaleyraInputError, match=f"{name}="):
        calls(**{name: bad})


def test_counts_accept_strings_from_templates() -> None:
    assert calls(retry="2")[0].retry == 2


@pytest.mark.parametrize(
    "url", ["file:///etc", "https://", "https:///path", "http:// spaced.example", "hooks.example/dlr"]
)
def test_dlrurl_must_be_an_http_url_with_a_host(url: str) -> None:
    with pytest.raises(KaleyraInputError, match=f"dlrurl={url!r}: an http\\(s\\) URL with a host"):
        calls(dlrurl=url)


@pytest.mark.parametrize("url", ["https://hooks.example/dlr?id={id}", "http://127.0.0.1:8080/x", " https://h.example "])
def test_dlrurl_accepts_http_urls_with_placeholders(url: str) -> None:
    assert calls(dlrurl=url)[0].dlrurl == url.strip()


@pytest.mark.parametrize("custom", [{"when": object()}, {"nested": {"set": {1, 2}}}], ids=["object", "set"])
def test_custom_must_be_json(custom: dict) -> None:
    with pytest.raises(KaleyraInputError, match=r"custom=.*must be JSON-serialisable") as info:
        calls(custom=custom)
    assert info.value.parameter == "custom"


@pytest.mark.parametrize("custom", ["order 42", {"order": 42, "items": ["a"]}])
def test_custom_string_or_mapping_is_kept(custom: object) -> None:
    assert calls(custom=custom)[0].custom == custom


def test_custom_of_another_type_is_refused() -> None:
    with pytest.raises(KaleyraInputError, match=r"custom=\[1\]: a string or a JSON-serialisable mapping"):
        calls(custom=[1])


def test_more_than_100_numbers_split_in_order() -> None:
    numbers = [f"+9188309{i:05d}" for i in range(250)]
    result = calls(to=numbers)
    assert [len(c.to) for c in result] == [100, 100, 50]
    assert [n for c in result for n in c.to] == numbers
    assert {c.flow_id for c in result} == {"SG_flow-1"}


def test_invalid_numbers_fail_by_default_and_are_skipped_on_request() -> None:
    from airflow_provider_kaleyra.validation import parse_numbers

    with pytest.raises(KaleyraInputError, match="to='12345': not a phone number"):
        parse_numbers(["+918830907001", "12345"])
    skipped = parse_numbers(["+918830907001", "12345", 7.5, "+918830907002"], on_invalid_number="skip")
    assert skipped.numbers == ("+918830907001", "+918830907002")
    assert skipped.invalid == ("12345", "7.5")
    with pytest.raises(KaleyraInputError, match=r"no valid phone number given \(1 skipped as invalid\)"):
        parse_numbers(["12345"], on_invalid_number="skip")
    with pytest.raises(KaleyraInputError, match="on_invalid_number='ignore'"):
        parse_numbers(["+918830907001"], on_invalid_number="ignore")


@pytest.mark.parametrize("value", [0, 11, "2", True, None])
def test_max_active_requests_is_a_small_whole_number(value: object) -> None:
    from airflow_provider_kaleyra.validation import check_max_active_requests

    with pytest.raises(KaleyraInputError, match="max_active_requests="):
        check_max_active_requests(value)
    assert check_max_active_requests(10) == 10


# --------------------------------------------------------------------------- a refusal names parameter and value


@pytest.mark.parametrize(
    ("overrides", "parameter", "value"),
    [
        pytest.param({"to": DEVANAGARI}, "to", DEVANAGARI, id="devanagari-digits"),
        pytest.param({"to": FULLWIDTH}, "to", FULLWIDTH, id="fullwidth-digits"),
        pytest.param({"to": DEVANAGARI[3:], "prefix": "+91"}, "to", DEVANAGARI[3:], id="devanagari-national"),
        pytest.param({"to": "1234", "prefix": "+91"}, "to", "1234", id="too-short-with-prefix"),
        pytest.param({"to": "08830907001", "prefix": "+91"}, "to", "08830907001", id="trunk-zero"),
        pytest.param({"time": "2026-11-29T10:00:00"}, "time", "2026-11-29T10:00:00", id="naive-time"),
        pytest.param({"time": "tomorrow morning"}, "time", "tomorrow morning", id="words-for-time"),
        pytest.param({"time": "2020-01-01T10:00:00+05:30"}, "time", "2020-01-01T10:00:00+05:30", id="past-time"),
        pytest.param({"time": 1893456000}, "time", 1893456000, id="epoch-time"),
        pytest.param(
            {"callback": {"call_end": {"url": [""]}}}, "callback['call_end']['url']", "", id="empty-callback-url"
        ),
        pytest.param(
            {"callback": {"call_end": {"url": ["https://"]}}},
            "callback['call_end']['url']",
            "https://",
            id="callback-url-without-host",
        ),
        pytest.param({"dlrurl": "file:///etc"}, "dlrurl", "file:///etc", id="dlrurl-not-http"),
        pytest.param({"timeout": float("inf")}, "timeout", float("inf"), id="infinite-timeout"),
        pytest.param({"retry": float("-inf")}, "retry", float("-inf"), id="minus-infinite-retry"),
        pytest.param({"delay": "inf"}, "delay", "inf", id="infinite-delay-string"),
        pytest.param({"custom": {1: "x"}}, "custom", {1: "x"}, id="non-string-key"),
        pytest.param({"custom": {None: "x"}}, "custom", {None: "x"}, id="none-key"),
        pytest.param({"custom": {"when": dt.date(2030, 1, 1)}}, "custom", {"when": dt.date(2030, 1, 1)}, id="date"),
    ],
)
def test_a_refusal_names_the_parameter_and_the_value(overrides: dict, parameter: str, value: object) -> None:
    with pytest.raises(KaleyraInputError) as info:
        calls(**overrides)
    assert info.value.parameter == parameter
    assert info.value.value == value
    assert str(info.value).startswith(f"{parameter}={value!r}: ")


@pytest.mark.parametrize("name", ["retry", "timeout", "delay", "interval"])
def test_a_nan_count_is_refused(name: str) -> None:
    with pytest.raises(KaleyraInputError, match=f"{name}=nan: must be a whole number") as info:
        calls(**{name: float("nan")})
    assert info.value.parameter == name


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_custom_that_json_cannot_carry_is_refused(value: float) -> None:
    with pytest.raises(KaleyraInputError, match=r"custom=.*must be JSON-serialisable") as info:
        calls(custom={"ratio": value})
    assert info.value.parameter == "custom"


# --------------------------------------------------------------------------- waiting


@pytest.mark.parametrize("value", [5, 0.5, 2.5, dt.timedelta(minutes=1)])
def test_seconds_accept_positive_numbers_and_timedeltas(value: object) -> None:
    expected = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)  # type: ignore[arg-type]
    assert validation.check_seconds("poll_interval", value) == expected


@pytest.mark.parametrize(
    "value", [0, -1, float("inf"), float("nan"), float("-inf"), True, "30", None, dt.timedelta(0)], ids=repr
)
def test_seconds_refuse_anything_but_a_positive_finite_number(value: object) -> None:
    with pytest.raises(KaleyraInputError, match=r"wait_timeout=.*a positive, finite number of seconds") as info:
        validation.check_seconds("wait_timeout", value)
    assert info.value.parameter == "wait_timeout"


def test_explicit_watch_is_validated() -> None:
    w = validation.call_watch(numbers="+918830907001", start_time="2026-01-01T10:00:00Z", bridge="+6531651234")
    assert w.start_time == "2026-01-01T10:00:00+00:00"
    assert (w.numbers, w.bridge, w.country_code) == (("+918830907001",), "+6531651234", None)
    with pytest.raises(KaleyraInputError, match="start_time"):
        validation.call_watch(numbers="+918830907001")
    with pytest.raises(KaleyraInputError, match="start_time='2026-01-01T10:00:00': has no timezone"):
        validation.call_watch(numbers="+918830907001", start_time="2026-01-01T10:00:00")
    with pytest.raises(KaleyraInputError, match="numbers='12'"):
        validation.call_watch(numbers="12", start_time="2026-01-01T10:00:00Z")
    with pytest.raises(KaleyraInputError, match="record='not json'"):
        validation.call_watch(record="not json")


def test_explicit_watch_applies_the_prefix_and_keeps_its_country_code() -> None:
    w = validation.call_watch(numbers="8830907001, +918830907002", prefix="+91", start_time="2026-01-01T10:00:00Z")
    assert w.numbers == ("+918830907001", "+918830907002")
    assert w.country_code == "91"
    assert w.belongs(call_logs.CallRecord("8830907001", "ANSWER"))


def test_a_record_is_watched_as_the_operator_wrote_it() -> None:
    record = {
        "numbers": ["+918830907001"],
        "bridge": "+6531651234",
        "flow_id": "SG_f",
        "submitted_at": "2026-01-01T10:00:00+00:00",
        "correlation_token": "af-1",
        "country_code": "91",
    }
    w = validation.call_watch(record=json.dumps(record))
    assert w == validation.call_watch(record=record)
    assert (w.numbers, w.country_code, w.correlation_token) == (("+918830907001",), "91", "af-1")
    with pytest.raises(KaleyraInputError, match=r"record\.submitted_at"):
        validation.call_watch(record={**record, "submitted_at": "2026-01-01T10:00:00"})
