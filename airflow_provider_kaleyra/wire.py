"""The Kaleyra voice wire contract, and nothing else.

Every URL, form field, response code and the parsing of Kaleyra's answers lives
here, as pure functions without I/O, so that the sync hook, the async paths and the
simulator agree by construction.

Where Kaleyra's public documentation is silent, the choice is made here, once, and
marked ``ASSUMPTION``; the README lists them. If the real API turns out different,
this module is the one to change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
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


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path


def outbound_url(base_url: str, sid: str) -> str:
    return _join(base_url, f"v1/{sid}/voice/outbound")


def subscriptions_url(base_url: str, sid: str) -> str:
    return _join(base_url, f"v1/{sid}/number/subscriptions")


def request_headers(api_key: str, user_agent: str) -> dict[str, str]:
    return {"api-key": api_key, "User-Agent": user_agent, "Accept": "application/json"}


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# --------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class OutboundCall:
    """One outbound call-flow request, already validated (see ``validation``)."""

    to: tuple[str, ...]
    bridge: str
    flow_id: str
    prefix: str | None = None
    retry: int | None = None
    time: dt.datetime | str | None = None
    timeout: int | None = None
    delay: int | None = None
    interval: int | None = None
    custom: str | Mapping[str, Any] | None = None
    dlrurl: str | None = None
    callback: Mapping[str, Any] | None = None
    correlation_token: str | None = None


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


def format_time(value: dt.datetime | str) -> str:
    """ASSUMPTION: ``time`` is ISO 8601 in UTC with an explicit offset.

    A timezone-aware datetime (pendulum included) is converted; a string is sent as
    given, so users can follow a format Kaleyra tells them.
    """
    if isinstance(value, str):
        return value
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
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def encode_outbound_form(call: OutboundCall) -> dict[str, str]:
    """The form fields of ``POST /v1/<SID>/voice/outbound``, in the seed's order."""
    form = {"to": ",".join(call.to), "bridge": call.bridge, "target": encode_target(call.flow_id)}
    optional: dict[str, Any] = {
        "prefix": call.prefix,
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
        detail = error_detail(self.error)
        text = (
            f"{self.code or 'no code'} {self.message!r} "
            f"(HTTP {self.http_status}; {describe_code(self.code)})"
        )
        return f"{text}: {detail}" if detail and detail != self.message else text


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
    from email.utils import parsedate_to_datetime

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
    if not isinstance(envelope, dict) or not ({"code", "message"} & envelope.keys()):
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
        return "; ".join(f"{k}: {v}" for k, v in error.items())
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


# =========================================================================== call outcomes
#
# How the calls of one submission ended: the Call Log Pull API, the table of final
# statuses and the rule that ties call-log records to the submission that placed them.

# --------------------------------------------------------------------------- call statuses


class StatusCategory(str, Enum):
    """What a final call status says about the call, for policies and summaries."""

    SUCCESS = "success"
    #: The callee's side ended it: busy, no answer, rejected, cancelled.
    CALLEE = "callee"
    #: Kaleyra could not start the call now (capacity, queue); a later try may work.
    CAPACITY = "capacity"
    #: The flow or the bridge is broken: no retry will fix it.
    CONFIGURATION = "configuration"
    #: A status Kaleyra documents for incoming calls only; unexpected here.
    INBOUND = "inbound"
    #: A status this provider does not know: reported as such, never taken as success.
    UNKNOWN = "unknown"
    #: No final status yet (not in the call logs, or still queued or ringing).
    PENDING = "pending"


@dataclass(frozen=True)
class CallStatusInfo:
    category: StatusCategory
    meaning: str


_S, _C, _T, _F, _I = (
    StatusCategory.SUCCESS,
    StatusCategory.CALLEE,
    StatusCategory.CAPACITY,
    StatusCategory.CONFIGURATION,
    StatusCategory.INBOUND,
)

#: Kaleyra's documented final call statuses (developers.kaleyra.io, call-statuses).
#: ASSUMPTION: FAILED ("call initiation failed") is capacity/transient and OBD_TIMEOUT
#: (the timeout set in the request was reached) is callee-side; the page does not say.
CALL_STATUSES: dict[str, CallStatusInfo] = {
    "ANSWER": CallStatusInfo(_S, "the callee answered"),
    "FLOW_ANSWER": CallStatusInfo(_S, "the call landed on the flow"),
    "NOANSWER": CallStatusInfo(_C, "the callee did not answer"),
    "BUSY": CallStatusInfo(_C, "the callee was busy"),
    "REJECTED": CallStatusInfo(_C, "the callee rejected the call"),
    "CANCEL": CallStatusInfo(_C, "the caller cancelled the call"),
    "OBD_TIMEOUT": CallStatusInfo(_C, "the outbound timeout set in the request was reached"),
    "BUSY_CHANNEL1": CallStatusInfo(_C, "the first dialled number was busy"),
    "BUSY_CHANNEL2": CallStatusInfo(_C, "the second dialled number was busy"),
    "FAILED_CHANNEL1": CallStatusInfo(_C, "the call could not be started for the first number"),
    "FAILED_CHANNEL2": CallStatusInfo(_C, "the call could not be started for the second number"),
    "NOANSWER_CHANNEL1": CallStatusInfo(_C, "the first dialled number did not answer"),
    "NOANSWER_CHANNEL2": CallStatusInfo(_C, "the second dialled number did not answer"),
    "FAILED": CallStatusInfo(_T, "the call could not be started"),
    "MAXUSE": CallStatusInfo(_T, "the account's channel capacity was at its limit; the call was not started"),
    "QUEUE_TIMEOUT": CallStatusInfo(_T, "the queued call was not started in time"),
    "NOROUTE": CallStatusInfo(_F, "Kaleyra has no route to dial this number"),
    "BRIDGE_UNAVAILABLE": CallStatusInfo(_F, "the bridge number was inactive"),
    "FLOW_UNASSIGNED": CallStatusInfo(_F, "no DID number is assigned to the flow"),
    "FLOW_PAUSED": CallStatusInfo(_F, "the flow is paused in Flow Builder"),
    "FLOW_NOT_PUBLISHED": CallStatusInfo(_F, "the flow is not published in Flow Builder"),
    "FLOW_UNREACHABLE": CallStatusInfo(_F, "the flow could not be reached"),
    "MISS_CALL": CallStatusInfo(_I, "an incoming missed call (inbound only)"),
    "NO_INCOMING_CLI": CallStatusInfo(_I, "an incoming call without caller id (inbound only)"),
}

#: ASSUMPTION: statuses a call log may show while a call is still in progress.
IN_PROGRESS_STATUSES = frozenset({"QUEUED", "INITIATED", "RINGING", "IN_PROGRESS", "INPROGRESS", "ONGOING"})
SUCCESS_STATUSES = frozenset(s for s, i in CALL_STATUSES.items() if i.category is StatusCategory.SUCCESS)


def normalise_status(status: object) -> str | None:
    """Kaleyra's status as an upper-case word (``"busy "`` -> ``"BUSY"``), or None."""
    if status is None:
        return None
    text = str(status).strip().upper().replace("-", "_").replace(" ", "_")
    return text or None


def status_category(status: str | None) -> StatusCategory:
    """The category of a status; an unknown one is UNKNOWN, never success."""
    status = normalise_status(status)
    if status is None or status in IN_PROGRESS_STATUSES:
        return StatusCategory.PENDING
    info = CALL_STATUSES.get(status)
    return info.category if info else StatusCategory.UNKNOWN


def status_meaning(status: str | None) -> str:
    status = normalise_status(status)
    if status is None or status in IN_PROGRESS_STATUSES:
        return "no final status yet"
    info = CALL_STATUSES.get(status)
    return info.meaning if info else "a status this provider does not know"


# --------------------------------------------------------------------------- call-log request

#: ASSUMPTION: the success code of the call-logs listing (undocumented).
CALL_LOGS_LISTED = "RBC3200"
KNOWN_CODES[CALL_LOGS_LISTED] = CodeInfo(Disposition.OK, "call logs listed", 200)
#: ASSUMPTION: the largest page Kaleyra serves; the page size travels in a ``limit`` header.
CALL_LOGS_PAGE_SIZE = 100
#: Documented: the call-logs API covers the last 7 days.
CALL_LOGS_RETENTION = dt.timedelta(days=7)
#: How far before the submission time the query window opens, for clock differences.
CALL_LOGS_CLOCK_SKEW = dt.timedelta(minutes=2)
#: A bound on pages read in one poll (100 pages of 100 is 10,000 calls).
CALL_LOGS_MAX_PAGES = 100


def call_logs_url(base_url: str, sid: str) -> str:
    return _join(base_url, f"v1/{sid}/voice/call-logs")


@dataclass(frozen=True)
class CallLogQuery:
    """The filters of one call-logs listing; ``page`` is added per request."""

    bridge: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    call_id: str | None = None
    status: str | None = None


def call_logs_request(query: CallLogQuery, page: int, limit: int = CALL_LOGS_PAGE_SIZE) -> tuple[
    dict[str, str], dict[str, str]
]:
    """Query parameters and headers of one page (``page`` counts from 1).

    ASSUMPTION: ``page`` counts from 1 and ``offset`` is not needed when ``page`` is
    sent; times use the same ISO 8601 UTC format as ``time``; ``bridge`` is sent as given.
    """
    params = {
        name: value
        for name, value in (
            ("bridge", query.bridge),
            ("start_time", query.start_time),
            ("end_time", query.end_time),
            ("call_id", query.call_id),
            ("status", query.status),
        )
        if value
    }
    params["page"] = str(page)
    return params, {"limit": str(limit)}


# --------------------------------------------------------------------------- call-log answer


@dataclass(frozen=True)
class CallRecord:
    """One call as the call logs describe it; fields Kaleyra did not send are None."""

    number: str
    status: str | None
    call_id: str | None = None
    bridge: str | None = None
    flow_id: str | None = None
    started_at: str | None = None
    duration: int | None = None
    correlation_token: str | None = None

    @property
    def category(self) -> StatusCategory:
        return status_category(self.status)

    @property
    def final(self) -> bool:
        return self.category is not StatusCategory.PENDING


@dataclass(frozen=True)
class CallLogPage:
    records: list[CallRecord]
    #: Entries that could not be read, each with the reason (never silently dropped).
    problems: list[str]
    has_more: bool


#: ASSUMPTION: the shape of the call-logs answer. ``data`` is a list of call objects,
#: or an object holding that list under one of these keys plus an optional total.
_LIST_KEYS = ("calls", "call_logs", "logs", "records", "items", "data")
_TOTAL_KEYS = ("total", "total_count", "count")
#: ASSUMPTION: field names of one call, first match wins; unknown fields are ignored.
_NUMBER_KEYS = ("to", "callee", "number", "receiver", "destination")
_STATUS_KEYS = ("status", "call_status", "final_status")
_CALL_ID_KEYS = ("id", "call_id", "callid", "uuid")
_BRIDGE_KEYS = ("bridge", "caller", "from", "did")
_FLOW_KEYS = ("flow_id", "flow", "ivr_id")
_START_KEYS = ("start_time", "started_at", "time", "created_at")
_DURATION_KEYS = ("duration", "billsec", "bill_sec", "call_duration")


def _first(item: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        value = item.get(key)
        if value not in (None, ""):
            return value
    return None


def _as_int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def token_in_custom(custom: Any) -> str | None:
    """The correlation token inside a ``custom`` value (a JSON string or an object)."""
    if isinstance(custom, str):
        try:
            custom = json.loads(custom)
        except ValueError:
            return None
    if isinstance(custom, Mapping) and custom.get(CORRELATION_KEY):
        return str(custom[CORRELATION_KEY])
    return None


def parse_call_record(item: Any) -> CallRecord | str:
    """A :class:`CallRecord`, or a sentence saying why the entry cannot be one."""
    if not isinstance(item, Mapping):
        return f"a call-log entry is not an object: {str(item)[:80]!r}"
    number = _first(item, _NUMBER_KEYS)
    if number is None:
        return f"a call-log entry has no callee number (looked for {', '.join(_NUMBER_KEYS)}): {sorted(item)}"
    status = _first(item, _STATUS_KEYS)
    call_id = _first(item, _CALL_ID_KEYS)
    flow = _first(item, _FLOW_KEYS)
    if isinstance(flow, (list, dict)) or (isinstance(flow, str) and flow.startswith(("[", "{"))):
        flow_ids = decode_target(flow if isinstance(flow, str) else json.dumps(flow))
        flow = flow_ids[0] if flow_ids else None
    token = item.get(CORRELATION_KEY) or token_in_custom(item.get("custom"))
    return CallRecord(
        number=str(number),
        status=normalise_status(status),
        call_id=str(call_id) if call_id is not None else None,
        bridge=str(b) if (b := _first(item, _BRIDGE_KEYS)) is not None else None,
        flow_id=str(flow) if flow is not None else None,
        started_at=str(s) if (s := _first(item, _START_KEYS)) is not None else None,
        duration=_as_int(_first(item, _DURATION_KEYS)),
        correlation_token=str(token) if token else None,
    )


def parse_call_logs(data: Any, page: int, limit: int = CALL_LOGS_PAGE_SIZE) -> CallLogPage:
    """One page of the call-logs answer, read tolerantly.

    ``has_more`` comes from a total when there is one, otherwise from a full page.
    """
    total = None
    entries: Any = data
    if isinstance(data, Mapping):
        total = _as_int(_first(data, _TOTAL_KEYS))
        found = next((data[k] for k in _LIST_KEYS if isinstance(data.get(k), list)), None)
        entries = found if found is not None else ([data] if _first(data, _NUMBER_KEYS) else [])
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        return CallLogPage([], [f"call-log data is neither a list nor an object: {str(data)[:80]!r}"], False)
    records: list[CallRecord] = []
    problems: list[str] = []
    for item in entries:
        parsed = parse_call_record(item)
        (problems if isinstance(parsed, str) else records).append(parsed)  # type: ignore[arg-type]
    has_more = page * limit < total if total is not None else len(entries) >= limit
    return CallLogPage(records, problems, has_more and bool(entries))


# --------------------------------------------------------------------------- correlation


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class CallWatch:
    """The calls of one submission, and everything needed to find them again.

    Built from the operator's XCom record (:func:`watch_from_record`) or from explicit
    numbers; JSON-serialisable through :meth:`as_dict` / :meth:`from_dict`.
    """

    numbers: tuple[str, ...]
    bridge: str | None
    start_time: str
    end_time: str | None = None
    flow_id: str | None = None
    correlation_token: str | None = None
    call_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["numbers"], data["call_ids"] = list(self.numbers), list(self.call_ids)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallWatch:
        return cls(
            numbers=tuple(data["numbers"]),
            bridge=data.get("bridge"),
            start_time=data["start_time"],
            end_time=data.get("end_time"),
            flow_id=data.get("flow_id"),
            correlation_token=data.get("correlation_token"),
            call_ids=tuple(data.get("call_ids") or ()),
        )

    def query(self) -> CallLogQuery:
        """One listing covers the whole submission: bridge and time window, call id when unique."""
        start = _parse_time(self.start_time)
        opens = format_time(start - CALL_LOGS_CLOCK_SKEW) if start else self.start_time
        return CallLogQuery(
            bridge=self.bridge,
            start_time=opens,
            end_time=self.end_time,
            call_id=self.call_ids[0] if len(self.call_ids) == 1 and len(self.numbers) == 1 else None,
        )

    def belongs(self, record: CallRecord) -> bool:
        """Whether a call-log record is one of this submission's calls.

        The correlation token decides when the record carries one; otherwise the call
        id, then number, bridge, flow and time window (ASSUMPTION: Kaleyra may not echo
        ``custom`` in call logs).
        """
        if self.call_ids and record.call_id in self.call_ids:
            return True
        if _digits(record.number) not in {_digits(n) for n in self.numbers}:
            return False
        if self.correlation_token and record.correlation_token:
            return record.correlation_token == self.correlation_token
        if self.bridge and record.bridge and _digits(record.bridge) != _digits(self.bridge):
            return False
        if self.flow_id and record.flow_id and record.flow_id != self.flow_id:
            return False
        started, opens = _parse_time(record.started_at), _parse_time(self.start_time)
        if started and opens and started < opens - CALL_LOGS_CLOCK_SKEW:
            return False
        closes = _parse_time(self.end_time)
        return not (started and closes and started > closes)


def _digits(number: str) -> str:
    return number.strip().lstrip("+")


def watch_from_record(record: Mapping[str, Any]) -> CallWatch:
    """The :class:`CallWatch` of the operator's XCom record."""
    if record.get("numbers_in_xcom") is False and not record.get("numbers"):
        raise ValueError(
            f"record: a campaign of {record.get('numbers_count')} numbers keeps its list out of XCom; "
            "wait with the operator's wait_for_completion, or give the numbers explicitly"
        )
    missing = [key for key in ("numbers", "submitted_at") if not record.get(key)]
    if missing:
        raise ValueError(f"record: not a Kaleyra submission record, missing {', '.join(missing)}")
    return CallWatch(
        numbers=tuple(str(n) for n in record["numbers"]),
        bridge=record.get("bridge"),
        start_time=str(record["submitted_at"]),
        flow_id=record.get("flow_id"),
        correlation_token=record.get("correlation_token"),
        call_ids=tuple(record.get("call_ids") or ()),
    )


@dataclass(frozen=True)
class CallOutcome:
    """How one number's call ended, as far as Kaleyra has said."""

    number: str
    status: str | None
    category: StatusCategory
    call_id: str | None = None
    duration: int | None = None

    def as_row(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status or "PENDING",
            "category": self.category.value,
            "call_id": self.call_id,
            "duration": self.duration,
        }


def correlate(watch: CallWatch, records: Sequence[CallRecord]) -> list[CallOutcome]:
    """One outcome per watched number, in the watch's order.

    Of several calls to one number (Kaleyra's ``retry``), a final one beats one still
    in progress, and among those the one that started last wins.
    """
    best: dict[str, CallRecord] = {}
    for record in records:
        if not watch.belongs(record):
            continue
        key = _digits(record.number)
        current = best.get(key)
        if current is None or (record.final, record.started_at or "") >= (current.final, current.started_at or ""):
            best[key] = record
    outcomes = []
    for number in watch.numbers:
        found = best.get(_digits(number))
        if found is None:
            outcomes.append(CallOutcome(number, None, StatusCategory.PENDING))
        else:
            outcomes.append(CallOutcome(number, found.status, found.category, found.call_id, found.duration))
    return outcomes


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


# --------------------------------------------------------------------------- settling a lost answer


def calls_of_batch(call: OutboundCall, records: Sequence[CallRecord]) -> list[CallRecord]:
    """Call-log entries showing that Kaleyra placed the calls of ``call``.

    The correlation token decides when the log carries it; otherwise number, bridge and
    flow do. Erring towards "placed" only ever means not dialling someone again.
    """
    numbers = set(call.to)
    found = []
    for record in records:
        if record.number not in numbers:
            continue
        if record.correlation_token is not None and call.correlation_token is not None:
            if record.correlation_token == call.correlation_token:
                found.append(record)
        elif record.bridge in (None, call.bridge) and record.flow_id in (None, call.flow_id):
            found.append(record)
    return found


@dataclass
class CallLogPager:
    """Pages of one call-logs listing, for the sync and the async hook alike.

    ``next_request`` gives the next page's query parameters and headers (``None`` when
    the last page was read or ``CALL_LOGS_MAX_PAGES`` is reached); ``add`` takes that
    page's ``data``.
    """

    query: CallLogQuery
    page_size: int = CALL_LOGS_PAGE_SIZE
    page: int = 0
    records: list[CallRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    finished: bool = False

    def next_request(self) -> tuple[dict[str, str], dict[str, str]] | None:
        if self.finished or self.page >= CALL_LOGS_MAX_PAGES:
            return None
        self.page += 1
        return call_logs_request(self.query, self.page, self.page_size)

    def add(self, data: Any) -> None:
        parsed = parse_call_logs(data, self.page, self.page_size)
        self.records += parsed.records
        self.problems += parsed.problems
        self.finished = not parsed.has_more

    def result(self) -> CallLogPage:
        return CallLogPage(self.records, self.problems, has_more=False)
