"""The outcome policy: when the calls of a submission count as done, and when they fail the task.

Pure: no I/O. The sensor, the trigger and the operator all ask this module, so
"where a call status becomes a task failure" is decided here and nowhere else. The
failures it raises live in ``exceptions`` with every other error (and stay importable
from here).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import call_logs, correlation
from airflow_provider_kaleyra.call_logs import StatusCategory
from airflow_provider_kaleyra.correlation import CallOutcome
from airflow_provider_kaleyra.exceptions import (
    KaleyraCallsFailedError,
    KaleyraCallsTimeoutError,
    KaleyraError,
    KaleyraFlowBrokenError,
    KaleyraInputError,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence


def _statuses(values: Iterable[str] | None) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = values.split(",")
    return frozenset(s for s in (call_logs.normalise_status(v) for v in values) if s)


@dataclass(frozen=True)
class OutcomePolicy:
    """What counts as a good call, and how many bad ones a batch may have.

    :param success_statuses: final statuses that count as success; ANSWER and
        FLOW_ANSWER by default.
    :param failure_statuses: final statuses that count as failed; by default every
        other final status, unknown ones included. A final status in neither set is
        only reported.
    :param min_success_ratio: the task fails when fewer than this share (0..1) of the
        numbers succeed.
    :param max_failed: the task fails when more than this many numbers failed.
        With neither threshold, one failed call fails the task.
    """

    success_statuses: frozenset[str] = call_logs.SUCCESS_STATUSES
    failure_statuses: frozenset[str] | None = None
    min_success_ratio: float | None = None
    max_failed: int | None = None

    @classmethod
    def build(
        cls,
        *,
        success_statuses: Iterable[str] | None = None,
        failure_statuses: Iterable[str] | None = None,
        min_success_ratio: float | None = None,
        max_failed: int | None = None,
    ) -> OutcomePolicy:
        """Check the user's values; a bad one raises KaleyraInputError naming it."""
        if min_success_ratio is not None and not 0 <= float(min_success_ratio) <= 1:
            raise KaleyraInputError("min_success_ratio", min_success_ratio, "must be between 0 and 1")
        if max_failed is not None and (isinstance(max_failed, bool) or int(max_failed) < 0):
            raise KaleyraInputError("max_failed", max_failed, "must be a whole number >= 0")
        if min_success_ratio is not None and max_failed is not None:
            raise KaleyraInputError(
                "max_failed", max_failed, "give min_success_ratio or max_failed, not both"
            )
        success = _statuses(success_statuses)
        if success is not None and not success:
            raise KaleyraInputError("success_statuses", success_statuses, "must name at least one status")
        failure = _statuses(failure_statuses)
        overlap = (success or call_logs.SUCCESS_STATUSES) & (failure or frozenset())
        if overlap:
            raise KaleyraInputError(
                "failure_statuses", failure_statuses, f"{sorted(overlap)} also count as success"
            )
        return cls(
            success_statuses=success if success is not None else call_logs.SUCCESS_STATUSES,
            failure_statuses=failure,
            min_success_ratio=float(min_success_ratio) if min_success_ratio is not None else None,
            max_failed=int(max_failed) if max_failed is not None else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "success_statuses": sorted(self.success_statuses),
            "failure_statuses": sorted(self.failure_statuses) if self.failure_statuses is not None else None,
            "min_success_ratio": self.min_success_ratio,
            "max_failed": self.max_failed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutcomePolicy:
        return cls.build(**data)

    def succeeded(self, outcome: CallOutcome) -> bool:
        return outcome.status in self.success_statuses

    def failed(self, outcome: CallOutcome) -> bool:
        if outcome.category is StatusCategory.PENDING or self.succeeded(outcome):
            return False
        return self.failure_statuses is None or (outcome.status or "") in self.failure_statuses

    def allowed_failures(self, total: int) -> int:
        if self.max_failed is not None:
            return self.max_failed
        if self.min_success_ratio is not None:
            # The largest number of non-successes that still meets the ratio.
            needed = math.ceil(round(self.min_success_ratio * total, 9))
            return max(0, total - needed)
        return 0


@dataclass(frozen=True)
class Tally:
    """The outcomes of one poll, counted the ways the policy and the progress line need."""

    outcomes: list[CallOutcome]
    policy: OutcomePolicy

    @property
    def pending(self) -> list[str]:
        return [o.number for o in self.outcomes if o.category is StatusCategory.PENDING]

    @property
    def configuration_failures(self) -> list[CallOutcome]:
        return [o for o in self.outcomes if o.category is StatusCategory.CONFIGURATION and self.failed(o)]

    def failed(self, outcome: CallOutcome) -> bool:
        return self.policy.failed(outcome)

    @property
    def failures(self) -> list[CallOutcome]:
        return [o for o in self.outcomes if self.policy.failed(o)]

    @property
    def hopeless(self) -> bool:
        """More calls failed than the policy allows: waiting for the rest cannot help."""
        return len(self.failures) > self.policy.allowed_failures(len(self.outcomes))

    @property
    def settled(self) -> bool:
        """Nothing more to wait for: every call final, or the verdict already certain."""
        return not self.pending or bool(self.configuration_failures) or self.hopeless


def tally(watch: correlation.CallWatch, records: Sequence[call_logs.CallRecord], policy: OutcomePolicy) -> Tally:
    return Tally(correlation.correlate(watch, records), policy)


def result_of(watch: correlation.CallWatch, outcomes: Sequence[CallOutcome]) -> dict[str, Any]:
    """The JSON result of a wait (the XCom value): per-number rows and counts per category."""
    counts = Counter(o.category.value for o in outcomes)
    statuses = Counter(o.status or "PENDING" for o in outcomes)
    return {
        "flow_id": watch.flow_id,
        "bridge": watch.bridge,
        "correlation_token": watch.correlation_token,
        "calls": [o.as_row() for o in outcomes],
        "counts": {c.value: counts.get(c.value, 0) for c in StatusCategory if counts.get(c.value)},
        "statuses": dict(sorted(statuses.items())),
        "pending": [o.number for o in outcomes if o.category is StatusCategory.PENDING],
    }


def numbers_with_status(result: Mapping[str, Any] | None, *statuses: str) -> list[str]:
    """The numbers of an outcome table whose calls ended with one of ``statuses``.

    ``result`` is the XCom ``outcomes`` of a wait (None when the task never got that
    far): a downstream task redials, say, ``numbers_with_status(table, "NOANSWER", "BUSY")``.
    """
    wanted = _statuses(statuses) or frozenset()
    return [row["number"] for row in (result or {}).get("calls", []) if row.get("status") in wanted]


def outcomes_in(result: Mapping[str, Any]) -> list[CallOutcome]:
    """The outcomes back from a result (an event payload survives JSON)."""
    outcomes = []
    for row in result.get("calls", []):
        status = None if row.get("status") in (None, "PENDING") else row["status"]
        outcomes.append(
            CallOutcome(
                row["number"], status, call_logs.status_category(status), row.get("call_id"), row.get("duration")
            )
        )
    return outcomes


def _where(watch_flow: str | None, bridge: str | None) -> str:
    # An empty flow id is a spoken call's (``message``, no flow); None is a flow nobody named.
    what = "the spoken message" if watch_flow == "" else f"flow {watch_flow or '(unknown flow)'}"
    return f"{what} from bridge {bridge or '(unknown bridge)'}"


def failure_for(
    result: Mapping[str, Any], policy: OutcomePolicy, *, timed_out: bool = False
) -> KaleyraError | None:
    """The exception a finished wait ends with, or None when the task succeeds.

    The one place a call status becomes a task failure:

    * a configuration status (FLOW_*, BRIDGE_UNAVAILABLE, NOROUTE) fails without retry,
      naming the flow or bridge and what Kaleyra's status means;
    * more failed calls than the policy allows fails, retryable;
    * a deadline with numbers still pending fails, retryable, listing them.
    """
    state = Tally(outcomes_in(result), policy)
    where = _where(result.get("flow_id"), result.get("bridge"))
    broken = state.configuration_failures
    if broken:
        by_status: dict[str, list[str]] = {}
        for o in broken:
            by_status.setdefault(o.status or "", []).append(o.number)
        reasons = "; ".join(
            f"{status} ({call_logs.status_meaning(status)}) for {_numbers(numbers)}"
            for status, numbers in by_status.items()
        )
        return KaleyraFlowBrokenError(
            f"Kaleyra could not run {where}: {reasons}. Fix the flow or bridge in Kaleyra; "
            "retrying the task cannot help"
        )
    if state.hopeless:
        failed = ", ".join(f"{o.number} {o.status}" for o in state.failures[:20])
        return KaleyraCallsFailedError(
            f"{len(state.failures)} of {len(state.outcomes)} calls of {where} failed, "
            f"{_limit(policy, len(state.outcomes))}: {failed}{' ...' if len(state.failures) > 20 else ''}. "
            f"{_what_would_allow(policy, state)}"
        )
    if state.pending and timed_out:
        return KaleyraCallsTimeoutError(
            f"Timed out waiting for {where}: {len(state.pending)} of {len(state.outcomes)} numbers have no "
            f"final status yet: {_numbers(state.pending)}{_unread(result)}"
        )
    return None


def _limit(policy: OutcomePolicy, total: int) -> str:
    """Which parameter set the limit that was passed, and its value."""
    if policy.max_failed is not None:
        return f"more than max_failed={policy.max_failed} allows"
    if policy.min_success_ratio is not None:
        return (
            f"more than min_success_ratio={policy.min_success_ratio:g} allows "
            f"(at most {policy.allowed_failures(total)} of {total})"
        )
    return "and with neither max_failed nor min_success_ratio set, one failed call fails the task"


def _what_would_allow(policy: OutcomePolicy, state: Tally) -> str:
    """The parameter values that would have let this wait succeed (or go on waiting)."""
    failed, total = len(state.failures), len(state.outcomes)
    if policy.min_success_ratio is not None:
        # The largest ratio (two decimals, rounded down) that tolerates these failures.
        ratio = math.floor((total - failed) / total * 100) / 100
        threshold = f"min_success_ratio={ratio:g}"
    else:
        threshold = f"max_failed={failed}"
    statuses = ", ".join(sorted({o.status or "" for o in state.failures}))
    return f"To accept this, set {threshold}, or count {statuses} as success with success_statuses"


def _unread(result: Mapping[str, Any]) -> str:
    """Why a pending number may be in the call log after all: what the listing could not read."""
    notes = []
    if result.get("listing_cut_off"):
        cut_off = result["listing_cut_off"]
        notes.append(f"the call-log listing was cut off ({cut_off}), so they may be in the part not read")
    if result.get("unreadable_count"):
        shown = "; ".join(result.get("unreadable_entries") or [])
        notes.append(f"{result['unreadable_count']} call-log entries could not be read: {shown}")
    return ". Note: " + ". ".join(notes) if notes else ""


def _numbers(numbers: Sequence[str], limit: int = 50) -> str:
    shown = ", ".join(numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


def summary_table(result: Mapping[str, Any]) -> str:
    """A readable table of the result, for the end of the task log."""
    rows = [
        [
            r["number"],
            r["status"],
            r["category"],
            r.get("call_id") or "",
            "" if r.get("duration") is None else str(r["duration"]),
        ]
        for r in result.get("calls", [])
    ]
    header = ["number", "status", "category", "call id", "duration (s)"]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    counts = ", ".join(f"{name}: {n}" for name, n in result.get("counts", {}).items())
    lines.append(f"{len(rows)} call(s) -- {counts or 'none'}")
    return "\n".join(lines)
