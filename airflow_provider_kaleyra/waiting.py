"""Waiting for the calls of a submission: the poll step, the events, and how a wait ends.

The trigger (async, in the triggerer) and the sync paths (sensor poke, operator without
deferral) take the same steps and end with the same events, so ``complete`` handles
every wait alike. Events are plain JSON:

* ``{"status": "done", "result": ...}``: every call final, or the verdict already certain;
* ``{"status": "timeout", "result": ...}``: the deadline passed with numbers pending;
* ``{"status": "error", "message": ..., "permanent": bool, "failed_polls": n}``: polling failed.

While a wait goes on, ``progress.ProgressLog`` says how far it got.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import correlation, outcomes
from airflow_provider_kaleyra.exceptions import KaleyraError, KaleyraPermanentError, KaleyraTransientError
from airflow_provider_kaleyra.progress import ProgressLog

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_provider_kaleyra.call_logs import CallLogListing

DONE, TIMEOUT, ERROR = "done", "timeout", "error"
#: Consecutive failed polls after which a wait gives up with an error event.
DEFAULT_MAX_POLL_FAILURES = 5
#: The longest pause between polls after failures.
MAX_POLL_BACKOFF = 300.0
#: Unreadable call-log entries quoted in the result (all are counted).
UNREADABLE_SHOWN = 20


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def deadline_after(start: str | dt.datetime, seconds: float) -> str:
    """The absolute deadline (ISO 8601, UTC) ``seconds`` after ``start``."""
    begin = dt.datetime.fromisoformat(start) if isinstance(start, str) else start
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=dt.timezone.utc)
    return (begin + dt.timedelta(seconds=seconds)).astimezone(dt.timezone.utc).isoformat()


@dataclass(frozen=True)
class Poll:
    """What one listing says: the event that ends the wait (or None) and the tally behind it."""

    event: dict[str, Any] | None
    tally: outcomes.Tally


@dataclass(frozen=True)
class Wait:
    """One wait: which calls, by which policy, until when. JSON round-trips via ``as_kwargs``."""

    watch: correlation.CallWatch
    policy: outcomes.OutcomePolicy
    deadline: str
    poll_interval: float = 30.0
    max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "watch": self.watch.as_dict(),
            "policy": self.policy.as_dict(),
            "deadline": self.deadline,
            "poll_interval": self.poll_interval,
            "max_poll_failures": self.max_poll_failures,
        }

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> Wait:
        return cls(
            watch=correlation.CallWatch.from_dict(kwargs["watch"]),
            policy=outcomes.OutcomePolicy.from_dict(kwargs["policy"]),
            deadline=kwargs["deadline"],
            poll_interval=float(kwargs.get("poll_interval", 30.0)),
            max_poll_failures=int(kwargs.get("max_poll_failures", DEFAULT_MAX_POLL_FAILURES)),
        )

    def seconds_left(self, now: dt.datetime | None = None) -> float:
        return (dt.datetime.fromisoformat(self.deadline) - (now or utc_now())).total_seconds()

    def after_poll(self, listing: CallLogListing, now: dt.datetime | None = None) -> dict[str, Any] | None:
        """The event this poll ends the wait with, or None to poll again."""
        return self.poll(listing, now).event

    def poll(self, listing: CallLogListing, now: dt.datetime | None = None) -> Poll:
        """The tally of one listing, and the event it ends the wait with (None: poll again)."""
        state = outcomes.tally(self.watch, listing.records, self.policy)
        result = outcomes.result_of(self.watch, state.outcomes)
        if listing.problems:
            # Reported, never dropped: an unreadable entry may be one of the pending calls.
            result["unreadable_entries"] = listing.problems[:UNREADABLE_SHOWN]
            result["unreadable_count"] = len(listing.problems)
        if listing.cut_off:
            result["listing_cut_off"] = listing.cut_off
        if state.settled:
            return Poll({"status": DONE, "result": result}, state)
        if self.seconds_left(now) <= 0:
            return Poll({"status": TIMEOUT, "result": result}, state)
        return Poll(None, state)

    def pause_after_failure(self, failed_polls: int) -> float:
        """Exponential backoff between failed polls, never past the deadline by much."""
        return min(MAX_POLL_BACKOFF, self.poll_interval * 2 ** (failed_polls - 1))

    def after_failure(self, error: BaseException, failed_polls: int, log: Any) -> dict[str, Any] | None:
        """The error event after ``failed_polls`` failed polls in a row, or None to poll again.

        The hook already retried the request itself; a permanent error (wrong key, say)
        ends the wait at once, a transient one after ``max_poll_failures`` in a row.
        """
        if isinstance(error, KaleyraPermanentError) or failed_polls >= self.max_poll_failures:
            return error_event(error, failed_polls)
        log.warning(
            "Polling Kaleyra call logs failed (%d in a row): %s; next poll in %.0fs",
            failed_polls,
            error,
            self.pause_after_failure(failed_polls),
        )
        return None


def error_event(error: BaseException, failed_polls: int) -> dict[str, Any]:
    return {
        "status": ERROR,
        "message": str(error),
        "permanent": isinstance(error, KaleyraPermanentError),
        "failed_polls": failed_polls,
    }


def wait_sync(
    wait: Wait,
    fetch: Callable[..., CallLogListing],
    log: Any,
    *,
    sleep: Callable[[float], Any] = time.sleep,
) -> dict[str, Any]:
    """Poll on this worker until the wait ends; returns the same events as the trigger."""
    failed_polls = 0
    progress = ProgressLog(log)
    while True:
        try:
            listing = fetch(wait.watch.query(), max_pages=wait.watch.page_budget())
        except (KaleyraError, OSError) as error:
            failed_polls += 1
            event = wait.after_failure(error, failed_polls, log)
            if event is not None:
                return event
            pause = wait.pause_after_failure(failed_polls)
        else:
            failed_polls = 0
            poll = wait.poll(listing)
            if poll.event is not None:
                return poll.event
            progress.note(poll.tally)
            pause = wait.poll_interval
        sleep(max(0.0, min(pause, wait.seconds_left() + 0.01)))


def complete(
    event: Mapping[str, Any] | None,
    policy: outcomes.OutcomePolicy,
    log: Any,
    *,
    keep: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """End a wait: log the summary table, then return the result or raise the policy's failure.

    ``keep`` receives the result before the policy decides, so the outcome table is kept
    (XCom) whether the task then succeeds, fails on the policy or times out.
    """
    status = (event or {}).get("status")
    if status in (DONE, TIMEOUT):
        result = dict(event["result"])  # type: ignore[index]
        log.info("Kaleyra call outcomes:\n%s", outcomes.summary_table(result))
        if keep is not None:
            keep(result)
        failure = outcomes.failure_for(result, policy, timed_out=status == TIMEOUT)
        if failure is not None:
            raise failure
        return result
    if status == ERROR:
        text = (
            f"Could not read Kaleyra call logs ({event.get('failed_polls')} failed poll(s)): "  # type: ignore[union-attr]
            f"{event.get('message')}"  # type: ignore[union-attr]
        )
        if event.get("permanent"):  # type: ignore[union-attr]
            raise KaleyraPermanentError(text)
        raise KaleyraTransientError(text)
    raise KaleyraPermanentError(f"Unexpected event from the Kaleyra call-status trigger: {event!r}")
