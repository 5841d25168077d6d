"""Submitting a campaign: many batches of numbers, each sent to Kaleyra at most once.

Kaleyra documents no idempotency key, so a request it accepted must never be sent
again by a retry. Each batch's state is written to a durable store (see
``batch_state``) before its POST (``sending``) and after Kaleyra's answer
(``accepted`` or ``rejected``, with whether the rejection was transient). A later try
of the same task instance reads it back and :func:`decide_batch` says, per batch,
whether to reuse, send, or stop because nobody knows whether Kaleyra acted.

Up to ``max_active_requests`` POSTs are in flight at once (threads share the hook's
keep-alive session); all store reads and writes stay on the calling thread.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.batch_state import CAMPAIGN_KEY, batch_key
from airflow_provider_kaleyra.exceptions import (
    KaleyraError,
    KaleyraOutcomeUnknownError,
    KaleyraPermanentError,
    KaleyraTransientError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from logging import Logger

    from airflow_provider_kaleyra.batch_state import BatchStore

#: Above this many numbers the XCom record carries counts and batch ranges, not every number.
XCOM_NUMBERS_LIMIT = 1000
#: Progress is logged about ten times per campaign, and at least this often (seconds).
PROGRESS_INTERVAL = 10.0


class BatchStatus(str, Enum):
    #: Written before the POST: if nothing follows, nobody knows whether Kaleyra acted.
    SENDING = "sending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Action(str, Enum):
    """What this try does with one batch."""

    SEND = "send"
    #: Accepted by an earlier try: its record is reused, it is not sent again.
    REUSE = "reuse"
    #: An earlier try sent it and got no answer: not sent, the task fails listing it.
    UNKNOWN = "unknown"


def decide_batch(entry: dict[str, Any] | None, *, redial_unknown: bool, seen_in_call_log: bool = False) -> Action:
    """The one place that decides whether a batch touched by an earlier try is sent again.

    :param entry: the batch's stored state, ``None`` if no try has touched it.
    :param redial_unknown: the user accepts dialling a batch whose outcome is unknown again.
    :param seen_in_call_log: Kaleyra's call log shows calls of a batch whose answer was
        lost, so Kaleyra did accept it. Not seeing them proves nothing (the log may lag).
    """
    if entry is None:
        return Action.SEND
    status = entry.get("status")
    if status == BatchStatus.ACCEPTED:
        return Action.REUSE
    if status == BatchStatus.REJECTED:
        # Kaleyra answered that it did not act on it: sending again dials nobody twice.
        return Action.SEND
    if seen_in_call_log:
        return Action.REUSE
    return Action.SEND if redial_unknown else Action.UNKNOWN


def fingerprint(calls: Sequence[wire.OutboundCall]) -> str:
    """Identifies what a campaign dials: flow, bridge, prefix and every number in order."""
    digest = hashlib.sha256()
    first = calls[0]
    digest.update(f"{first.flow_id}\x1f{first.bridge}\x1f{first.prefix or ''}\x1f".encode())
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

    entries: list[dict[str, Any]]
    location: str
    reused: int = 0
    sent: int = 0


@dataclass
class _Outcome:
    submission: wire.Submission | None = None
    error: KaleyraError | None = None


@dataclass
class Campaign:
    """One campaign run; :meth:`run` sends what needs sending and returns every batch.

    :param submit: sends one batch and returns what Kaleyra accepted (``KaleyraHook.submit``);
        raises a ``KaleyraError`` otherwise. Called from worker threads.
    :param calls: the validated batches, at most 100 numbers each.
    :param store: durable per-task-instance state.
    :param max_active_requests: POSTs in flight at once.
    :param redial_unknown: send again batches whose outcome an earlier try never learned.
    :param try_number: recorded in the state, for people reading it.
    :param seen_in_call_log: settles batches whose answer an earlier try lost.
    """

    submit: Callable[[wire.OutboundCall], wire.Submission]
    calls: Sequence[wire.OutboundCall]
    store: BatchStore
    log: Logger
    max_active_requests: int = 1
    redial_unknown: bool = False
    #: Asks Kaleyra's call log whether a batch sent at ``since`` was placed (see ``call_log_check``).
    seen_in_call_log: Callable[[wire.OutboundCall, str], bool] | None = None
    try_number: int | None = None
    clock: Callable[[], float] = time.monotonic
    entries: list[dict[str, Any] | None] = field(default_factory=list)
    _last_progress: float = 0.0
    _settled: int = 0

    # ------------------------------------------------------------------ the run

    def run(self) -> CampaignResult:
        total = len(self.calls)
        self.entries = self._resume()
        plan = [
            decide_batch(entry, redial_unknown=self.redial_unknown, seen_in_call_log=self._placed(i))
            for i, entry in enumerate(self.entries)
        ]
        reuse = [i for i, action in enumerate(plan) if action is Action.REUSE]
        send = [i for i, action in enumerate(plan) if action is Action.SEND]
        if reuse:
            self.log.info(
                "%d of %d batch(es) (%s numbers) were accepted by an earlier try and are not sent again",
                len(reuse),
                total,
                f"{sum(self.entries[i]['size'] for i in reuse):,}",  # type: ignore[index]
            )
        self._settled = len(reuse)
        self._last_progress = self.clock()
        failure = self._send(send)
        unknown = [i for i, entry in enumerate(self.entries) if entry and entry["status"] == BatchStatus.SENDING]
        self._raise_for(failure, unknown, previously_unknown=[i for i in unknown if plan[i] is Action.UNKNOWN])
        return CampaignResult(
            [e for e in self.entries if e is not None], self.store.location, reused=len(reuse), sent=len(send)
        )

    def _placed(self, index: int) -> bool:
        """For a batch left ``sending``: does Kaleyra's call log show its calls? Records it if so."""
        entry = self.entries[index]
        if self.seen_in_call_log is None or not entry or entry.get("status") != BatchStatus.SENDING:
            return False
        try:
            seen = self.seen_in_call_log(self.calls[index], entry["since"])
        except KaleyraError as error:
            self.log.warning("Could not read Kaleyra's call log to settle batch %d: %s", index + 1, error)
            return False
        if seen:
            entry = {
                **entry,
                "status": BatchStatus.ACCEPTED.value,
                "message": "answer lost; its calls are in Kaleyra's call log",
                "submitted_at": entry["since"],
            }
            self.store.set(batch_key(index), entry)
            self.entries[index] = entry
            self.log.info(
                "Batch %d/%d: the answer was lost, but Kaleyra's call log shows its calls; not sent again",
                index + 1,
                len(self.calls),
            )
        return seen

    def _resume(self) -> list[dict[str, Any] | None]:
        """Earlier tries' entries, or a fresh header when there were none (or none that matter)."""
        total = len(self.calls)
        print_ = fingerprint(self.calls)
        header = self.store.get(CAMPAIGN_KEY)
        if isinstance(header, dict) and header.get("fingerprint") == print_ and header.get("batches") == total:
            return [self.store.get(batch_key(i)) for i in range(total)]
        if isinstance(header, dict):
            earlier = [self.store.get(batch_key(i)) for i in range(int(header.get("batches") or 0))]
            touched = [e for e in earlier if isinstance(e, dict) and e.get("status") != BatchStatus.REJECTED]
            if touched:
                raise KaleyraPermanentError(
                    f"An earlier try of this task instance already sent {len(touched)} batch(es) of a different "
                    "list of numbers, flow or bridge; sending this one could dial people twice. Run it in a new "
                    f"DAG run, or delete the stored state ({self.store.location}) to allow it."
                )
        self.store.set(CAMPAIGN_KEY, {"fingerprint": print_, "batches": total, "created_at": wire.utc_now_iso()})
        return [None] * total

    # ------------------------------------------------------------------ sending

    def _send(self, indexes: list[int]) -> KaleyraError | None:
        """Send ``indexes`` in order, at most ``max_active_requests`` at once; stop at the first failure."""
        pending = deque(indexes)
        failure: KaleyraError | None = None
        if self.max_active_requests <= 1 or len(indexes) <= 1:
            while pending and failure is None:
                index = pending.popleft()
                self._mark_sending(index)
                failure = self._settle(index, self._attempt(index))
            return failure
        with ThreadPoolExecutor(self.max_active_requests, thread_name_prefix="kaleyra-batch") as pool:
            in_flight: dict[Future[_Outcome], int] = {}
            while in_flight or (pending and failure is None):
                while pending and failure is None and len(in_flight) < self.max_active_requests:
                    index = pending.popleft()
                    self._mark_sending(index)
                    in_flight[pool.submit(self._attempt, index)] = index
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    failure = self._settle(in_flight.pop(future), future.result()) or failure
        return failure

    def _attempt(self, index: int) -> _Outcome:
        try:
            return _Outcome(submission=self.submit(self.calls[index]))
        except KaleyraError as error:
            return _Outcome(error=error)

    def _mark_sending(self, index: int) -> None:
        call = self.calls[index]
        entry = {
            "status": BatchStatus.SENDING.value,
            "size": len(call.to),
            "first": call.to[0],
            "last": call.to[-1],
            # The full list, where the store can hold it (see ``batch_state``).
            "numbers": ",".join(call.to),
            "try_number": self.try_number,
            "since": wire.utc_now_iso(),
        }
        # Stored before the POST: if this process dies now, the next try knows.
        self.store.set(batch_key(index), entry)
        self.entries[index] = entry

    def _settle(self, index: int, outcome: _Outcome) -> KaleyraError | None:
        """Store Kaleyra's answer for one batch; the error that stops the campaign, if any."""
        entry = dict(self.entries[index] or {})
        error = outcome.error
        if outcome.submission is not None:
            entry.update(
                status=BatchStatus.ACCEPTED.value,
                code=outcome.submission.code,
                message=outcome.submission.message,
                submitted_at=outcome.submission.submitted_at,
                call_ids=outcome.submission.call_ids,
            )
        elif isinstance(error, KaleyraOutcomeUnknownError):
            entry["error"] = str(error)  # still ``sending``: that is all anyone knows
        elif error is not None:
            entry.update(
                status=BatchStatus.REJECTED.value,
                transient=isinstance(error, KaleyraTransientError),
                code=error.code,
                http_status=error.http_status,
                error=str(error),
            )
        self.store.set(batch_key(index), entry)
        self.entries[index] = entry
        self._settled += 1
        self._progress()
        return error

    def _progress(self) -> None:
        total = len(self.calls)
        step = max(1, total // 10)
        now = self.clock()
        if self._settled == total or self._settled % step == 0 or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            accepted = sum(e["size"] for e in self.entries if e and e["status"] == BatchStatus.ACCEPTED)
            rejected = sum(e["size"] for e in self.entries if e and e["status"] == BatchStatus.REJECTED)
            self.log.info(
                "batch %d/%d, %s numbers accepted, %s rejected", self._settled, total, f"{accepted:,}", f"{rejected:,}"
            )

    # ------------------------------------------------------------------ the verdict

    def _raise_for(self, failure: KaleyraError | None, unknown: list[int], previously_unknown: list[int]) -> None:
        total = len(self.calls)
        accepted = [i for i, e in enumerate(self.entries) if e and e["status"] == BatchStatus.ACCEPTED]
        done = (
            f"{len(accepted)} of {total} batch(es) ({sum(self.entries[i]['size'] for i in accepted):,} numbers) "  # type: ignore[index]
            f"are accepted and are never sent again by this task instance"
        )
        if previously_unknown:
            raise KaleyraOutcomeUnknownError(
                f"Outcome unknown for {describe_batches(previously_unknown, self.calls)}: an earlier try "
                "sent them and got no answer, so Kaleyra may have dialled them; they are not sent again (set "
                f"redial_unknown=True to accept dialling them twice). {done}."
                + (f" This try also failed: {failure}" if failure else "")
            )
        if unknown:
            # The next try settles it: sends what was never sent, fails listing these.
            raise KaleyraTransientError(
                f"Outcome unknown for {describe_batches(unknown, self.calls)}: {failure}. A retry of this "
                f"task sends the batches never sent and not these. {done}."
            )
        if failure is None:
            return
        if isinstance(failure, KaleyraPermanentError):
            raise KaleyraPermanentError(f"{failure} -- {done}; the task fails without retry") from failure
        raise KaleyraTransientError(f"{failure} -- {done}; a retry sends only the rest") from failure


def call_log_check(
    call_logs: Callable[[wire.CallLogQuery], wire.CallLogPage],
) -> Callable[[wire.OutboundCall, str], bool]:
    """``Campaign.seen_in_call_log`` backed by a hook's ``call_logs``."""

    def seen(call: wire.OutboundCall, since: str) -> bool:
        watch = wire.CallWatch(
            numbers=call.to,
            bridge=call.bridge,
            start_time=since,
            flow_id=call.flow_id,
            correlation_token=call.correlation_token,
        )
        return bool(wire.calls_of_batch(call, call_logs(watch.query()).records))

    return seen


def campaign_record(
    result: CampaignResult,
    calls: Sequence[wire.OutboundCall],
    *,
    duplicates: list[str],
    invalid_skipped: list[str],
    xcom_numbers_limit: int = XCOM_NUMBERS_LIMIT,
) -> dict[str, Any]:
    """The operator's XCom: one JSON record summarising every batch of the campaign.

    ``numbers`` and ``call_ids`` list everything when the campaign has at most
    ``xcom_numbers_limit`` numbers; above that they are left out (``numbers_in_xcom``
    is false), each batch keeps its first and last number, and the full list is in the
    stored state (``state_location``; see ``batch_state`` for what each store keeps).
    """
    entries = result.entries
    first_call = calls[0]
    count = sum(e["size"] for e in entries)
    whole = count <= xcom_numbers_limit
    numbers = [n for call in calls for n in call.to]
    return {
        "code": entries[0].get("code"),
        "message": entries[0].get("message"),
        "numbers": numbers if whole else [],
        "numbers_count": count,
        "numbers_in_xcom": whole,
        "bridge": first_call.bridge,
        "flow_id": first_call.flow_id,
        "submitted_at": min(e["submitted_at"] for e in entries),
        "correlation_token": first_call.correlation_token,
        "call_ids": [c for e in entries for c in e.get("call_ids", [])] if whole else [],
        "duplicates_dropped": duplicates,
        "invalid_skipped": invalid_skipped,
        "state_location": result.location,
        "batches_reused": result.reused,
        "batches": [
            {
                "size": e["size"],
                "code": e.get("code"),
                "submitted_at": e["submitted_at"],
                "first": e["first"],
                "last": e["last"],
            }
            for e in entries
        ],
    }
