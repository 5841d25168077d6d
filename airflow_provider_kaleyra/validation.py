"""Checks on what a DAG author passes, done before anything is sent.

Each failure raises :class:`KaleyraInputError` naming the parameter and the bad
value, so a typo never turns into a phone call. The limits come from ``wire``.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pendulum

from airflow_provider_kaleyra import correlation, numbers, wire
from airflow_provider_kaleyra.exceptions import KaleyraInputError


def as_list(parameter: str, value: Any) -> list[Any]:
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
            return as_list(parameter, parsed)
        return [part for part in text.split(",")]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return list(value)
    return [value]


@dataclass(frozen=True)
class Numbers:
    """The callees as full E.164 numbers (see ``numbers``), in the caller's order, each once."""

    numbers: tuple[str, ...]
    #: Entries naming a number already listed (in any spelling); dialled once, reported.
    duplicates: tuple[str, ...]
    #: Entries that are not phone numbers, left out with ``on_invalid_number="skip"``.
    invalid: tuple[str, ...] = ()
    #: The country code of ``prefix``, if one was given.
    country_code: str | None = None


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
    """Check the callees and turn each into its full E.164 number, once.

    ``8830907301`` with prefix ``+91`` and ``+91 88309 07301`` are one person: the
    second is a duplicate, dialled once.

    :param on_invalid_number: ``"fail"`` raises on the first entry that is not a phone
        number; ``"skip"`` leaves such entries out and lists them in ``Numbers.invalid``.
    """
    skip = check_on_invalid_number(on_invalid_number) == "skip"
    invalid: list[str] = []
    cleaned: list[str] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for item in as_list(parameter, to):
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            if skip:
                invalid.append(repr(item))
                continue
            raise KaleyraInputError(parameter, item, "each number must be a string")
        if not str(item).strip():
            continue  # "a,,b" or a trailing comma
        try:
            number = numbers.full_number(str(item), prefix)
        except numbers.NotANumber as error:
            if skip:
                invalid.append(str(item))
                continue
            raise KaleyraInputError(parameter, item, f"not a phone number: {error}") from None
        if number in seen:
            duplicates.append(str(item).strip() if str(item).strip() == number else f"{str(item).strip()} ({number})")
            continue
        seen.add(number)
        cleaned.append(number)
    if not cleaned:
        problem = "no phone number given"
        if invalid:
            problem = f"no valid phone number given ({len(invalid)} skipped as invalid)"
        raise KaleyraInputError(parameter, to, problem)
    return Numbers(
        tuple(cleaned), tuple(duplicates), tuple(invalid), numbers.country_code(prefix) if prefix else None
    )


def check_bridge(value: Any) -> str:
    # The seed types the bridge as an Integer (country code and number), and a DAG
    # rendering native objects turns "+6531651234" into 6531651234: both mean "+".
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        value = f"+{value}"
    if not isinstance(value, str) or not value.strip():
        raise KaleyraInputError("bridge", value, "the DID to call from is required, as a string in E.164")
    number = numbers.PUNCTUATION.sub("", value)
    if not numbers.E164.fullmatch(number):
        raise KaleyraInputError("bridge", value, "not E.164: '+', country code and number, ASCII digits")
    return number


def check_flow_id(value: Any) -> str:
    items = [str(v).strip() for v in as_list("flow_id", value)]
    items = [v for v in items if v]
    if not items:
        raise KaleyraInputError("flow_id", value, "a Flow ID from Flow Builder is required")
    if len(items) > 1:
        raise KaleyraInputError("flow_id", value, "Kaleyra runs exactly one flow per request")
    if any(ch.isspace() for ch in items[0]):
        raise KaleyraInputError("flow_id", value, "a Flow ID has no spaces")
    return items[0]


