"""Escalation rules: the chain's checks, how a step is judged, which step is next, the trigger."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_kaleyra import call_logs, correlation, escalation
from airflow_provider_kaleyra.batch_state import MemoryStore
from airflow_provider_kaleyra.call_logs import StatusCategory
from airflow_provider_kaleyra.exceptions import KaleyraInputError, KaleyraPermanentError, KaleyraTransientError
from airflow_provider_kaleyra.simulator.calls import CallScript, ring_time
from airflow_provider_kaleyra.simulator.ledger import dials_for
from airflow_provider_kaleyra.triggers.escalation import KaleyraEscalationTrigger

if TYPE_CHECKING:
    from collections.abc import Sequence

PRIMARY, SECONDARY, MANAGER = "+918830907001", "+918830907002", "+918830907003"
ANSWERED = frozenset({"ANSWER", "FLOW_ANSWER"})


# --------------------------------------------------------------------------- the chain


def test_a_chain_of_numbers_and_groups() -> None:
    chain = escalation.check_chain([PRIMARY, [SECONDARY, MANAGER]], answer_window=[30, 60])
    assert [(s.numbers, s.window) for s in chain.steps] == [((PRIMARY,), 30.0), ((SECONDARY, MANAGER), 60.0)]
    assert chain.answered_statuses == ANSWERED


def test_a_rendered_chain_and_national_numbers() -> None:
    chain = escalation.check_chain("['8830907001', ['8830907002', '8830907003']]", prefix="+91")
    assert [s.numbers for s in chain.steps] == [(PRIMARY,), (SECONDARY, MANAGER)]
    assert chain.country_code == "91"
    assert [s.window for s in chain.steps] == [escalation.DEFAULT_ANSWER_WINDOW] * 2


@pytest.mark.parametrize(
    ("kwargs", "parameter", "problem"),
    [
        ({"chain": []}, "chain", "no step given"),
        ({"chain": 42}, "chain", "a list of steps"),
        ({"chain": "[+91"}, "chain", "cannot be read"),
        ({"chain": [PRIMARY, "not a number"]}, "chain[1]", "not a phone number"),
        ({"chain": [PRIMARY, [SECONDARY, PRIMARY]]}, "chain[1]", f"{PRIMARY} is already step 1"),
        ({"chain": [PRIMARY, SECONDARY], "answer_window": [30]}, "answer_window", "one window per step: 2"),
        ({"chain": [PRIMARY], "answer_window": 0}, "answer_window", "a positive, finite number"),
        ({"chain": [PRIMARY, SECONDARY], "answer_window": [30, -1]}, "answer_window[1]", "positive"),
        ({"chain": [PRIMARY], "answered_statuses": []}, "answered_statuses", "at least one status"),
        ({"chain": [PRIMARY], "answered_statuses": ["PICKED_UP"]}, "answered_statuses", "PICKED_UP"),
        ({"chain": [PRIMARY], "answered_statuses": 3}, "answered_statuses", "a list of Kaleyra call statuses"),
    ],
)
def test_bad_chains_are_named(kwargs: dict[str, Any], parameter: str, problem: str) -> None:
    with pytest.raises(KaleyraInputError) as info:
        escalation.check_chain(**kwargs)
    assert info.value.parameter == parameter
    assert problem in str(info.value)


def test_steps_carry_tokens_of_their_own() -> None:
    assert (
        len({escalation.step_token("af-1", 0), escalation.step_token("af-1", 1), escalation.step_token("af-2", 0)}) == 3
    )


# --------------------------------------------------------------------------- judging a step


def outcome(number: str, status: str | None) -> correlation.CallOutcome:
    return correlation.CallOutcome(number, status, call_logs.status_category(status))


@pytest.mark.parametrize(
    ("statuses", "window_passed", "ended"),
    [
        (["ANSWER"], False, escalation.ANSWERED),
        (["FLOW_ANSWER"], False, escalation.ANSWERED),
        (["RINGING", "ANSWER"], False, escalation.ANSWERED),  # the first answer ends the step
        (["NOANSWER"], False, escalation.UNANSWERED),
        (["NOANSWER", "BUSY"], False, escalation.UNANSWERED),
        (["NOANSWER", "RINGING"], False, None),
        (["NOANSWER", None], False, None),
        (["RINGING"], True, escalation.WINDOW_PASSED),
        ([None], True, escalation.WINDOW_PASSED),
        (["NOANSWER"], True, escalation.UNANSWERED),
    ],
)
def test_judge(statuses: Sequence[str | None], window_passed: bool, ended: str | None) -> None:
    calls = [outcome(f"+9188309070{i:02d}", s) for i, s in enumerate(statuses)]
    assert escalation.judge(calls, ANSWERED, window_passed=window_passed) == ended


def test_what_counts_as_answered_is_the_users() -> None:
    only_flow = frozenset({"FLOW_ANSWER"})
    assert escalation.judge([outcome(PRIMARY, "ANSWER")], only_flow, window_passed=False) == escalation.UNANSWERED


def step_outcome(step: int, ended: str, *answered_by: str) -> escalation.StepOutcome:
    return escalation.StepOutcome(
        step, (PRIMARY,), "2026-01-01T00:00:00+00:00", "2026-01-01T00:01:00+00:00", ended, answered_by
    )


def test_next_step() -> None:
    assert escalation.next_step([], 3) == 0
    assert escalation.next_step([step_outcome(1, escalation.UNANSWERED)], 3) == 1
    assert escalation.next_step([step_outcome(1, escalation.WINDOW_PASSED)], 3) == 1
    assert escalation.next_step([step_outcome(1, escalation.ANSWERED, PRIMARY)], 3) is None
    done = [step_outcome(i + 1, escalation.UNANSWERED) for i in range(3)]
    assert escalation.next_step(done, 3) is None


def test_summary_says_who_answered() -> None:
    chain = escalation.check_chain([PRIMARY, SECONDARY])
    done = [step_outcome(1, escalation.WINDOW_PASSED), step_outcome(2, escalation.ANSWERED, SECONDARY)]
    result = escalation.summary(chain, done)
    assert json.loads(json.dumps(result)) == result
    assert (result["answered"], result["answered_by"], result["answered_step"]) == (True, SECONDARY, 2)
    assert [s["ended"] for s in result["steps"]] == ["window_passed", "answered"]
    assert escalation.summary(chain, done[:1], dialling=1)["dialling_step"] == 2


def test_nobody_answered_is_permanent_and_names_every_step() -> None:
    chain = escalation.check_chain([PRIMARY])
    error = escalation.nobody_answered(chain, [step_outcome(1, escalation.UNANSWERED)])
    assert isinstance(error, KaleyraPermanentError)
    assert "Escalation step 1/1 ended unanswered" in str(error)


def test_stored_outcomes_stop_at_the_first_gap() -> None:
    store = MemoryStore()
    store.set(escalation.outcome_key(0), step_outcome(1, escalation.UNANSWERED).as_dict())
    store.set(escalation.outcome_key(2), step_outcome(3, escalation.UNANSWERED).as_dict())
    assert [o.step for o in escalation.stored_outcomes(store, 3)] == [1]


def test_step_stores_keep_their_keys_apart() -> None:
    store = MemoryStore()
    escalation.StepStore(store, 0).set("kaleyra_campaign", {"batches": 1})
    escalation.StepStore(store, 1).set("kaleyra_campaign", {"batches": 2})
    assert escalation.StepStore(store, 0).get("kaleyra_campaign") == {"batches": 1}
    assert sorted(store.values) == [
        "kaleyra_escalation_step_00__kaleyra_campaign",
        "kaleyra_escalation_step_01__kaleyra_campaign",
    ]


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"status": "error", "message": "boom", "permanent": False, "failed_polls": 5}, KaleyraTransientError),
        ({"status": "error", "message": "bad key", "permanent": True, "failed_polls": 1}, KaleyraPermanentError),
        ({"status": "done"}, KaleyraPermanentError),
        (None, KaleyraPermanentError),
    ],
)
def test_events_that_are_not_a_step_end_raise(event: dict[str, Any] | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        escalation.outcome_of(event)


# --------------------------------------------------------------------------- the trigger


class Source:
    """Answers each ``call_logs`` with the next scripted listing (the last one repeats)."""

    def __init__(self, *answers: call_logs.CallLogListing | BaseException) -> None:
        self.answers = list(answers)
        self.reads = 0

    async def __aenter__(self) -> Source:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def call_logs(self, query: call_logs.CallLogQuery, *, max_pages: int) -> call_logs.CallLogListing:
        self.reads += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


WATCH = correlation.CallWatch(
    numbers=(PRIMARY, SECONDARY),
    bridge="+6531651234",
    start_time=dt.datetime.now(dt.timezone.utc).isoformat(),
    correlation_token="af-step",
)


def listing(*statuses: str) -> call_logs.CallLogListing:
    return call_logs.CallLogListing(
        [
            call_logs.CallRecord(n, s, call_id=f"c{i}", correlation_token="af-step")
            for i, (n, s) in enumerate(zip(WATCH.numbers, statuses, strict=True))
        ]
    )


def step_trigger(window: float = 60) -> KaleyraEscalationTrigger:
    wait = escalation.StepWait(
        step=1,
        watch=WATCH,
        answered_statuses=ANSWERED,
        deadline=(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=window)).isoformat(),
        poll_interval=0.01,
        max_poll_failures=2,
    )
    return KaleyraEscalationTrigger(step=wait.as_kwargs(), kaleyra_conn_id="kaleyra_x")


def events(trigger: KaleyraEscalationTrigger, source: Source, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.setattr(trigger, "hook", lambda: source)

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_the_trigger_serialises_one_value() -> None:
    trigger = step_trigger()
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_kaleyra.triggers.escalation.KaleyraEscalationTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert escalation.StepWait.from_kwargs(kwargs["step"]).as_kwargs() == kwargs["step"]


def test_the_trigger_ends_at_the_first_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    source = Source(listing("RINGING", "RINGING"), listing("RINGING", "ANSWER"))
    [event] = events(step_trigger(), source, monkeypatch)
    outcome = escalation.outcome_of(event)
    assert (outcome.step, outcome.ended, outcome.answered_by) == (2, escalation.ANSWERED, (SECONDARY,))
    assert [row["status"] for row in outcome.calls] == ["RINGING", "ANSWER"]
    assert source.reads == 2


def test_the_trigger_ends_when_every_call_went_unanswered(monkeypatch: pytest.MonkeyPatch) -> None:
    [event] = events(step_trigger(), Source(listing("NOANSWER", "BUSY")), monkeypatch)
    assert escalation.outcome_of(event).ended == escalation.UNANSWERED


def test_the_trigger_ends_when_the_window_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    [event] = events(step_trigger(window=0.05), Source(listing("RINGING", "RINGING")), monkeypatch)
    outcome = escalation.outcome_of(event)
    assert (outcome.ended, outcome.answered_by) == (escalation.WINDOW_PASSED, ())


def test_the_trigger_gives_up_after_failed_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    [event] = events(step_trigger(), Source(KaleyraTransientError("no listing")), monkeypatch)
    assert (event["status"], event["failed_polls"]) == ("error", 2)


# --------------------------------------------------------------------------- the simulator


def test_a_scripted_ring_time_makes_a_late_answer() -> None:
    assert ring_time("ANSWER@3", 0.4) == ("ANSWER", 3.0)
    assert ring_time("ANSWER", 0.4) == ("ANSWER", 0.4)
    script = CallScript(queue_seconds=0, ring_seconds=0.4, outcomes={PRIMARY: "ANSWER@3"})
    accepted = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    [call] = dials_for(sid="S", numbers=[PRIMARY], flow_id="SG_f", bridge="+1", form={}, now=accepted)
    at = [accepted + dt.timedelta(seconds=s) for s in (1, 2.9, 3.1)]
    assert [script.state(call, t).status for t in at] == ["RINGING", "RINGING", "ANSWER"]
    assert script.state(call, at[2]).end_time == (accepted + dt.timedelta(seconds=3 + 23)).isoformat(
        timespec="milliseconds"
    )
    assert call_logs.status_category(script.state(call, at[0]).status) is StatusCategory.PENDING


def test_an_outcome_read_back_from_a_variable_store_keeps_its_numbers() -> None:
    # The Variable store (Airflow < 3.3) drops "numbers" from what it keeps.
    kept = step_outcome(1, escalation.UNANSWERED).as_dict()
    kept["calls"] = [{"number": PRIMARY, "status": "NOANSWER"}]
    del kept["numbers"]
    assert escalation.StepOutcome.from_dict(kept).numbers == (PRIMARY,)


# --------------------------------------------------------------------------- parse-time checks


@pytest.mark.parametrize("kind", ["operator", "notifier"])
@pytest.mark.parametrize(
    ("overrides", "parameter"),
    [
        ({"message": None}, "flow_id"),
        ({"flow_id": "SG_f"}, "flow_id"),
        ({"answer_window": -5}, "answer_window"),
        ({"answer_window": [30, "soon"]}, "answer_window[1]"),
        ({"answered_statuses": ["HELLO"]}, "answered_statuses"),
        ({"poll_interval": 0}, "poll_interval"),
    ],
)
def test_values_wrong_however_rendered_fail_when_the_dag_is_parsed(
    kind: str, overrides: dict[str, Any], parameter: str
) -> None:
    from airflow_provider_kaleyra.notifications.escalation import KaleyraEscalationNotifier
    from airflow_provider_kaleyra.operators.escalation import KaleyraEscalationOperator

    kwargs: dict[str, Any] = {"chain": "{{ params.chain }}", "bridge": "+6531651234", "message": "hi", **overrides}
    build = {
        "operator": lambda: KaleyraEscalationOperator(task_id="t", **kwargs),
        "notifier": lambda: KaleyraEscalationNotifier(**kwargs),
    }[kind]
    with pytest.raises(KaleyraInputError) as info:
        build()
    assert info.value.parameter == parameter


def test_the_escalation_classes_template_the_chain_and_the_message() -> None:
    from airflow_provider_kaleyra.notifications.escalation import KaleyraEscalationNotifier
    from airflow_provider_kaleyra.operators.escalation import KaleyraEscalationOperator

    for cls in (KaleyraEscalationOperator, KaleyraEscalationNotifier):
        assert {"chain", "bridge", "flow_id", "message", "language", "speed", "custom", "prefix"} <= set(
            cls.template_fields
        )


@pytest.mark.parametrize("configured", [True, False])
def test_the_operator_waits_deferred_as_default_deferrable_says_unless_told(
    monkeypatch: pytest.MonkeyPatch, configured: bool
) -> None:
    from airflow_provider_kaleyra.operators import escalation as module

    monkeypatch.setattr(module, "default_deferrable", lambda: configured)

    def operator(**kwargs: Any) -> module.KaleyraEscalationOperator:
        return module.KaleyraEscalationOperator(
            task_id="t", chain=[PRIMARY], bridge="+6531651234", message="hi", **kwargs
        )

    assert operator().deferrable is configured
    assert operator(deferrable=not configured).deferrable is (not configured)
    assert operator().answer_window == escalation.DEFAULT_ANSWER_WINDOW
