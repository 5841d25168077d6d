"""Submitting a campaign: many batches of numbers, each sent to Kaleyra at most once.

Kaleyra documents no idempotency key, so a request that may have reached it must never
be sent again by a retry. Each batch's :class:`BatchEntry` is written to a durable store
(see ``batch_state``):

* ``sending`` only once the request is fully built, just before it leaves: anything
  raised while building it leaves no trace, so nothing blocks a later try;
* then what the answer proves: ``accepted``; ``refused`` (an answer that says Kaleyra
  did nothing, ``wire.nothing_done``); ``not_sent`` (the connection never opened); or
  ``unknown`` (no answer, or one that does not say: an unknown code, a 5xx).

A later try reads the entries back, first settles ``sending``/``unknown`` batches from
Kaleyra's call log (:meth:`Campaign.settle_lost_answers`), then :func:`decide_batch` says
per batch whether to reuse it, send it, or stop because nobody knows whether Kaleyra acted.

Up to ``max_active_requests`` POSTs are in flight at once (threads share the hook's
keep-alive session); building requests and every store read and write stay on the
calling thread.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow_provider_kaleyra import correlation, wire
from airflow_provider_kaleyra.batch_state import CAMPAIGN_KEY, batch_key
from airflow_provider_kaleyra.exceptions import (
    KaleyraError,
    KaleyraOutcomeUnknownError,
    KaleyraPermanentError,
    KaleyraTransientError,
    transport_failure,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from logging import Logger

    from airflow_provider_kaleyra.batch_state import BatchStore
    from airflow_provider_kaleyra.call_logs import CallLogListing, CallLogQuery

#: Progress is logged about ten times per campaign, and at least this often (seconds).
PROGRESS_INTERVAL = 10.0

Prepared = TypeVar("Prepared")


class BatchStatus(str, Enum):
    #: Written just before the POST leaves: if nothing follows, nobody knows whether Kaleyra acted.
    SENDING = "sending"
    ACCEPTED = "accepted"
    #: Kaleyra answered that it did nothing (``wire.nothing_done``): safe to send again.
    REFUSED = "refused"
    #: The connection never opened: nothing left this machine.
    NOT_SENT = "not_sent"
    #: Sent, and the answer (or its absence) does not say whether Kaleyra dialled.
    UNKNOWN = "unknown"


#: What a try may find for a batch that an earlier try sent without learning the outcome.
UNSETTLED = frozenset({BatchStatus.SENDING, BatchStatus.UNKNOWN})


@dataclass(frozen=True)
class BatchEntry:
    """One batch's stored state; :meth:`to_json` / :meth:`from_json` are its only JSON form."""

    status: BatchStatus
    size: int
    first: str
    last: str
    #: When the request was about to leave (UTC ISO 8601): the call-log window opens here.
    since: str
    try_number: int | None = None
    #: Every number, comma-separated, where the store can hold it (see ``batch_state``).
    numbers: str = ""
    code: str | None = None
    message: str | None = None
    http_status: int | None = None
    error: str | None = None
    submitted_at: str | None = None
    call_ids: tuple[str, ...] = ()

    @classmethod
    def sending(cls, call: wire.OutboundCall, try_number: int | None) -> BatchEntry:
        return cls(
            status=BatchStatus.SENDING,
            size=len(call.to),
            first=call.to[0],
            last=call.to[-1],
            since=wire.utc_now_iso(),
            try_number=try_number,
            numbers=",".join(call.to),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status.value,
            "size": self.size,
            "first": self.first,
            "last": self.last,
            "since": self.since,
            "try_number": self.try_number,
        }
        optional = {
            "numbers": self.numbers,
            "code": self.code,
            "message": self.message,
            "http_status": self.http_status,
            "error": self.error,
            "submitted_at": self.submitted_at,
            "call_ids": list(self.call_ids),
        }
        data.update({k: v for k, v in optional.items() if v not in (None, "", [])})
        return data

    @classmethod
    def from_json(cls, data: Any) -> BatchEntry | None:
        if not isinstance(data, dict) or "status" not in data:
            return None
        return cls(
            status=_status_of(data),
            size=int(data.get("size") or 0),
            first=str(data.get("first") or ""),
            last=str(data.get("last") or ""),
            since=str(data.get("since") or data.get("submitted_at") or ""),
            try_number=data.get("try_number"),
            numbers=str(data.get("numbers") or ""),
            code=data.get("code"),
            message=data.get("message"),
            http_status=data.get("http_status"),
            error=data.get("error"),
            submitted_at=data.get("submitted_at"),
            call_ids=tuple(data.get("call_ids") or ()),
        )

    def answer(self) -> str:
        """What Kaleyra answered, for messages: its code, else the HTTP status, else the error."""
        if self.code:
            text = f"Kaleyra answered {self.code}"
            text += f" {self.message!r}" if self.message else ""
            return text + (f" (HTTP {self.http_status})" if self.http_status else "")
        if self.http_status:
            return f"Kaleyra answered HTTP {self.http_status}"
        return self.error or "no answer came back"