def check_spoken_message(text: Any, language: Any = None, speed: Any = None) -> wire.SpokenMessage:
    """The text Kaleyra reads out, its language and speed; the limits are ``wire``'s."""
    if not isinstance(text, str):
        raise KaleyraInputError("message", text, "the text to speak, as a string")
    spoken = text.strip()
    if not spoken:
        raise KaleyraInputError("message", text, "the text to speak is empty")
    if len(spoken) > wire.MAX_SPOKEN_TEXT_CHARS:
        raise KaleyraInputError(
            "message",
            text,
            f"{len(spoken)} characters; at most {wire.MAX_SPOKEN_TEXT_CHARS} are spoken",
        )
    return wire.SpokenMessage(spoken, _speech_language(language), _speech_speed(speed))


def _speech_language(value: Any) -> str:
    if value is None or value == "":
        return wire.DEFAULT_SPEECH_LANGUAGE
    # en-us and en_US mean en-US; anything else that is not language-REGION is refused.
    tag = value.strip().replace("_", "-") if isinstance(value, str) else ""
    language, _, region = tag.partition("-")
    tag = f"{language.lower()}-{region.upper()}"
    if not wire.SPEECH_LANGUAGE.fullmatch(tag):
        raise KaleyraInputError("language", value, "a language and region such as en-US or hi-IN")
    return tag


def _speech_speed(value: Any) -> str:
    if value is None or value == "":
        return wire.DEFAULT_SPEECH_SPEED
    speed = value.strip().lower() if isinstance(value, str) else value
    if speed not in wire.SPEECH_SPEEDS:
        raise KaleyraInputError("speed", value, f"expected one of {', '.join(wire.SPEECH_SPEEDS)}")
    return str(speed)


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def check_flow_or_message(
    flow_id: Any, message: Any, language: Any = None, speed: Any = None
) -> tuple[str, wire.SpokenMessage | None]:
    """Exactly one of a Flow ID and a spoken message: ``(flow_id, None)`` or ``("", message)``."""
    if _given(flow_id) and _given(message):
        raise KaleyraInputError(
            "flow_id", flow_id, f"give a Flow ID or a spoken message, not both (message={message!r})"
        )
    if _given(message):
        return "", check_spoken_message(message, language, speed)
    if message is not None and flow_id is None:
        return "", check_spoken_message(message, language, speed)  # an empty text, named as such
    if flow_id is None:
        raise KaleyraInputError("flow_id", flow_id, "a Flow ID from Flow Builder is required, or a message to speak")
    return check_flow_id(flow_id), None


