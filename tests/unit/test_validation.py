from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from airflow_provider_kaleyra import validation, wire
from airflow_provider_kaleyra.exceptions import KaleyraInputError
from airflow_provider_kaleyra.validation import outbound_calls

GOOD = {"to": ["+918830907001"], "bridge": "+13236789001", "flow_id": "SG_flow-1"}


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
    "bad", ["918830907001", "+91883", "+0918830907001", "+9188309070011234", "call me", "+91883O907001"]
)
def test_non_e164_number_is_named(bad: str) -> None:
    with pytest.raises(KaleyraInputError, match=r"to='?.*not a phone number; expected E.164") as info:
        calls(to=["+918830907001", bad])
    assert info.value.parameter == "to"
    assert info.value.value == bad


def test_digits_only_accepted_with_prefix() -> None:
    result = calls(to="8830907001", prefix="+91")
    assert result[0].to == ("8830907001",)
    assert result[0].prefix == "+91"
    with pytest.raises(KaleyraInputError, match="prefix='x91'"):
        calls(to="8830907001", prefix="x91")


@pytest.mark.parametrize("empty", [[], "", " , ", None])
def test_empty_number_list(empty: object) -> None:
    with pytest.raises(KaleyraInputError, match="no phone number given"):
        calls(to=empty)


def test_duplicates_are_dropped_and_reported() -> None:
    result, callees = outbound_calls(**{**GOOD, "to": ["+918830907001", "+91 8830907001", "+918830907002"]})
    assert result[0].to == ("+918830907001", "+918830907002")
    assert callees.duplicates == ("+918830907001",)


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


def test_time_must_be_aware() -> None:
    with pytest.raises(KaleyraInputError, match=r"time=.*naive"):
        calls(time=dt.datetime(2026, 1, 1, 9, 0))
    aware = pendulum.datetime(2026, 1, 1, 9, 0, tz="Europe/Rome")
    assert calls(time=aware)[0].time == aware
    assert calls(time="2026-01-01 09:00:00")[0].time == "2026-01-01 09:00:00"


@pytest.mark.parametrize("name", ["retry", "timeout", "delay", "interval"])
@pytest.mark.parametrize("bad", [-1, "soon", 1.5, True])
def test_counts_are_whole_numbers(name: str, bad: object) -> None:
    with pytest.raises(KaleyraInputError, match=f"{name}="):
        calls(**{name: bad})


def test_counts_accept_strings_from_templates() -> None:
    assert calls(retry="2")[0].retry == 2


def test_dlrurl_must_be_http() -> None:
    with pytest.raises(KaleyraInputError, match="dlrurl='file:///etc'"):
        calls(dlrurl="file:///etc")


def test_custom_must_be_json() -> None:
    with pytest.raises(KaleyraInputError, match="custom="):
        calls(custom={"when": object()})


def test_region_check() -> None:
    assert validation.check_region("eu") == "EU"
    with pytest.raises(KaleyraInputError, match="region='US'"):
        validation.check_region("US")


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
