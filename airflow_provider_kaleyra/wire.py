"""The Kaleyra voice wire contract for placing calls: URLs, the outbound form, codes, answers.

Every URL, form field, response code and the parsing of Kaleyra's answers to the
outbound request lives here, as pure functions without I/O, so that the sync hook,
the async paths and the simulator agree by construction. The call-log contract has
its own module (``call_logs``), and so has the rule that ties a call-log record to a
submission (``correlation``).

Where Kaleyra's public documentation is silent, the choice is made here, once, and
marked ``ASSUMPTION``; docs/assumptions.md lists them. If the real API turns out different,
this module is the one to change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

# --------------------------------------------------------------------------- regions

#: Documented base URLs. SG is the seed's "api.ap" host; NA is documented on the
#: callback-profile pages.
REGION_BASE_URLS: dict[str, str] = {
    "SG": "https://api.ap.kaleyra.io/",
    "IN": "https://api.in.kaleyra.io/",
    "EU": "https://api.eu.kaleyra.io/",
    "NA": "https://api.na.kaleyra.ai/",
}
DEFAULT_REGION = "SG"

# --------------------------------------------------------------------------- limits

#: Kaleyra dials at most this many numbers per outbound request.
MAX_NUMBERS_PER_REQUEST = 100
#: At most this many callback profile ids and URLs together in one ``callback``.
MAX_CALLBACK_DESTINATIONS = 10
CALLBACK_EVENTS = ("call_start", "call_answer", "call_end")
CALLBACK_DESTINATION_KEYS = ("callback_profile", "url")

# --------------------------------------------------------------------------- codes

OUTBOUND_ACCEPTED = "RBC3007"
IVR_NOT_FOUND = "RBC3115"
SUBSCRIPTIONS_LISTED = "CLE402"
#: Documented for the messaging APIs; ASSUMPTION: voice uses it for a wrong SID or key.
BAD_CREDENTIALS = "RBC001"
#: Documented for messaging (insufficient balance); ASSUMPTION: voice uses it too.
INSUFFICIENT_BALANCE = "E110"
#: ASSUMPTION: Kaleyra documents no voice codes for these; these are the ones the
#: simulator answers with and the provider recognises.
INVALID_PARAMETER = "RBC3001"
RATE_LIMITED = "RBC3429"


class Disposition(str, Enum):
    """What a Kaleyra answer means for the caller."""

    OK = "ok"
    #: Retrying the same request cannot help (credentials, flow, input, balance).
    PERMANENT = "permanent"
    #: Kaleyra did not act on the request and the same request may succeed later.
    TRANSIENT = "transient"


@dataclass(frozen=True)
class CodeInfo:
    disposition: Disposition
    meaning: str
    #: ASSUMPTION: the HTTP status that accompanies the code (the simulator sends it).
    http_status: int


#: Codes the provider knows. Anything else is reported with its code, never taken
#: as success.
KNOWN_CODES: dict[str, CodeInfo] = {
    OUTBOUND_ACCEPTED: CodeInfo(Disposition.OK, "submitted successfully", 200),
    SUBSCRIPTIONS_LISTED: CodeInfo(Disposition.OK, "subscribed numbers listed", 200),
    IVR_NOT_FOUND: CodeInfo(
        Disposition.PERMANENT,
        "the Flow ID does not exist, is not published or is not this account's",
        400,
    ),
    BAD_CREDENTIALS: CodeInfo(Disposition.PERMANENT, "incorrect SID or API key", 401),
    INSUFFICIENT_BALANCE: CodeInfo(Disposition.PERMANENT, "insufficient balance", 402),
    INVALID_PARAMETER: CodeInfo(Disposition.PERMANENT, "a request parameter is invalid", 400),
    RATE_LIMITED: CodeInfo(Disposition.TRANSIENT, "too many requests", 429),
}


#: Codes that say Kaleyra did not act on an outbound request: after one of these (or
#: HTTP 429), sending it again dials nobody twice. RBC3115 is documented; the others
#: are the ASSUMPTIONS above. Any other answer to a request that reached Kaleyra (a 200
#: with a code not listed here, a 5xx, a proxy's page) may follow a dial.
NOTHING_DONE_CODES = frozenset({IVR_NOT_FOUND, BAD_CREDENTIALS, INSUFFICIENT_BALANCE, INVALID_PARAMETER, RATE_LIMITED})


def nothing_done(code: str | None, http_status: int | None) -> bool:
    """Whether an answer to the outbound POST proves that Kaleyra dialled nobody."""
    return code in NOTHING_DONE_CODES or http_status == 429


def classify(http_status: int, code: str | None) -> Disposition:
    """Decide what an answer means: by ``code`` first, by HTTP status second.

    A 200 is not success unless the code says so. An unknown code is PERMANENT
    (ASSUMPTION): it may be a new kind of acceptance, and sending the request again
    could dial the same people twice. 429 and 5xx without a known code are
    TRANSIENT; every other status is PERMANENT.
    """
    if code and code in KNOWN_CODES:
        return KNOWN_CODES[code].disposition
    if http_status == 429 or http_status >= 500:
        return Disposition.TRANSIENT
    return Disposition.PERMANENT


def describe_code(code: str | None) -> str:
    info = KNOWN_CODES.get(code or "")
    return info.meaning if info else "a code this provider does not know"


# --------------------------------------------------------------------------- URLs


def base_url_for(region: str) -> str:
    try:
        return REGION_BASE_URLS[region.upper()]
    except KeyError:
        raise ValueError(
            f"region: unknown Kaleyra region {region!r}; expected one of {', '.join(REGION_BASE_URLS)}"
        ) from None


def api_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path


def outbound_url(base_url: str, sid: str) -> str:
    return api_url(base_url, f"v1/{sid}/voice/outbound")


def subscriptions_url(base_url: str, sid: str) -> str:
    return api_url(base_url, f"v1/{sid}/number/subscriptions")


def request_headers(api_key: str, user_agent: str) -> dict[str, str]:
    return {"api-key": api_key, "User-Agent": user_agent, "Accept": "application/json"}


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# --------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class OutboundCall:
    """One outbound call-flow request, already validated (see ``validation``)."""

    #: Full E.164 numbers (see ``numbers``): ``prefix`` is applied before sending.
    to: tuple[str, ...]
    bridge: str
    #: The Flow Builder flow the callees hear; empty when ``message`` is spoken instead.
    flow_id: str = ""
    retry: int | None = None
    time: dt.datetime | None = None
    timeout: int | None = None
    delay: int | None = None
    interval: int | None = None
    custom: str | Mapping[str, Any] | None = None
    dlrurl: str | None = None
    callback: Mapping[str, Any] | None = None
    correlation_token: str | None = None
    #: Text Kaleyra speaks to the callees instead of running a flow (``flow_id`` is then empty).
    message: SpokenMessage | None = None


# --------------------------------------------------------------------------- spoken messages

#: ASSUMPTION: the text-to-speech target. No doc page we could read describes it; real
#: clients send ``[{"message": {"text": ..., "language": "en-US", "speed": "medium"}}]``
#: in place of the flow's ``[{"ivr": [...]}]``, so that is what is sent.
DEFAULT_SPEECH_LANGUAGE = "en-US"
DEFAULT_SPEECH_SPEED = "medium"
#: ASSUMPTION: only "medium" is seen in client code; "slow" and "fast" are the usual
#: companions of a text-to-speech speed setting.
SPEECH_SPEEDS = ("slow", "medium", "fast")
#: ASSUMPTION: a language and a region, as ``en-US`` in client code (``hi-IN``, ``en-IN``...).
SPEECH_LANGUAGE = re.compile(r"[a-z]{2,3}-[A-Z]{2}")
#: ASSUMPTION: the longest text sent; Kaleyra documents no limit. A page of speech (about
#: a minute) is far beyond what a phone alert needs, and short enough for any TTS engine.
MAX_SPOKEN_TEXT_CHARS = 1000


@dataclass(frozen=True)
class SpokenMessage:
    """Text Kaleyra reads out to the callee (validated by ``validation.spoken_message``)."""

    text: str
    language: str = DEFAULT_SPEECH_LANGUAGE
    speed: str = DEFAULT_SPEECH_SPEED

    def as_dict(self) -> dict[str, str]:
        return {"text": self.text, "language": self.language, "speed": self.speed}


def encode_message_target(message: SpokenMessage) -> str:
    """``[{"message": {"text": ..., "language": ..., "speed": ...}}]`` as JSON (ASSUMPTION above)."""
    return json.dumps([{"message": message.as_dict()}], separators=(",", ":"))


def target_of(call: OutboundCall) -> str:
    """The ``target`` field of ``call``: its spoken message, else its flow."""
    return encode_message_target(call.message) if call.message is not None else encode_target(call.flow_id)


def decode_message_target(value: str) -> SpokenMessage | None:
    """The spoken message in a ``target`` field, or None when it names a flow (or nothing readable)."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    for item in parsed if isinstance(parsed, list) else [parsed]:
        spoken = item.get("message") if isinstance(item, dict) else None
        if isinstance(spoken, dict) and isinstance(spoken.get("text"), str):
            return SpokenMessage(
                spoken["text"],
                str(spoken.get("language") or DEFAULT_SPEECH_LANGUAGE),
                str(spoken.get("speed") or DEFAULT_SPEECH_SPEED),
            )
    return None


