"""Escalation: ring one step of a chain after another until someone answers.

A chain is a list of steps; a step is one number or a group rung together. Step n+1 is
dialled only when step n ended without an answer (every call final, none answered) or
its answer window passed; the chain stops at the first answer. This module holds the
rules, as pure values that survive JSON (trigger kwargs, events, the task's stored
state): how a step is judged (:func:`judge`), which step comes next (:func:`next_step`),
and what the XCom says (:func:`summary`). The operator, the trigger and the notifier
only move these values around.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import call_logs, correlation, numbers, outcomes, validation, waiting, wire
from airflow_provider_kaleyra.call_logs import StatusCategory
from airflow_provider_kaleyra.exceptions import KaleyraInputError, KaleyraNobodyAnsweredError, KaleyraPermanentError

if TYPE_CHECKING:
    from airflow_provider_kaleyra.batch_state import BatchStore
    from airflow_provider_kaleyra.call_logs import CallLogListing

#: How a step ended.
ANSWERED, UNANSWERED, WINDOW_PASSED = "answered", "unanswered", "window_passed"
#: The event a step's wait ends with (beside ``waiting``'s ``error`` event).
STEP_ENDED = "step_ended"
#: The answer window of a step when none is given: long enough for a phone to ring out.
DEFAULT_ANSWER_WINDOW = 120.0


# --------------------------------------------------------------------------- the chain


@dataclass(frozen=True)
class Step:
    """Numbers rung together (full E.164), and how long to wait for one of them to answer."""

    numbers: tuple[str, ...]
    window: float


@dataclass(frozen=True)
class Chain:
    steps: tuple[Step, ...]
    #: Final statuses that count as "someone answered".
    answered_statuses: frozenset[str]
    country_code: str | None = None


def _entries(value: Any) -> list[Any]:
    """The chain's steps from a list or from its rendering as a string (``"['+91...', [...]]"``)."""
    if isinstance(value, str):
        return [part for part in validation.as_list("chain", value) if not isinstance(part, str) or part.strip()]
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise KaleyraInputError("chain", value, "a list of steps: numbers, or lists of numbers rung together")
    return list(value)


def check_windows(value: Any, count: int | None = None) -> list[float]:
    """One answer window for every step, or one per step (``count`` steps, when known)."""
    if isinstance(value, (list, tuple)):
        if count is not None and len(value) != count:
            raise KaleyraInputError("answer_window", value, f"one window per step: {count} expected")
        return [validation.check_seconds(f"answer_window[{i}]", v) for i, v in enumerate(value)]
    return [validation.check_seconds("answer_window", value)] * (count or 1)


def check_answered(value: Any) -> frozenset[str]:
    """The final statuses that count as answered: ANSWER and FLOW_ANSWER unless given."""
    if value is None:
        return call_logs.SUCCESS_STATUSES
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise KaleyraInputError("answered_statuses", value, "a list of Kaleyra call statuses")
    answered = frozenset(s for s in (call_logs.normalise_status(item) for item in items) if s)
    if not answered:
        raise KaleyraInputError("answered_statuses", value, "at least one status must count as answered")
    unknown = sorted(answered - set(call_logs.CALL_STATUSES))
    if unknown:
        raise KaleyraInputError("answered_statuses", value, f"not a Kaleyra call status: {', '.join(unknown)}")
    return answered


def check_chain(
    chain: Any,
    *,
    prefix: Any = None,
    answer_window: Any = DEFAULT_ANSWER_WINDOW,
    answered_statuses: Any = None,
) -> Chain:
    """Every step's numbers, window and what counts as answered, checked before anyone is called.

    A number may appear in one step only: the call log could not tell its two calls apart.
    """
    country = validation.check_prefix(prefix)
    entries = _entries(chain)
    if not entries:
        raise KaleyraInputError("chain", chain, "no step given")
    windows = check_windows(answer_window, len(entries))
    seen: dict[str, int] = {}
    steps = []
    for index, entry in enumerate(entries):
        group = validation.parse_numbers(entry, prefix=country, parameter=f"chain[{index}]")
        for number in group.numbers:
            if number in seen:
                problem = f"{number} is already step {seen[number] + 1}; call a number once per chain"
                raise KaleyraInputError(f"chain[{index}]", entry, problem)
            seen[number] = index
        steps.append(Step(group.numbers, windows[index]))
    answered = check_answered(answered_statuses)
    return Chain(tuple(steps), answered, numbers.country_code(country) if country else None)


def step_token(escalation_token: str, index: int) -> str:
    """Each step's calls carry their own correlation token, so a call log tells the steps apart."""
    return wire.correlation_token(escalation_token, "escalation step", index)


