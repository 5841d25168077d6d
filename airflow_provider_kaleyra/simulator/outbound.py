"""Checking an outbound call-flow request field by field, as Kaleyra would.

Pure: takes the decoded fields and a bridge predicate, returns either the call to
place or every problem found, keyed by field name (the body's ``error`` object).
Whether the flow is published is not checked here: that is the account's state and
has its own answer (RBC3115).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.simulator import phone

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@dataclass(frozen=True)
class ValidRequest:
    """A request that passed every check: the calls the simulator places."""

    #: ``to`` exactly as sent, for the echo in the response.
    to: str
    #: The numbers to dial, in full international form.
    numbers: tuple[str, ...]
    bridge: str
    #: Empty when the request speaks ``message`` instead of running a flow.
    flow_id: str
    message: wire.SpokenMessage | None = None


@dataclass(frozen=True)
class Invalid:
    errors: dict[str, str]


def _check_to(to: str | None, prefix: str | None) -> tuple[tuple[str, ...], str | None]:
    if not to or not to.strip():
        return (), "is required"
    parts = [part.strip() for part in to.split(",")]
    if len(parts) > wire.MAX_NUMBERS_PER_REQUEST:
        return (), f"at most {wire.MAX_NUMBERS_PER_REQUEST} numbers per request, got {len(parts)}"
    numbers: list[str] = []
    bad: list[str] = []
    for part in parts:
        full = phone.dialled(part, prefix)
        if full is None:
            bad.append(part or "(empty)")
        else:
            numbers.append(full)
    if bad:
        expected = "'+' and 8 to 15 digits" + (", or digits to follow the prefix" if prefix else "")
        return (), f"invalid number(s) {', '.join(bad[:5])}; expected {expected}"
    return tuple(numbers), None


def _check_bridge(bridge: str | None, can_bridge: Callable[[str], bool]) -> str | None:
    if not bridge or not bridge.strip():
        return "is required"
    if not phone.is_bridge(bridge):
        return f"{bridge!r} is not a number with country code"
    if not can_bridge(bridge):
        return f"{bridge} is not an active voice_out number subscribed on this account"
    return None


def _check_message(message: wire.SpokenMessage) -> str | None:
    """The text-to-speech form, checked as strictly as ``wire`` assumes Kaleyra does."""
    if not message.text.strip():
        return "the message text is empty"
    if len(message.text) > wire.MAX_SPOKEN_TEXT_CHARS:
        return f"the message text is {len(message.text)} characters; at most {wire.MAX_SPOKEN_TEXT_CHARS}"
    if not wire.SPEECH_LANGUAGE.fullmatch(message.language):
        return f"unknown message language {message.language!r}"
    if message.speed not in wire.SPEECH_SPEEDS:
        return f"unknown message speed {message.speed!r}; expected {', '.join(wire.SPEECH_SPEEDS)}"
    return None


def _check_target(target: str | None) -> tuple[str | None, str | None]:
    if not target or not target.strip():
        return None, "is required"
    if wire.decode_message_target(target) is not None:
        return "", None  # a spoken message: no flow
    try:
        flow_ids = wire.decode_target(target)
    except ValueError:
        return None, "is neither a Flow ID nor [{\"ivr\":[\"<Flow ID>\"]}]"
    flow_ids = [f.strip() for f in flow_ids if f.strip()]
    if len(flow_ids) != 1:
        return None, f"exactly one Flow ID is supported per request, got {len(flow_ids)}"
    return flow_ids[0], None


def _check_callback(callback: str) -> str | None:
    """The documented shape: events -> {callback_profile|url: [..]}, 10 destinations at most."""
    try:
        parsed = json.loads(callback)
    except ValueError:
        return "must be a JSON object"
    if not isinstance(parsed, dict):
        return "must be a JSON object"
    total = 0
    for event, destinations in parsed.items():
        if str(event).lower() not in wire.CALLBACK_EVENTS:
            return f"unknown event {event!r}; expected {', '.join(wire.CALLBACK_EVENTS)}"
        if not isinstance(destinations, dict):
            return f"{event} must be an object"
        for key, values in destinations.items():
            if str(key).lower() not in wire.CALLBACK_DESTINATION_KEYS:
                return f"{event}.{key} is not one of {', '.join(wire.CALLBACK_DESTINATION_KEYS)}"
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                return f"{event}.{key} must be a list of strings"
            total += len(values)
    if total > wire.MAX_CALLBACK_DESTINATIONS:
        return f"at most {wire.MAX_CALLBACK_DESTINATIONS} profile ids and URLs in all, got {total}"
    return None


def validate(fields: Mapping[str, str], can_bridge: Callable[[str], bool]) -> ValidRequest | Invalid:
    errors: dict[str, str] = {}
    prefix = fields.get("prefix") or None
    if prefix is not None and not phone.is_prefix(prefix):
        errors["prefix"] = f"{prefix!r} is not a country code"
        prefix = None
    numbers, problem = _check_to(fields.get("to"), prefix)
    if problem:
        errors["to"] = problem
    problem = _check_bridge(fields.get("bridge"), can_bridge)
    if problem:
        errors["bridge"] = problem
    flow_id, problem = _check_target(fields.get("target"))
    message = wire.decode_message_target(fields.get("target") or "")
    if message is not None:
        problem = _check_message(message)
    if problem:
        errors["target"] = problem
    callback = fields.get("callback")
    if callback:
        problem = _check_callback(callback)
        if problem:
            errors["callback"] = problem
    if errors or flow_id is None:
        return Invalid(errors)
    return ValidRequest(fields["to"], numbers, fields["bridge"], flow_id, message)