def check_prefix(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        numbers.country_code(text)
    except numbers.NotANumber as error:
        raise KaleyraInputError("prefix", value, str(error)) from None
    return text


def check_count(parameter: str, value: Any) -> int | None:
    """Optional non-negative whole numbers: ``retry``, ``timeout``, ``delay``, ``interval``."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
        exact = number == float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: float("inf")
        raise KaleyraInputError(parameter, value, "must be a whole number") from None
    if isinstance(value, bool) or number < 0 or not exact:
        raise KaleyraInputError(parameter, value, "must be a whole number, 0 or more")
    return number


def _moment(parameter: str, value: Any) -> dt.datetime:
    """An aware datetime from a datetime or an ISO 8601 string with an offset; naive is refused."""
    moment = value
    if isinstance(value, str):
        try:
            moment = pendulum.parse(value.strip(), strict=True, tz=None, exact=True)
        except (ValueError, TypeError):
            raise KaleyraInputError(parameter, value, "not an ISO 8601 date and time") from None
        if not isinstance(moment, dt.datetime):
            raise KaleyraInputError(parameter, value, "a date and time is needed, not only a date or a duration")
    if not isinstance(moment, dt.datetime):
        raise KaleyraInputError(parameter, value, "a timezone-aware datetime or an ISO 8601 string with offset")
    if moment.tzinfo is None or moment.utcoffset() is None:
        # The value as given, not as parsed: the author must recognise it.
        raise KaleyraInputError(
            parameter, value, "has no timezone, so the moment is ambiguous; give an offset such as +05:30 or Z"
        )
    return dt.datetime.fromtimestamp(moment.timestamp(), dt.timezone.utc)


def check_time(value: Any, now: dt.datetime | None = None) -> dt.datetime | None:
    """When Kaleyra should place the calls: an aware moment, not in the past."""
    if value is None or value == "":
        return None
    moment = _moment("time", value)
    now = now or dt.datetime.now(dt.timezone.utc)
    if moment < now.replace(microsecond=0):
        raise KaleyraInputError("time", value, f"is in the past (now is {wire.format_time(now)})")
    return moment


URL = re.compile(r"https?://[^\s/?#]+\S*", re.ASCII)


def check_url(parameter: str, value: Any, *, required: bool = False) -> str | None:
    """An http(s) URL with a host; empty means "none" unless ``required``."""
    if (value is None or value == "") and not required:
        return None
    if not isinstance(value, str) or not URL.fullmatch(value.strip()):
        raise KaleyraInputError(parameter, value, "an http(s) URL with a host")
    return value.strip()


def check_custom(value: Any) -> str | Mapping[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        keys = [k for k in value if not isinstance(k, str)]
        if keys:
            raise KaleyraInputError("custom", value, f"keys must be strings, not {keys[0]!r}")
        try:
            wire.encode_custom(value, correlation_token="probe")
        except (TypeError, ValueError) as error:
            raise KaleyraInputError("custom", value, f"must be JSON-serialisable ({error})") from None
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
            listed = [str(i) for i in as_list(f"callback[{event!r}][{kind!r}]", items)]
            if kind == "url":
                for item in listed:
                    check_url(f"callback[{event!r}]['url']", item, required=True)
            entry[kind] = listed
            total += len(listed)
        result[key] = entry
    if total > wire.MAX_CALLBACK_DESTINATIONS:
        raise KaleyraInputError(
            "callback", value, f"{total} profile ids and URLs; Kaleyra allows {wire.MAX_CALLBACK_DESTINATIONS}"
        )
    return result


def batches(items: Sequence[str], size: int = wire.MAX_NUMBERS_PER_REQUEST) -> list[tuple[str, ...]]:
    """Consecutive slices of at most ``size``, in order."""
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def outbound_calls(
    *,
    to: Any,
    bridge: Any,
    flow_id: Any = None,
    message: Any = None,
    language: Any = None,
    speed: Any = None,
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
    """Validate everything, then split the callees into requests Kaleyra accepts.

    Exactly one of ``flow_id`` and ``message`` (spoken in ``language`` at ``speed``).
    """
    callees = parse_numbers(to, prefix=check_prefix(prefix), on_invalid_number=on_invalid_number)
    flow, spoken = check_flow_or_message(flow_id, message, language, speed)
    template = wire.OutboundCall(
        to=(),
        bridge=check_bridge(bridge),
        flow_id=flow,
        message=spoken,
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
    return wire.format_time(_moment(parameter, value))


def call_watch(
    *,
    record: Any = None,
    numbers: Any = None,
    bridge: Any = None,
    start_time: Any = None,
    end_time: Any = None,
    flow_id: Any = None,
    prefix: Any = None,
) -> correlation.CallWatch:
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
            watch = correlation.watch_from_record(record)
        except ValueError as error:
            raise KaleyraInputError("record", record, str(error)) from None
        _aware_iso("record.submitted_at", watch.start_time)
        return watch
    if numbers is None:
        raise KaleyraInputError("record", record, "give the operator's record, or numbers and start_time")
    callees = parse_numbers(numbers, parameter="numbers", prefix=check_prefix(prefix))
    start = _aware_iso("start_time", start_time)
    if start is None:
        raise KaleyraInputError("start_time", start_time, "required with numbers: when the calls were placed")
    return correlation.CallWatch(
        numbers=callees.numbers,
        country_code=callees.country_code,
        bridge=check_bridge(bridge) if bridge not in (None, "") else None,
        start_time=start,
        end_time=_aware_iso("end_time", end_time),
        flow_id=check_flow_id(flow_id) if flow_id not in (None, "") else None,
    )


def check_seconds(parameter: str, value: Any) -> float:
    """A positive number of seconds (a timedelta is accepted too)."""
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise KaleyraInputError(parameter, value, "a positive, finite number of seconds")
    return float(value)
