"""Checks on what a DAG author passes, done before anything is sent.

Each failure raises :class:`KaleyraInputError` naming the parameter and the bad
value, so a typo never turns into a phone call. The limits come from ``wire``.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.exceptions import KaleyraInputError

#: E.164: a plus and 8 to 15 digits, not starting with 0.
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
#: With ``prefix`` Kaleyra adds the country code, so bare digits are accepted.
LOCAL_NUMBER = re.compile(r"^\d{4,15}$")
PREFIX = re.compile(r"^\+?[1-9]\d{0,3}$")
#: Separators people type inside numbers; removed before checking.
NUMBER_PUNCTUATION = re.compile(r"[\s\-().]")


def _as_list(parameter: str, value: Any) -> list[Any]:
    """A list from a list, a comma-separated string or a rendered list literal.

    Templated values arrive as strings (``"['+1...', '+1...']"``) unless the DAG
    renders native objects, so both spellings are accepted.
    """
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                try:
                    parsed = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise KaleyraInputError(parameter, value, "looks like a list but cannot be read") from None
            return _as_list(parameter, parsed)
        return [part for part in text.split(",")]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return list(value)
    return [value]


@dataclass(frozen=True)
class Numbers:
    """The callees, cleaned, in the caller's order, each once."""

    numbers: tuple[str, ...]
    #: Numbers given more than once; dialled once, reported to the user.
    duplicates: tuple[str, ...]
    #: Entries that are not phone numbers, left out with ``on_invalid_number="skip"``.
    invalid: tuple[str, ...] = ()


#: What to do with an entry of ``to`` that is not a phone number.
ON_INVALID_NUMBER = ("fail", "skip")


def check_on_invalid_number(value: Any) -> str:
    if value not in ON_INVALID_NUMBER:
        raise KaleyraInputError("on_invalid_number", value, f"expected one of {', '.join(ON_INVALID_NUMBER)}")
    return str(value)


#: More parallel POSTs than this would only earn 429s (and exceed requests' connection pool).
MAX_ACTIVE_REQUESTS = 10