#: Spoken text quoted in logs and messages is cut to this many characters.
SPOKEN_TEXT_SHOWN = 40


def describe_target(call: OutboundCall) -> str:
    """``flow SG_...`` or ``spoken message 'nightly_billing failed...'``, for logs and errors."""
    if call.message is None:
        return f"flow {call.flow_id}"
    return f"spoken message {_shortened(call.message.text)!r}"


def _shortened(text: str) -> str:
    return text if len(text) <= SPOKEN_TEXT_SHOWN else text[: SPOKEN_TEXT_SHOWN - 3] + "..."


def encode_target(flow_id: str) -> str:
    """The documented array form, ``[{"ivr": ["<flow id>"]}]``, as JSON.

    ASSUMPTION: of the seed's three spellings (bare id, array), the array form is sent.
    """
    return json.dumps([{"ivr": [flow_id]}], separators=(",", ":"))


#: The parameter table prints the flow id unquoted: ``[ {"ivr":[SG_8b37...]} ]``.
_IVR_LIST = re.compile(r'"ivr"\s*:\s*\[([^\]]*)\]')


def decode_target(value: str) -> list[str]:
    """Flow ids in a ``target`` field, in every spelling the seed shows.

    A bare id, the JSON array ``[{"ivr": ["id"]}]``, a lone object, and the
    parameter table's array with an unquoted id.
    """
    value = value.strip()
    if not value.startswith(("[", "{")):
        return [value] if value else []
    try:
        parsed = json.loads(value)
    except ValueError:
        return [item.strip().strip("\"'") for match in _IVR_LIST.findall(value) for item in match.split(",")]
    flow_ids: list[str] = []
    for item in parsed if isinstance(parsed, list) else [parsed]:
        ivr = item.get("ivr", []) if isinstance(item, dict) else []
        flow_ids.extend(str(v) for v in (ivr if isinstance(ivr, list) else [ivr]))
    return flow_ids