def _status_of(data: Mapping[str, Any]) -> BatchStatus:
    """The status of a stored entry, including the one ``rejected`` of earlier versions.

    An old ``rejected`` meant any failed answer; it is read by what the answer proves, so
    an entry stored after an unknown code is never sent again.
    """
    status = data.get("status")
    if status == "rejected":
        if data.get("http_status") is None and data.get("code") is None:
            return BatchStatus.NOT_SENT
        if wire.nothing_done(data.get("code"), data.get("http_status")):
            return BatchStatus.REFUSED
        return BatchStatus.UNKNOWN
    try:
        return BatchStatus(status)
    except ValueError:
        return BatchStatus.UNKNOWN  # a state this version does not know: assume the worst


class Action(str, Enum):
    """What this try does with one batch."""

    SEND = "send"
    #: Accepted by an earlier try: its record is reused, it is not sent again.
    REUSE = "reuse"
    #: An earlier try sent it and nothing says whether Kaleyra dialled: not sent, the task fails.
    UNKNOWN = "unknown"


def decide_batch(entry: BatchEntry | None, *, redial_unknown: bool) -> Action:
    """The one place that decides whether a batch touched by an earlier try is sent again.

    Call it after :meth:`Campaign.settle_lost_answers`, which turns an unsettled batch
    whose calls are in Kaleyra's call log into an accepted one.

    :param entry: the batch's stored state, ``None`` if no try has touched it.
    :param redial_unknown: the user accepts dialling a batch whose outcome is unknown again.
    """
    if entry is None or entry.status in (BatchStatus.REFUSED, BatchStatus.NOT_SENT):
        return Action.SEND
    if entry.status is BatchStatus.ACCEPTED:
        return Action.REUSE
    return Action.SEND if redial_unknown else Action.UNKNOWN