#: The fields of the operator and the notifier that every step's calls share.
CALL_FIELDS = ("bridge", "flow_id", "message", "language", "speed", "custom")


def step_calls(chain: Chain, escalation_token: str, **call: Any) -> list[list[wire.OutboundCall]]:
    """Every step's validated requests; ``call`` holds ``validation.outbound_calls``'s other
    fields (bridge, flow or message, custom...), the same for every step."""
    return [
        validation.outbound_calls(to=list(step.numbers), correlation_token=step_token(escalation_token, index), **call)[
            0
        ]
        for index, step in enumerate(chain.steps)
    ]


# --------------------------------------------------------------------------- how a step ended


@dataclass(frozen=True)
class StepOutcome:
    """How one step ended; JSON round-trips via :meth:`as_dict` / :meth:`from_dict`."""

    #: 1-based, as said in logs.
    step: int
    numbers: tuple[str, ...]
    dialled_at: str
    ended_at: str
    ended: str
    answered_by: tuple[str, ...] = ()
    #: ``correlation.CallOutcome.as_row()`` of each number.
    calls: tuple[dict[str, Any], ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "numbers": list(self.numbers),
            "dialled_at": self.dialled_at,
            "ended_at": self.ended_at,
            "ended": self.ended,
            "answered_by": list(self.answered_by),
            "calls": [dict(row) for row in self.calls],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepOutcome:
        calls = tuple(dict(row) for row in data.get("calls") or ())
        return cls(
            step=int(data["step"]),
            # The Variable store (Airflow < 3.3) keeps no "numbers": each call's row names its number.
            numbers=tuple(data.get("numbers") or (row["number"] for row in calls)),
            dialled_at=str(data["dialled_at"]),
            ended_at=str(data["ended_at"]),
            ended=str(data["ended"]),
            answered_by=tuple(data.get("answered_by") or ()),
            calls=calls,
        )

    def describe(self, total: int) -> str:
        """``step 1/3 (+91...) ended unanswered at ...: +91... NOANSWER``, for the log."""
        calls = ", ".join(f"{row['number']} {row['status']}" for row in self.calls)
        how = {ANSWERED: "answered", UNANSWERED: "unanswered", WINDOW_PASSED: "its answer window passed"}[self.ended]
        by = f" by {', '.join(self.answered_by)}" if self.answered_by else ""
        return f"Escalation step {self.step}/{total} ended {how}{by} at {self.ended_at}: {calls}"


def judge(calls: Sequence[correlation.CallOutcome], answered: frozenset[str], *, window_passed: bool) -> str | None:
    """How a step ended, or None while it goes on. The one place this is decided.

    Answered as soon as one call has an answered status (the others may still ring);
    unanswered when every call is final and none answered; otherwise, once the window
    has passed, ``window_passed``.
    """
    if any(call.status in answered for call in calls):
        return ANSWERED
    if all(call.category is not StatusCategory.PENDING for call in calls):
        return UNANSWERED
    return WINDOW_PASSED if window_passed else None


def next_step(done: Sequence[StepOutcome], total: int) -> int | None:
    """The index of the step to dial next, or None: someone answered, or the chain is spent."""
    if any(outcome.ended == ANSWERED for outcome in done):
        return None
    return len(done) if len(done) < total else None


def summary(chain: Chain, done: Sequence[StepOutcome], dialling: int | None = None) -> dict[str, Any]:
    """The XCom of an escalation: who was called when, how each call ended, who answered."""
    answer = next((outcome for outcome in done if outcome.ended == ANSWERED), None)
    return {
        "answered": answer is not None,
        "answered_by": answer.answered_by[0] if answer else None,
        "answered_step": answer.step if answer else None,
        "chain": [list(step.numbers) for step in chain.steps],
        "steps": [outcome.as_dict() for outcome in done],
        "dialling_step": dialling + 1 if dialling is not None else None,
    }


def nobody_answered(chain: Chain, done: Sequence[StepOutcome]) -> KaleyraNobodyAnsweredError:
    steps = "; ".join(outcome.describe(len(chain.steps)) for outcome in done)
    return KaleyraNobodyAnsweredError(f"Nobody answered any of the {len(chain.steps)} escalation step(s). {steps}")


# --------------------------------------------------------------------------- waiting for one step


@dataclass(frozen=True)
class StepWait:
    """The wait for one step: its calls, what counts as answered, until when.

    The trigger's kwargs are :meth:`as_kwargs`; the worker's wait polls the same way.
    """

    step: int
    watch: correlation.CallWatch
    answered_statuses: frozenset[str]
    #: When the answer window closes (ISO 8601, UTC).
    deadline: str
    poll_interval: float = 30.0
    max_poll_failures: int = waiting.DEFAULT_MAX_POLL_FAILURES

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "watch": self.watch.as_dict(),
            "answered_statuses": sorted(self.answered_statuses),
            "deadline": self.deadline,
            "poll_interval": self.poll_interval,
            "max_poll_failures": self.max_poll_failures,
        }

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> StepWait:
        return cls(
            step=int(kwargs["step"]),
            watch=correlation.CallWatch.from_dict(kwargs["watch"]),
            answered_statuses=frozenset(kwargs["answered_statuses"]),
            deadline=str(kwargs["deadline"]),
            poll_interval=float(kwargs.get("poll_interval", 30.0)),
            max_poll_failures=int(kwargs.get("max_poll_failures", waiting.DEFAULT_MAX_POLL_FAILURES)),
        )

    @classmethod
    def of_step(
        cls, chain: Chain, index: int, calls: Sequence[wire.OutboundCall], dialled_at: str, poll_interval: float
    ) -> StepWait:
        """The wait for step ``index``, dialled at ``dialled_at`` with ``calls``."""
        watch = correlation.CallWatch(
            numbers=chain.steps[index].numbers,
            bridge=calls[0].bridge,
            start_time=dialled_at,
            flow_id=calls[0].flow_id or None,
            correlation_token=calls[0].correlation_token,
            country_code=chain.country_code,
        )
        deadline = waiting.deadline_after(dialled_at, chain.steps[index].window)
        return cls(index, watch, chain.answered_statuses, deadline, poll_interval)

    def after_read(
        self, read: CallLogListing | BaseException, failed_polls: int, log: Any
    ) -> tuple[dict[str, Any] | None, float, int]:
        """One read's consequence: the event that ends the wait (or None), the pause before the
        next read, and the failed reads in a row. Failed reads back off and give up as every
        other wait's do (``waiting.Wait.after_failure``)."""
        if isinstance(read, BaseException):
            failures = waiting.Wait(
                self.watch, outcomes.OutcomePolicy(), self.deadline, self.poll_interval, self.max_poll_failures
            )
            failed_polls += 1
            event = failures.after_failure(read, failed_polls, log)
            return event, failures.pause_after_failure(failed_polls), failed_polls
        return self.after_listing(read), self.poll_interval, 0

    def seconds_left(self, now: dt.datetime | None = None) -> float:
        return (dt.datetime.fromisoformat(self.deadline) - (now or waiting.utc_now())).total_seconds()

    def after_listing(self, listing: CallLogListing, now: dt.datetime | None = None) -> dict[str, Any] | None:
        """The event that ends the step, or None to poll again."""
        calls = correlation.correlate(self.watch, listing.records)
        ended = judge(calls, self.answered_statuses, window_passed=self.seconds_left(now) <= 0)
        if ended is None:
            return None
        return {
            "status": STEP_ENDED,
            "outcome": StepOutcome(
                step=self.step + 1,
                numbers=self.watch.numbers,
                dialled_at=self.watch.start_time,
                ended_at=wire.utc_now_iso(),
                ended=ended,
                answered_by=tuple(c.number for c in calls if c.status in self.answered_statuses),
                calls=tuple(c.as_row() for c in calls),
            ).as_dict(),
        }