def format_time(value: dt.datetime) -> str:
    """ASSUMPTION: ``time`` is ISO 8601 in UTC with an explicit offset (the form Kaleyra's
    SMS API documents), seconds precision.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"time: {value.isoformat()} has no timezone; pass an aware datetime")
    utc = value.astimezone(dt.timezone.utc).replace(microsecond=0)
    return utc.isoformat()


#: The key under which the correlation token travels inside ``custom``.
CORRELATION_KEY = "airflow_correlation_token"


def encode_custom(custom: str | Mapping[str, Any] | None, correlation_token: str | None) -> str | None:
    """ASSUMPTION: ``custom`` is sent as a JSON object.

    A mapping is sent as is, a string under ``"text"``, and the correlation token
    under ``airflow_correlation_token``, so the calls can be found again later.
    """
    if custom is None and correlation_token is None:
        return None
    payload: dict[str, Any] = {}
    if isinstance(custom, Mapping):
        payload.update(custom)
    elif custom is not None:
        payload["text"] = custom
    if correlation_token is not None:
        payload[CORRELATION_KEY] = correlation_token
    # allow_nan=False: NaN and Infinity are not JSON; refused rather than sent.
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, allow_nan=False)


def encode_outbound_form(call: OutboundCall) -> dict[str, str]:
    """The form fields of ``POST /v1/<SID>/voice/outbound``, in the seed's order."""
    # Numbers go out whole, never with ``prefix``: the seed allows either, and whole
    # numbers make what Kaleyra dials, what the call log shows and what we compare one.
    form = {"to": ",".join(call.to), "bridge": call.bridge, "target": target_of(call)}
    optional: dict[str, Any] = {
        "retry": call.retry,
        "time": format_time(call.time) if call.time is not None else None,
        "timeout": call.timeout,
        "delay": call.delay,
        "interval": call.interval,
        "custom": encode_custom(call.custom, call.correlation_token),
        "dlrurl": url_with_token(call.dlrurl, call.correlation_token) if call.dlrurl else None,
        "callback": (
            json.dumps(callback_with_token(call.callback, call.correlation_token), separators=(",", ":"))
            if call.callback
            else None
        ),
    }
    form.update({name: str(value) for name, value in optional.items() if value is not None})
    return form