def check_max_active_requests(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ACTIVE_REQUESTS:
        raise KaleyraInputError(
            "max_active_requests", value, f"a whole number from 1 to {MAX_ACTIVE_REQUESTS}"
        )
    return value


def parse_numbers(
    to: Any, *, prefix: str | None = None, parameter: str = "to", on_invalid_number: str = "fail"
) -> Numbers:
    """Clean, check and de-duplicate the callees.

    :param on_invalid_number: ``"fail"`` raises on the first entry that is not a phone
        number; ``"skip"`` leaves such entries out and lists them in ``Numbers.invalid``.
    """
    skip = check_on_invalid_number(on_invalid_number) == "skip"
    invalid: list[str] = []
    raw = _as_list(parameter, to)
    cleaned: list[str] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    pattern = LOCAL_NUMBER if prefix else E164
    expected = "digits only (prefix is given)" if prefix else "E.164: '+' and 8 to 15 digits"
    for item in raw:
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            if skip:
                invalid.append(repr(item))
                continue
            raise KaleyraInputError(parameter, item, "each number must be a string")
        number = NUMBER_PUNCTUATION.sub("", str(item))
        if not number and not str(item).strip():
            continue  # "a,,b" or a trailing comma
        if prefix and number.startswith("+") and E164.match(number):
            pass  # a full international number is fine even with a prefix
        elif not pattern.match(number):
            if skip:
                invalid.append(str(item))
                continue
            raise KaleyraInputError(parameter, item, f"not a phone number; expected {expected}")
        if number in seen:
            duplicates.append(number)
            continue
        seen.add(number)
        cleaned.append(number)
    if not cleaned:
        problem = "no phone number given"
        if invalid:
            problem = f"no valid phone number given ({len(invalid)} skipped as invalid)"
        raise KaleyraInputError(parameter, to, problem)
    return Numbers(tuple(cleaned), tuple(duplicates), tuple(invalid))


def check_bridge(value: Any) -> str:
    # The seed types the bridge as an Integer (country code and number), and a DAG
    # rendering native objects turns "+6531651234" into 6531651234: both mean "+".
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        value = f"+{value}"
    if not isinstance(value, str) or not value.strip():
        raise KaleyraInputError("bridge", value, "the DID to call from is required, as a string in E.164")
    number = NUMBER_PUNCTUATION.sub("", value)
    if not E164.match(number):
        raise KaleyraInputError("bridge", value, "not E.164: '+', country code and number")
    return number


def check_flow_id(value: Any) -> str:
    items = [str(v).strip() for v in _as_list("flow_id", value)]
    items = [v for v in items if v]
    if not items:
        raise KaleyraInputError("flow_id", value, "a Flow ID from Flow Builder is required")
    if len(items) > 1:
        raise KaleyraInputError("flow_id", value, "Kaleyra runs exactly one flow per request")
    if any(ch.isspace() for ch in items[0]):
        raise KaleyraInputError("flow_id", value, "a Flow ID has no spaces")
    return items[0]


def check_prefix(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not PREFIX.match(text):
        raise KaleyraInputError("prefix", value, "a country code such as '+91' or '1'")
    return text


def check_count(parameter: str, value: Any) -> int | None:
    """Optional non-negative whole numbers: ``retry``, ``timeout``, ``delay``, ``interval``."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise KaleyraInputError(parameter, value, "must be a whole number") from None
    if isinstance(value, bool) or number < 0 or number != float(value):
        raise KaleyraInputError(parameter, value, "must be a whole number, 0 or more")
    return number


def check_time(value: Any) -> dt.datetime | str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise KaleyraInputError("time", value, "a naive datetime is ambiguous; give it a timezone")
        return value
    if isinstance(value, str):
        return value.strip()
    raise KaleyraInputError("time", value, "a timezone-aware datetime or a string")


def check_url(parameter: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.match(r"^https?://\S+$", value.strip()):
        raise KaleyraInputError(parameter, value, "an http(s) URL")
    return value.strip()


def check_custom(value: Any) -> str | Mapping[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise KaleyraInputError("custom", value, "a mapping must be JSON-serialisable") from None
        return dict(value)
    if isinstance(value, str):
        return value
    raise KaleyraInputError("custom", value, "a string or a JSON-serialisable mapping")


def check_callback(value: Any) -> dict[str, dict[str, list[str]]] | None:
    """The ``callback`` object: events to profile ids and/or URLs, 10 in all at most."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise KaleyraInputError("callback", value, "not JSON") from None
    if not isinstance(value, Mapping):
        raise KaleyraInputError("callback", value, "a mapping of event to destinations")
    result: dict[str, dict[str, list[str]]] = {}
    total = 0
    for event, destinations in value.items():
        key = str(event).lower()
        if key not in wire.CALLBACK_EVENTS:
            raise KaleyraInputError(
                "callback", event, f"unknown event; expected one of {', '.join(wire.CALLBACK_EVENTS)}"
            )
        if not isinstance(destinations, Mapping):
            raise KaleyraInputError(f"callback[{event!r}]", destinations, "a mapping of url/callback_profile")
        entry: dict[str, list[str]] = {}
        for kind, items in destinations.items():
            if kind not in wire.CALLBACK_DESTINATION_KEYS:
                raise KaleyraInputError(
                    f"callback[{event!r}]",
                    kind,
                    f"unknown key; expected {' or '.join(wire.CALLBACK_DESTINATION_KEYS)}",
                )
            listed = [str(i) for i in _as_list(f"callback[{event!r}][{kind!r}]", items)]
            if kind == "url":
                for item in listed:
                    check_url(f"callback[{event!r}]['url']", item)
            entry[kind] = listed
            total += len(listed)
        result[key] = entry
    if total > wire.MAX_CALLBACK_DESTINATIONS:
        raise KaleyraInputError(
            "callback", value, f"{total} profile ids and URLs; Kaleyra allows {wire.MAX_CALLBACK_DESTINATIONS}"
        )
    return result


def check_region(value: Any) -> str:
    text = str(value or wire.DEFAULT_REGION).strip().upper()
    if text not in wire.REGION_BASE_URLS:
        raise KaleyraInputError("region", value, f"expected one of {', '.join(wire.REGION_BASE_URLS)}")
    return text


def batches(items: Sequence[str], size: int = wire.MAX_NUMBERS_PER_REQUEST) -> list[tuple[str, ...]]:
    """Consecutive slices of at most ``size``, in order."""
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def outbound_calls(
    *,
    to: Any,
    bridge: Any,
    flow_id: Any,
    prefix: Any = None,
    retry: Any = None,
    time: Any = None,
    timeout: Any = None,
    delay: Any = None,
    interval: Any = None,
    custom: Any = None,
    dlrurl: Any = None,
    callback: Any = None,
    correlation_token: str | None = None,
    on_invalid_number: str = "fail",
) -> tuple[list[wire.OutboundCall], Numbers]:
    """Validate everything, then split the callees into requests Kaleyra accepts."""
    checked_prefix = check_prefix(prefix)
    callees = parse_numbers(to, prefix=checked_prefix, on_invalid_number=on_invalid_number)
    template = wire.OutboundCall(
        to=(),
        bridge=check_bridge(bridge),
        flow_id=check_flow_id(flow_id),
        prefix=checked_prefix,
        retry=check_count("retry", retry),
        time=check_time(time),
        timeout=check_count("timeout", timeout),
        delay=check_count("delay", delay),
        interval=check_count("interval", interval),
        custom=check_custom(custom),
        dlrurl=check_url("dlrurl", dlrurl),
        callback=check_callback(callback),
        correlation_token=correlation_token,
    )
    calls = [replace(template, to=batch) for batch in batches(callees.numbers)]
    return calls, callees


# --------------------------------------------------------------------------- waiting for outcomes


def _aware_iso(parameter: str, value: Any) -> str | None:
    """An ISO 8601 UTC string from an aware datetime or an ISO string with an offset."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise KaleyraInputError(parameter, value, "not an ISO 8601 date and time") from None
    if not isinstance(value, dt.datetime):
        raise KaleyraInputError(parameter, value, "a timezone-aware datetime or an ISO 8601 string")
    if value.tzinfo is None or value.utcoffset() is None:
        raise KaleyraInputError(parameter, value, "a naive date and time is ambiguous; give it a timezone")
    return wire.format_time(value)


def call_watch(
    *,
    record: Any = None,
    numbers: Any = None,
    bridge: Any = None,
    start_time: Any = None,
    end_time: Any = None,
    flow_id: Any = None,
) -> wire.CallWatch:
    """What to wait for: the operator's XCom record, or explicit numbers and a time window."""
    if isinstance(record, str) and record.strip():
        try:
            record = json.loads(record)
        except ValueError:
            try:
                record = ast.literal_eval(record)
            except (ValueError, SyntaxError):
                raise KaleyraInputError("record", record, "not a submission record (JSON object)") from None
    if record:
        if not isinstance(record, Mapping):
            raise KaleyraInputError("record", record, "the submission record must be a mapping")
        try:
            watch = wire.watch_from_record(record)
        except ValueError as error:
            raise KaleyraInputError("record", record, str(error)) from None
        _aware_iso("record.submitted_at", watch.start_time)
        return watch
    if numbers is None:
        raise KaleyraInputError("record", record, "give the operator's record, or numbers and start_time")
    callees = parse_numbers(numbers, parameter="numbers").numbers
    start = _aware_iso("start_time", start_time)
    if start is None:
        raise KaleyraInputError("start_time", start_time, "required with numbers: when the calls were placed")
    return wire.CallWatch(
        numbers=callees,
        bridge=check_bridge(bridge) if bridge not in (None, "") else None,
        start_time=start,
        end_time=_aware_iso("end_time", end_time),
        flow_id=check_flow_id(flow_id) if flow_id not in (None, "") else None,
    )


def check_seconds(parameter: str, value: Any) -> float:
    """A positive number of seconds (a timedelta is accepted too)."""
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise KaleyraInputError(parameter, value, "a positive number of seconds")
    return float(value)
