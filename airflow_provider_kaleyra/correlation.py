"""Which call-log record belongs to which submission: one rule, for every reader.

The wait (trigger and sensor) and the settling of a lost answer (``campaign``) both ask
:meth:`CallWatch.belongs`. Kaleyra may not echo ``custom`` (so the correlation token
is often absent), may write numbers without ``+`` or without the country code, and may
list a numeric flow id for the ``SG_...`` id that was sent; the rule treats each of
those as "no evidence against", never as a mismatch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import call_logs, numbers, wire
from airflow_provider_kaleyra.call_logs import CallLogQuery, CallRecord, StatusCategory

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: A bridge written without its country code still names the same DID if this many
#: trailing digits agree.
MIN_NATIONAL_BRIDGE_DIGITS = 6


def same_bridge(a: str, b: str) -> bool:
    """Bridges compared by digits; a national spelling matches the full one's tail."""
    da, db = numbers.digits(a), numbers.digits(b)
    if not da or not db:
        return True  # nothing to compare: no evidence against
    short, long = sorted((da, db), key=len)
    return short == long or (len(short) >= MIN_NATIONAL_BRIDGE_DIGITS and long.endswith(short))


def same_flow(a: str, b: str) -> bool:
    """Flow ids of one form must agree; a numeric id beside an ``SG_...`` id proves nothing."""
    if _numeric(a) != _numeric(b):
        return True
    return a.strip() == b.strip()


def _numeric(flow_id: str) -> bool:
    return flow_id.strip().isascii() and flow_id.strip().isdigit()


@dataclass(frozen=True)
class CallWatch:
    """The calls of one submission, and everything needed to find them again.

    ``numbers`` are full E.164 numbers (see ``numbers``). JSON round-trips through
    :meth:`as_dict` / :meth:`from_dict`.
    """

    numbers: tuple[str, ...]
    bridge: str | None
    start_time: str
    end_time: str | None = None
    flow_id: str | None = None
    correlation_token: str | None = None
    call_ids: tuple[str, ...] = ()
    #: The country code of a ``prefix``, so a log that drops it still matches.
    country_code: str | None = None

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
            country_code=data.get("country_code"),
        )

    @property
    def opens(self) -> dt.datetime | None:
        return call_logs.parse_time(self.start_time)

    @property
    def closes(self) -> dt.datetime | None:
        return call_logs.parse_time(self.end_time) if self.end_time else None

    def query(self) -> CallLogQuery:
        """One listing covers the whole submission: bridge and time window, call id when unique."""
        opens = self.opens
        return CallLogQuery(
            bridge=self.bridge,
            start_time=call_logs.format_filter_time(opens - call_logs.CLOCK_SKEW) if opens else self.start_time,
            end_time=self.end_time,
            call_id=self.call_ids[0] if len(self.call_ids) == 1 and len(self.numbers) == 1 else None,
        )

    def page_budget(self) -> int:
        return call_logs.page_budget(len(self.numbers))

    @cached_property
    def numbers_by_digits(self) -> dict[str, str]:
        """Digits a call log may write -> the watched number; built once per watch, read per record."""
        return _number_index(self.numbers, self.country_code)

    def number_of(self, record: CallRecord) -> str | None:
        """The watched number ``record`` was a call to, if any."""
        return self.numbers_by_digits.get(numbers.digits(record.number))

    def belongs(self, record: CallRecord) -> bool:
        """Whether a call-log record is one of this submission's calls.

        A known call id decides; otherwise the number must be watched, and then the
        correlation token decides when the record carries one; otherwise bridge, flow
        and the time window must not contradict it.
        """
        if self.call_ids and record.call_id in self.call_ids:
            return True
        if self.number_of(record) is None:
            return False
        if self.correlation_token and record.correlation_token:
            return record.correlation_token == self.correlation_token
        if self.bridge and record.bridge and not same_bridge(record.bridge, self.bridge):
            return False
        if self.flow_id and record.flow_id and not same_flow(record.flow_id, self.flow_id):
            return False
        opens, closes, started = self.opens, self.closes, record.started_at
        if started and opens and started < opens - call_logs.CLOCK_SKEW:
            return False
        return not (started and closes and started > closes)


def _number_index(watched: Sequence[str], country: str | None) -> dict[str, str]:
    """Digits -> watched number, for the full form and, with a country code, the national one."""
    index: dict[str, str] = {}
    for number in watched:
        full = numbers.digits(number)
        index.setdefault(full, number)
        if country and full.startswith(country) and len(full) > len(country):
            index.setdefault(full[len(country) :], number)
    return index


class RecordsByNumber:
    """The records of one listing, found by callee digits: a wait looks up its own numbers.

    A shared listing holds the calls of many waits; scanning all of it for each one would
    cost waits x records. :meth:`belonging_to` gives what ``CallWatch.belongs`` accepts,
    in the listing's order, so :func:`correlate` sees what a wait's own listing showed.
    """

    def __init__(self, records: Sequence[CallRecord]) -> None:
        self._by_digits: dict[str, list[tuple[int, CallRecord]]] = {}
        for position, record in enumerate(records):
            self._by_digits.setdefault(numbers.digits(record.number), []).append((position, record))

    def belonging_to(self, watch: CallWatch) -> list[CallRecord]:
        # Every record whose number the watch knows, then the one rule; each record is
        # filed under one digit string, so none is found twice.
        found = [
            (position, record)
            for digits in watch.numbers_by_digits
            for position, record in self._by_digits.get(digits, ())
            if watch.belongs(record)
        ]
        return [record for _, record in sorted(found, key=lambda pair: pair[0])]


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
        country_code=record.get("country_code"),
    )


def batch_watch(call: wire.OutboundCall, since: str, country_code: str | None = None) -> CallWatch:
    """The watch of one outbound request sent at ``since``: to settle a lost answer."""
    return CallWatch(
        numbers=call.to,
        bridge=call.bridge,
        start_time=since,
        flow_id=call.flow_id,
        correlation_token=call.correlation_token,
        country_code=country_code,
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
    oldest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    best: dict[str, CallRecord] = {}
    for record in records:
        number = watch.number_of(record)
        if number is None or not watch.belongs(record):
            continue
        current = best.get(number)
        if current is None or (record.final, record.started_at or oldest) >= (
            current.final,
            current.started_at or oldest,
        ):
            best[number] = record
    outcomes = []
    for number in watch.numbers:
        found = best.get(number)
        if found is None:
            outcomes.append(CallOutcome(number, None, StatusCategory.PENDING))
        else:
            outcomes.append(CallOutcome(number, found.status, found.category, found.call_id, found.duration))
    return outcomes