def redacted_summary(form: Mapping[str, str]) -> str:
    """What was sent, short and safe for logs: numbers counted, no headers."""
    numbers = [n for n in form.get("to", "").split(",") if n]
    shown = ", ".join(numbers[:3]) + (f" and {len(numbers) - 3} more" if len(numbers) > 3 else "")
    spoken = decode_message_target(form.get("target", "")) if form.get("target") else None
    if spoken is not None:
        return f"to=[{shown}] bridge={form.get('bridge')} message={_shortened(spoken.text)!r}"
    flows = decode_target(form.get("target", "")) if form.get("target") else []
    return f"to=[{shown}] bridge={form.get('bridge')} flow={','.join(flows)}"


def correlation_token(*parts: object) -> str:
    """A short stable token from the task identity, equal across the task's tries."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"af-{digest[:20]}"


# --------------------------------------------------------------------------- the answer


@dataclass(frozen=True)
class Reply:
    """Kaleyra's envelope ``code`` / ``message`` / ``data`` / ``error``, parsed."""

    http_status: int
    code: str | None
    message: str
    data: Any
    error: Any
    disposition: Disposition
    #: Seconds Kaleyra asked us to wait (``Retry-After``), if any.
    retry_after: float | None = None
    #: The start of a body that was not Kaleyra JSON (an HTML error page, nothing).
    body_excerpt: str | None = None

    @property
    def ok(self) -> bool:
        return self.disposition is Disposition.OK

    def explain(self) -> str:
        """One line for an exception message or a log."""
        if self.body_excerpt is not None:
            return (
                f"HTTP {self.http_status} with a body that is not Kaleyra JSON: {self.body_excerpt!r}"
            )
        # Kaleyra tends to say one thing three times (message, error, and the meaning
        # this provider knows for the code): each is shown only when it adds something.
        said = (self.message or "").casefold()
        meaning = describe_code(self.code)
        text = f"{self.code or 'no code'} {self.message!r} (HTTP {self.http_status}"
        text += f"; {meaning})" if meaning.casefold() != said else ")"
        detail = error_detail(self.error)
        return f"{text}: {detail}" if detail and detail.casefold() != said else text


BODY_EXCERPT_CHARS = 200


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def parse_reply(http_status: int, body: bytes | str, headers: Mapping[str, str] | None = None) -> Reply:
    """Turn any HTTP answer into a :class:`Reply`; never raises."""
    retry_after = parse_retry_after((headers or {}).get("Retry-After") or (headers or {}).get("retry-after"))
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        envelope = json.loads(text)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict) or not ({"code", "message", "data", "error"} & envelope.keys()):
        excerpt = text.strip()[:BODY_EXCERPT_CHARS]
        # Not Kaleyra's envelope: all we have is the HTTP status.
        disposition = classify(http_status, None)
        return Reply(http_status, None, "", None, None, disposition, retry_after, excerpt)
    code = envelope.get("code")
    code = str(code) if code is not None else None
    return Reply(
        http_status=http_status,
        code=code,
        message=str(envelope.get("message") or ""),
        data=envelope.get("data"),
        error=envelope.get("error"),
        disposition=classify(http_status, code),
        retry_after=retry_after,
    )