def fingerprint(calls: Sequence[wire.OutboundCall]) -> str:
    """Identifies what a campaign dials: flow or spoken message, bridge and every full number in order."""
    digest = hashlib.sha256()
    first = calls[0]
    digest.update(f"{first.flow_id}\x1f{first.bridge}\x1f".encode())
    if first.message is not None:
        # Only spoken calls add this: a flow campaign's fingerprint is what earlier versions stored.
        digest.update(f"{wire.encode_message_target(first.message)}\x1f".encode())
    for call in calls:
        digest.update(",".join(call.to).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()[:32]


def describe_batches(indexes: Sequence[int], calls: Sequence[wire.OutboundCall]) -> str:
    """``batch 3/20 (100 numbers, +9188... to +9188...)``, for errors."""
    return "; ".join(
        f"batch {i + 1}/{len(calls)} ({len(calls[i].to)} numbers, {calls[i].to[0]} to {calls[i].to[-1]})"
        for i in indexes
    )


@dataclass
class CampaignResult:
    """Every batch's final stored entry, in order, and where they are stored."""

    entries: list[BatchEntry]
    location: str
    reused: int = 0
    sent: int = 0


@dataclass
class _Answer:
    submission: wire.Submission | None = None
    error: BaseException | None = None


@dataclass
class Campaign(Generic[Prepared]):
    """One campaign run; :meth:`run` sends what needs sending and returns every batch.

    :param prepare: builds one batch's request completely (``KaleyraHook.prepare_submit``);
        whatever it raises, nothing was sent. Called on this thread.
    :param send: sends a prepared request and returns what Kaleyra accepted
        (``KaleyraHook.send_submit``); raises a ``KaleyraError`` otherwise. Called from
        worker threads.
    :param calls: the validated batches, at most 100 numbers each.
    :param store: durable per-task-instance state.
    :param max_active_requests: POSTs in flight at once.
    :param redial_unknown: send again batches whose outcome an earlier try never learned.
    :param call_logs: lists Kaleyra's call log (``KaleyraHook.call_logs``), to settle lost answers.
    :param country_code: the campaign's ``prefix`` country code, for matching call logs.
    :param try_number: recorded in the state, for people reading it.
    """

    prepare: Callable[[wire.OutboundCall], Prepared]
    send: Callable[[Prepared], wire.Submission]
    calls: Sequence[wire.OutboundCall]
    store: BatchStore
    log: Logger
    max_active_requests: int = 1
    redial_unknown: bool = False
    call_logs: Callable[[CallLogQuery], CallLogListing] | None = None
    country_code: str | None = None
    try_number: int | None = None
    clock: Callable[[], float] = time.monotonic
    entries: list[BatchEntry | None] = field(default_factory=list, init=False)
    _last_progress: float = field(default=0.0, init=False)
    _settled: int = field(default=0, init=False)

    # ------------------------------------------------------------------ the run

    def run(self) -> CampaignResult:
        total = len(self.calls)
        self.entries = self._resume()
        self.settle_lost_answers()
        plan = [decide_batch(entry, redial_unknown=self.redial_unknown) for entry in self.entries]
        reuse = [i for i, action in enumerate(plan) if action is Action.REUSE]
        send = [i for i, action in enumerate(plan) if action is Action.SEND]
        if reuse:
            self.log.info(
                "%d of %d batch(es) (%s numbers) were accepted by an earlier try and are not sent again",
                len(reuse),
                total,
                f"{sum(len(self.calls[i].to) for i in reuse):,}",
            )
        self._settled = len(reuse)
        self._last_progress = self.clock()
        failure = self._send(send)
        self._raise_for(failure, previously_unknown=[i for i, action in enumerate(plan) if action is Action.UNKNOWN])
        entries = [e for e in self.entries if e is not None]
        return CampaignResult(entries, self.store.location, reused=len(reuse), sent=len(send))

    def settle_lost_answers(self) -> None:
        """Batches an earlier try sent without learning the outcome: accepted if Kaleyra's
        call log shows their calls. Not seeing them proves nothing (the log may lag)."""
        for index, entry in enumerate(self.entries):
            if entry is None or entry.status not in UNSETTLED or self.call_logs is None:
                continue
            watch = correlation.batch_watch(self.calls[index], entry.since, self.country_code)
            try:
                listing = self.call_logs(watch.query())
            except KaleyraError as error:
                self.log.warning("Could not read Kaleyra's call log to settle batch %d: %s", index + 1, error)
                continue
            if not any(watch.belongs(record) for record in listing.records):
                continue
            self._store(
                index,
                replace(
                    entry,
                    status=BatchStatus.ACCEPTED,
                    message="outcome was unknown; its calls are in Kaleyra's call log",
                    submitted_at=entry.since,
                ),
            )
            self.log.info(
                "Batch %d/%d: its outcome was unknown (%s), but Kaleyra's call log shows its calls; not sent again",
                index + 1,
                len(self.calls),
                entry.answer(),
            )

    def _resume(self) -> list[BatchEntry | None]:
        """Earlier tries' entries, or a fresh header when there were none (or none that matter)."""
        total = len(self.calls)
        expected = fingerprint(self.calls)
        header = self.store.get(CAMPAIGN_KEY)
        if isinstance(header, dict) and header.get("fingerprint") == expected and header.get("batches") == total:
            return [BatchEntry.from_json(self.store.get(batch_key(i))) for i in range(total)]
        if isinstance(header, dict):
            stored = range(int(header.get("batches") or 0))
            earlier = [BatchEntry.from_json(self.store.get(batch_key(i))) for i in stored]
            touched = [
                e for e in earlier if e is not None and e.status not in (BatchStatus.REFUSED, BatchStatus.NOT_SENT)
            ]
            if touched:
                raise KaleyraPermanentError(
                    f"An earlier try of this task instance already sent {len(touched)} batch(es) of a different "
                    "list of numbers, flow or bridge; sending this one could dial people twice. Run it in a new "
                    f"DAG run, or delete the stored state ({self.store.location}) to allow it."
                )
        self.store.set(CAMPAIGN_KEY, {"fingerprint": expected, "batches": total, "created_at": wire.utc_now_iso()})
        return [None] * total

    def _store(self, index: int, entry: BatchEntry) -> None:
        self.store.set(batch_key(index), entry.to_json())
        self.entries[index] = entry

    # ------------------------------------------------------------------ sending

    def _send(self, indexes: list[int]) -> BaseException | None:
        """Send ``indexes`` in order, at most ``max_active_requests`` at once; stop at the first failure."""
        pending = deque(indexes)
        failure: BaseException | None = None
        workers = max(1, min(self.max_active_requests, len(indexes)))
        with ThreadPoolExecutor(workers, thread_name_prefix="kaleyra-batch") as pool:
            in_flight: dict[Future[_Answer], int] = {}
            while in_flight or (pending and failure is None):
                while pending and failure is None and len(in_flight) < self.max_active_requests:
                    index = pending.popleft()
                    try:
                        prepared = self.prepare(self.calls[index])
                    except Exception as error:  # nothing left this machine: no trace is stored
                        failure = error
                        break
                    # Stored right before the POST: if this process dies now, the next try knows.
                    self._store(index, BatchEntry.sending(self.calls[index], self.try_number))
                    in_flight[pool.submit(self._attempt, prepared)] = index
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    failure = self._settle(in_flight.pop(future), future.result()) or failure
        return failure

    def _attempt(self, prepared: Prepared) -> _Answer:
        try:
            return _Answer(submission=self.send(prepared))
        except Exception as error:  # reported on the main thread, which stores it
            return _Answer(error=error)

    def _settle(self, index: int, answer: _Answer) -> BaseException | None:
        """Store what Kaleyra's answer proves for one batch; the error that stops the campaign, if any."""
        entry = self.entries[index]
        assert entry is not None
        error = answer.error
        if answer.submission is not None:
            entry = replace(
                entry,
                status=BatchStatus.ACCEPTED,
                code=answer.submission.code,
                message=answer.submission.message,
                submitted_at=answer.submission.submitted_at,
                call_ids=tuple(answer.submission.call_ids),
            )
        elif isinstance(error, KaleyraError) and not isinstance(error, KaleyraOutcomeUnknownError):
            # The hook raises anything else than an unknown outcome only when Kaleyra did nothing.
            status = BatchStatus.REFUSED if error.http_status is not None else BatchStatus.NOT_SENT
            entry = replace(entry, status=status, **_answer_fields(error))
        else:
            # No answer, an answer that does not say, or an error after the request was handed over.
            entry = replace(entry, status=BatchStatus.UNKNOWN, **_answer_fields(error))
        self._store(index, entry)
        self._settled += 1
        self._progress()
        return error

    def _progress(self) -> None:
        total = len(self.calls)
        step = max(1, total // 10)
        now = self.clock()
        if self._settled == total or self._settled % step == 0 or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            counts = self._counts()
            shown = (BatchStatus.ACCEPTED, BatchStatus.REFUSED, BatchStatus.NOT_SENT, BatchStatus.UNKNOWN)
            self.log.info(
                "batch %d/%d: numbers accepted %s, refused by Kaleyra %s, not sent %s, outcome unknown %s",
                self._settled,
                total,
                *(f"{counts[status]:,}" for status in shown),
            )

    def _counts(self) -> dict[BatchStatus, int]:
        counts = dict.fromkeys(BatchStatus, 0)
        for entry in self.entries:
            if entry is not None:
                counts[entry.status] += entry.size
        return counts

    # ------------------------------------------------------------------ the verdict

    def _answers(self, indexes: list[int]) -> str:
        """``batch 2/3 (100 numbers, ...): Kaleyra answered ...`` for each batch, for messages."""
        return "; ".join(
            f"{describe_batches([i], self.calls)}: {entry.answer()}"
            for i in indexes
            if (entry := self.entries[i]) is not None
        )

    def _dialled(self) -> str:
        """What was and was not dialled, said at the end of every failure."""
        counts = self._counts()
        accepted = counts[BatchStatus.ACCEPTED]
        maybe = sum(counts[status] for status in UNSETTLED)
        rest = sum(len(call.to) for call in self.calls) - accepted - maybe
        if not accepted and not maybe:
            return "Nobody was dialled"
        said = []
        if accepted:
            batches = sum(1 for e in self.entries if e is not None and e.status is BatchStatus.ACCEPTED)
            said.append(
                f"Kaleyra accepted {accepted:,} number(s) ({batches} of {len(self.calls)} batches), never sent "
                "again by this task instance"
            )
        if maybe:
            said.append(f"{maybe:,} may have been dialled")
        if rest:
            said.append(f"{rest:,} were not dialled")
        return "; ".join(said)

    def _raise_for(self, failure: BaseException | None, previously_unknown: list[int]) -> None:
        unknown = [
            i
            for i, e in enumerate(self.entries)
            if e is not None and e.status in UNSETTLED and i not in previously_unknown
        ]
        if previously_unknown:
            reasons = self._answers(previously_unknown)
            # This try's own unknown batches are named too: no retry follows, and this is what the user reads.
            also = self._answers(unknown)
            raise KaleyraOutcomeUnknownError(
                f"Outcome unknown for {reasons}. An earlier try sent them and nothing says whether Kaleyra "
                "dialled, nor do its call logs show the calls; they are not sent again (set redial_unknown=True "
                f"to accept dialling them twice). {self._dialled()}."
                + (f" This try sent more whose outcome is unknown, not sent again either: {also}." if also else "")
                + (f" This try also failed: {failure}" if failure else "")
            )
        if unknown:
            # The next try settles them from the call log, sends what was never sent, and never these.
            reasons = self._answers(unknown)
            raise KaleyraTransientError(
                f"Outcome unknown for {reasons}. A retry looks for their calls in Kaleyra's call log and sends "
                f"only batches never sent. {self._dialled()}."
            )
        if failure is None:
            return
        if not isinstance(failure, KaleyraError):
            raise failure  # raised while building a request: nothing of it was sent
        # One message, not two: the batch's error is said here with what it means for the
        # campaign, so it is not chained (its traceback would repeat the same words).
        code, message, http_status = failure.code, failure.kaleyra_message, failure.http_status
        if isinstance(failure, KaleyraPermanentError):
            raise KaleyraPermanentError(
                f"{failure.text}. {self._dialled()}; the task fails without retry",
                code=code,
                message=message,
                http_status=http_status,
                sent=failure.sent,
            ) from None
        raise KaleyraTransientError(
            f"{failure.text}. {self._dialled()}; a retry sends only what Kaleyra did not accept",
            retry_after=getattr(failure, "retry_after", None),
            code=code,
            message=message,
            http_status=http_status,
            sent=failure.sent,
        ) from None


def _answer_fields(error: BaseException | None) -> dict[str, Any]:
    if isinstance(error, KaleyraError) and (error.http_status is not None or error.code is not None):
        return {
            "code": error.code,
            "message": error.kaleyra_message,
            "http_status": error.http_status,
            "error": str(error),
        }
    # No answer at all: what the transport said is the whole story, said briefly. The
    # hook's error keeps the transport's exception as its context (hidden from tracebacks).
    cause = (error.__cause__ or error.__context__) if isinstance(error, KaleyraError) else error
    return {"error": f"no answer came back ({transport_failure(cause)})" if cause else "no answer came back"}