def outcome_of(event: Mapping[str, Any] | None) -> StepOutcome:
    """The step's outcome from its wait's event; an error event raises as every wait's does."""
    if event is not None and event.get("status") == STEP_ENDED:
        return StepOutcome.from_dict(event["outcome"])
    if event is not None and event.get("status") == waiting.ERROR:
        waiting.complete(event, outcomes.OutcomePolicy(), None)  # raises, as every wait's error does
    raise KaleyraPermanentError(f"Unexpected event from the Kaleyra escalation trigger: {event!r}")


# --------------------------------------------------------------------------- stored state


def outcome_key(index: int) -> str:
    return f"kaleyra_escalation_step_{index:02d}"


class StepStore:
    """One step's campaign state, under keys of its own in the task instance's store.

    Every step is a campaign (``campaign.Campaign``) with its batches sent at most once;
    the prefix keeps the steps' entries apart in one task state store or Variable.
    """

    def __init__(self, store: BatchStore, index: int) -> None:
        self.store = store
        self.prefix = f"{outcome_key(index)}__"
        self.location = store.location

    def get(self, key: str) -> Any:
        return self.store.get(self.prefix + key)

    def set(self, key: str, value: Any) -> None:
        self.store.set(self.prefix + key, value)


def stored_outcomes(store: BatchStore, total: int) -> list[StepOutcome]:
    """The steps an earlier try (or resume) already saw end, in order."""
    done = []
    for index in range(total):
        data = store.get(outcome_key(index))
        if not isinstance(data, Mapping):
            break
        done.append(StepOutcome.from_dict(data))
    return done