def error_detail(error: Any) -> str:
    """Flatten ``error``, an object or a list, into a readable string."""
    if not error:
        return ""
    if isinstance(error, Mapping):
        # ``{"scalar": "IVR not found"}`` is how Kaleyra wraps a plain string: the key says nothing.
        return "; ".join(str(v) if k == "scalar" else f"{k}: {v}" for k, v in error.items())
    if isinstance(error, list):
        return "; ".join(error_detail(e) if isinstance(e, (dict, list)) else str(e) for e in error)
    return str(error)


def call_ids(data: Any) -> list[str]:
    """Call ids in a success ``data``, if Kaleyra ever adds them (the seed has none)."""
    items = data if isinstance(data, list) else [data]
    ids = []
    for item in items:
        if isinstance(item, Mapping):
            for key in ("id", "call_id", "callid"):
                if item.get(key):
                    ids.append(str(item[key]))
                    break
    return ids


# --------------------------------------------------------------------------- results


@dataclass
class Submission:
    """What one accepted outbound request returned; JSON-serialisable via ``as_dict``."""

    code: str
    message: str
    numbers: list[str]
    bridge: str
    flow_id: str
    submitted_at: str
    correlation_token: str | None = None
    call_ids: list[str] = field(default_factory=list)
    #: ``SpokenMessage.as_dict()`` of a spoken call, else None (``message`` is Kaleyra's answer).
    spoken: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def submission_from(call: OutboundCall, reply: Reply) -> Submission:
    """The record of one accepted outbound request."""
    return Submission(
        code=reply.code or "",
        message=reply.message,
        numbers=list(call.to),
        bridge=call.bridge,
        flow_id=call.flow_id,
        submitted_at=utc_now_iso(),
        correlation_token=call.correlation_token,
        call_ids=call_ids(reply.data),
        spoken=call.message.as_dict() if call.message is not None else None,
    )


def subscriptions_summary(data: Any) -> list[dict[str, Any]]:
    """The numbers in a subscriptions answer, tolerant of list-or-object ``data``."""
    if isinstance(data, dict):
        data = data.get("numbers", [data])
    numbers = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, Mapping) and item.get("number"):
            caps = item.get("capabilities") or []
            if isinstance(caps, str) or not isinstance(caps, Sequence):
                caps = [caps]
            numbers.append(
                {"number": str(item["number"]), "status": item.get("number_status"), "capabilities": list(caps)}
            )
    return numbers


def utc_now_iso() -> str:
    """Timestamps in results: UTC, ISO 8601, seconds precision."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------- callback URLs


def url_with_token(url: str, token: str | None) -> str:
    """``url`` with ``airflow_correlation_token=<token>`` appended as a query parameter.

    Kaleyra's placeholders (``{id}``...) are left untouched; the token is URL-safe.
    """
    if not token or f"{CORRELATION_KEY}=" in url:
        return url
    fragment = ""
    if "#" in url:
        url, fragment = url.split("#", 1)
        fragment = "#" + fragment
    separator = "&" if "?" in url else "?"
    if url.endswith(("?", "&")):
        separator = ""
    return f"{url}{separator}{CORRELATION_KEY}={token}{fragment}"


def callback_with_token(callback: Mapping[str, Any], token: str | None) -> dict[str, Any]:
    """The ``callback`` object with the token appended to every ``url``."""
    result: dict[str, Any] = {}
    for event, destinations in callback.items():
        if isinstance(destinations, Mapping) and isinstance(destinations.get("url"), list):
            destinations = {**destinations, "url": [url_with_token(str(u), token) for u in destinations["url"]]}
        result[event] = destinations
    return result
