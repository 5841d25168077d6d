"""The call-log contract: final call statuses, the listing request, tolerant parsing, paging.

Kaleyra documents the Call Log Pull API's parameters and little else: no success code,
no response shape, no number or time format. Evidence from real clients shows numbers
without ``+``, epoch times and the dlrurl placeholder names. So this module reads what
may come rather than what was guessed: every choice is marked ``ASSUMPTION`` and listed
in the assumption register, docs/assumptions.md. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_kaleyra import wire

if TYPE_CHECKING:
    from airflow_provider_kaleyra.wire import Reply

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


def _statuses(category: StatusCategory, **meanings: str) -> dict[str, CallStatusInfo]:
    return {status: CallStatusInfo(category, meaning) for status, meaning in meanings.items()}


#: Kaleyra's documented final call statuses (developers.kaleyra.io, call-statuses).
#: ASSUMPTION: FAILED ("call initiation failed") is capacity/transient and OBD_TIMEOUT
#: (the timeout set in the request was reached) is callee-side; the page does not say.
CALL_STATUSES: dict[str, CallStatusInfo] = {
    **_statuses(
        StatusCategory.SUCCESS,
        ANSWER="the callee answered",
        FLOW_ANSWER="the call landed on the flow",
    ),
    **_statuses(
        StatusCategory.CALLEE,
        NOANSWER="the callee did not answer",
        BUSY="the callee was busy",
        REJECTED="the callee rejected the call",
        CANCEL="the caller cancelled the call",
        OBD_TIMEOUT="the outbound timeout set in the request was reached",
        BUSY_CHANNEL1="the first dialled number was busy",
        BUSY_CHANNEL2="the second dialled number was busy",
        FAILED_CHANNEL1="the call could not be started for the first number",
        FAILED_CHANNEL2="the call could not be started for the second number",
        NOANSWER_CHANNEL1="the first dialled number did not answer",
        NOANSWER_CHANNEL2="the second dialled number did not answer",
    ),
    **_statuses(
        StatusCategory.CAPACITY,
        FAILED="the call could not be started",
        MAXUSE="the account's channel capacity was at its limit; the call was not started",
        QUEUE_TIMEOUT="the queued call was not started in time",
    ),
    **_statuses(
        StatusCategory.CONFIGURATION,
        NOROUTE="Kaleyra has no route to dial this number",
        BRIDGE_UNAVAILABLE="the bridge number was inactive",
        FLOW_UNASSIGNED="no DID number is assigned to the flow",
        FLOW_PAUSED="the flow is paused in Flow Builder",
        FLOW_NOT_PUBLISHED="the flow is not published in Flow Builder",
        FLOW_UNREACHABLE="the flow could not be reached",
    ),
    **_statuses(
        StatusCategory.INBOUND,
        MISS_CALL="an incoming missed call (inbound only)",
        NO_INCOMING_CLI="an incoming call without caller id (inbound only)",
    ),
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


# --------------------------------------------------------------------------- times

#: Documented: the call-logs API covers the last 7 days.
RETENTION = dt.timedelta(days=7)
#: How far before the submission time a call may appear to start (clock differences).
CLOCK_SKEW = dt.timedelta(minutes=2)
#: ASSUMPTION: a number this large is epoch milliseconds, not seconds (1e11 s is the year 5138).
EPOCH_MILLISECONDS_FROM = 10**11


def parse_time(value: object, timezone: str = "UTC") -> dt.datetime | None:
    """A UTC datetime from whatever a call log writes, or None when it is unreadable.

    Epoch seconds or milliseconds (number or numeric string), ISO 8601 with an offset,
    or without one: a naive time is read in ``timezone``, the account's (a connection
    field, UTC by default). pendulum parses ISO forms alike on every Python.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        parsed = value if value.tzinfo else value.replace(tzinfo=pendulum.timezone(timezone))
        return parsed.astimezone(dt.timezone.utc)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    try:
        if number is not None:
            seconds = number / 1000 if abs(number) >= EPOCH_MILLISECONDS_FROM else number
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        moment = pendulum.parse(text, tz=timezone, strict=True, exact=True)
    except (ValueError, OverflowError, OSError, TypeError):
        return None
    if not isinstance(moment, dt.datetime):
        return None  # a date or a duration: not a moment
    return dt.datetime.fromtimestamp(moment.timestamp(), dt.timezone.utc)


def format_filter_time(value: dt.datetime) -> str:
    """ASSUMPTION: time filters go out as ISO 8601 in UTC with an offset, like ``time``."""
    return wire.format_time(value)


# --------------------------------------------------------------------------- the request

#: ASSUMPTION: the largest page Kaleyra serves; the page size travels in a ``limit`` header.
PAGE_SIZE = 100
#: Pages one listing reads at the least before it stops and says it was cut off; a
#: listing for many numbers may read more (see :func:`page_budget`).
MIN_PAGES = 100


def page_budget(numbers: int, page_size: int = PAGE_SIZE) -> int:
    """Pages a listing for ``numbers`` calls may read: room for each number's retries."""
    return max(MIN_PAGES, 4 * -(-numbers // page_size))


def call_logs_url(base_url: str, sid: str) -> str:
    return wire.api_url(base_url, f"v1/{sid}/voice/call-logs")


@dataclass(frozen=True)
class CallLogQuery:
    """The filters of one call-logs listing; ``page`` is added per request."""

    bridge: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    call_id: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class CallLogRequest:
    """One page's request: the same filters in the query string and in a form body."""

    params: dict[str, str]
    body: dict[str, str]
    headers: dict[str, str]


def call_logs_request(query: CallLogQuery, page: int, limit: int = PAGE_SIZE) -> CallLogRequest:
    """The request for page ``page`` (counting from 1).

    ASSUMPTION: the docs' curl sends the filters as a form body, clients that work send
    them in the query string; both are sent, so either reading finds them. ``page``
    counts from 1 and ``offset`` is not sent (its meaning is undocumented); ``bridge``
    is sent as given (E.164 with ``+``).
    """
    filters = {
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
    filters["page"] = str(page)
    return CallLogRequest(
        params=dict(filters),
        body=dict(filters),
        headers={"limit": str(limit), "Content-Type": wire.FORM_CONTENT_TYPE},
    )


# --------------------------------------------------------------------------- the answer


def listing_succeeded(reply: Reply) -> bool:
    """A 2xx whose ``error`` is empty or absent is a listing, whatever its ``code``.

    No page or client shows the code of a successful listing, so none is required; a
    known refusal code (wrong key, say) still fails.
    """
    if not 200 <= reply.http_status < 300 or reply.body_excerpt is not None:
        return False
    known = wire.KNOWN_CODES.get(reply.code or "")
    if known is not None and known.disposition is not wire.Disposition.OK:
        return False
    return not reply.error


@dataclass(frozen=True)
class CallRecord:
    """One call as the call logs describe it; fields Kaleyra did not send are None."""

    number: str
    status: str | None
    call_id: str | None = None
    bridge: str | None = None
    flow_id: str | None = None
    started_at: dt.datetime | None = None
    duration: int | None = None
    correlation_token: str | None = None

    @property
    def category(self) -> StatusCategory:
        return status_category(self.status)

    @property
    def final(self) -> bool:
        return self.category is not StatusCategory.PENDING


#: ASSUMPTION: the shape of the answer. ``data`` is a list of call objects, or an object
#: holding that list under one of these keys plus an optional total.
_LIST_KEYS = ("calls", "call_logs", "logs", "records", "items", "data")
_TOTAL_KEYS = ("total", "total_count", "count")
#: ASSUMPTION: field names of one call, first match wins; the dlrurl placeholders
#: (``callee``, ``caller``, ``starttime``, ``billsec``...) are among them.
_NUMBER_KEYS = ("to", "callee", "number", "receiver", "destination")
_STATUS_KEYS = ("status", "call_status", "final_status")
_CALL_ID_KEYS = ("id", "call_id", "callid", "uuid")
_BRIDGE_KEYS = ("bridge", "caller", "from", "did")
_FLOW_KEYS = ("flow_id", "flow", "ivr_id")
_START_KEYS = ("start_time", "starttime", "started_at", "time", "created_at")
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
    except (TypeError, ValueError, OverflowError):
        return None


def token_in_custom(custom: Any) -> str | None:
    """The correlation token inside a ``custom`` value (a JSON string or an object)."""
    if isinstance(custom, str):
        try:
            custom = json.loads(custom)
        except ValueError:
            return None
    if isinstance(custom, Mapping) and custom.get(wire.CORRELATION_KEY):
        return str(custom[wire.CORRELATION_KEY])
    return None


def _flow_id(value: Any) -> str | None:
    if isinstance(value, (list, dict)) or (isinstance(value, str) and value.startswith(("[", "{"))):
        flow_ids = wire.decode_target(value if isinstance(value, str) else json.dumps(value))
        value = flow_ids[0] if flow_ids else None
    return str(value) if value is not None else None


def parse_call_record(item: Any, timezone: str = "UTC") -> CallRecord | str:
    """A :class:`CallRecord`, or a sentence saying why the entry cannot be one."""
    if not isinstance(item, Mapping):
        return f"a call-log entry is not an object: {str(item)[:80]!r}"
    number = _first(item, _NUMBER_KEYS)
    if number is None or isinstance(number, (dict, list, bool)):
        return f"a call-log entry has no callee number (looked for {', '.join(_NUMBER_KEYS)}): {sorted(item)}"
    token = item.get(wire.CORRELATION_KEY) or token_in_custom(item.get("custom"))
    call_id = _first(item, _CALL_ID_KEYS)
    bridge = _first(item, _BRIDGE_KEYS)
    return CallRecord(
        number=str(number),
        status=normalise_status(_first(item, _STATUS_KEYS)),
        call_id=str(call_id) if call_id is not None else None,
        bridge=str(bridge) if bridge is not None else None,
        flow_id=_flow_id(_first(item, _FLOW_KEYS)),
        started_at=parse_time(_first(item, _START_KEYS), timezone),
        duration=_as_int(_first(item, _DURATION_KEYS)),
        correlation_token=str(token) if token else None,
    )


@dataclass(frozen=True)
class ParsedPage:
    records: list[CallRecord]
    problems: list[str]
    #: Entries on the page, readable or not.
    entries: int
    #: How many calls the whole listing holds, when the answer says.
    total: int | None


def parse_page(data: Any, timezone: str = "UTC") -> ParsedPage:
    """One page of the answer, read tolerantly; unreadable entries are kept as problems."""
    total = None
    entries: Any = data
    if isinstance(data, Mapping):
        total = _as_int(_first(data, _TOTAL_KEYS))
        found = next((data[k] for k in _LIST_KEYS if isinstance(data.get(k), list)), None)
        entries = found if found is not None else ([data] if _first(data, _NUMBER_KEYS) else [])
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        return ParsedPage([], [f"call-log data is neither a list nor an object: {str(data)[:80]!r}"], 0, None)
    records: list[CallRecord] = []
    problems: list[str] = []
    for item in entries:
        parsed = parse_call_record(item, timezone)
        if isinstance(parsed, str):
            problems.append(parsed)
        else:
            records.append(parsed)
    return ParsedPage(records, problems, len(entries), total)


@dataclass(frozen=True)
class CallLogListing:
    """Every record one listing read, and what it could not read."""

    records: list[CallRecord]
    #: Entries that could not be read, each with the reason (never silently dropped).
    problems: list[str] = field(default_factory=list)
    #: Why the listing stopped before its end, or None when it read every page.
    cut_off: str | None = None
    #: The codes the answers carried: no documentation names one for a listing.
    codes: frozenset[str] = frozenset()


_codes_noted: set[str] = set()


def first_sighting(code: str) -> bool:
    """True the first time this process sees ``code`` on a listing: log it once, not per poll.

    ASSUMPTION: no code is expected of a successful listing, so every one is news once.
    """
    if code in _codes_noted:
        return False
    _codes_noted.add(code)
    return True


@dataclass
class CallLogPager:
    """Pages of one listing, for the sync and the async hook alike.

    ``next_request`` gives the next page's request (``None`` when the last page was
    read, or the budget is spent); ``add`` takes that page's reply. A listing that ends
    early says why in ``cut_off``, so "not read" is never taken for "not there".
    """

    query: CallLogQuery
    page_size: int = PAGE_SIZE
    timezone: str = "UTC"
    max_pages: int = MIN_PAGES
    page: int = 0
    records: list[CallRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cut_off: str | None = None
    codes: set[str] = field(default_factory=set)
    #: Entries read so far, readable or not.
    read: int = 0
    _finished: bool = False
    _budget_scaled: bool = False
    _seen: set[tuple[Any, ...]] = field(default_factory=set)

    def next_request(self) -> CallLogRequest | None:
        if self._finished:
            return None
        if self.page >= self.max_pages:
            self.cut_off = (
                f"stopped after {self.page} pages of {self.page_size} (window from "
                f"{self.query.start_time or 'the start'} to {self.query.end_time or 'now'}); later pages were not read"
            )
            self._finished = True
            return None
        self.page += 1
        return call_logs_request(self.query, self.page, self.page_size)

    def add(self, reply: Reply) -> None:
        if reply.code:
            self.codes.add(reply.code)
        parsed = parse_page(reply.data, self.timezone)
        self.read += parsed.entries
        fresh = [r for r in parsed.records if _identity(r) not in self._seen]
        if parsed.records and not fresh:
            # The API handed back a page already read: it does not page the way we ask.
            self.cut_off = f"page {self.page} repeated earlier records; paging stopped there"
            self._finished = True
            return
        self._seen.update(_identity(r) for r in fresh)
        self.records += fresh
        self.problems += parsed.problems
        # More pages: by the total when the answer gives one, else while pages come full.
        # The total is compared with what was read, not with pages x limit: a server may
        # serve fewer per page than asked.
        if parsed.total is not None:
            more = parsed.entries > 0 and self.read < parsed.total
        else:
            more = parsed.entries >= self.page_size
        if more and parsed.entries < self.page_size and not self._budget_scaled:
            # Smaller pages than asked: the same calls take more of them.
            self.max_pages = -(-self.max_pages * self.page_size // parsed.entries)
            self._budget_scaled = True
        self._finished = not more

    def result(self) -> CallLogListing:
        return CallLogListing(self.records, self.problems, self.cut_off, frozenset(self.codes))


def _identity(record: CallRecord) -> tuple[Any, ...]:
    return (record.call_id,) if record.call_id else (record.number, record.started_at, record.status)
