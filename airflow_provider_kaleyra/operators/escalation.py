"""KaleyraEscalationOperator: call a chain of numbers one step after another until someone answers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import batch_state, escalation, validation
from airflow_provider_kaleyra._compat import BaseOperator, default_deferrable
from airflow_provider_kaleyra.campaign import Campaign
from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID
from airflow_provider_kaleyra.exceptions import KaleyraError
from airflow_provider_kaleyra.operators.kaleyra import task_correlation_token

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_kaleyra import wire
    from airflow_provider_kaleyra.batch_state import BatchStore
    from airflow_provider_kaleyra.call_logs import CallLogListing
    from airflow_provider_kaleyra.escalation import Chain, StepOutcome, StepWait
    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

#: The XCom key of the escalation's progress, pushed after every dial and every step's end,
#: so it is there while the task waits and when nobody answered.
ESCALATION_XCOM_KEY = "escalation"


@dataclass(frozen=True)
class _Plan:
    """The rendered, validated chain; each step's requests; the task instance's store."""

    chain: Chain
    calls: list[list[wire.OutboundCall]]
    store: BatchStore


def wait_sync(
    wait: StepWait, fetch: Callable[..., CallLogListing], log: Any, *, sleep: Callable[[float], Any] = time.sleep
) -> dict[str, Any]:
    """Poll on this worker until the step ends; the same events as ``KaleyraEscalationTrigger``."""
    failed_polls = 0
    while True:
        read: CallLogListing | BaseException
        try:
            read = fetch(wait.watch.query(), max_pages=wait.watch.page_budget())
        except (KaleyraError, OSError) as error:
            read = error
        event, pause, failed_polls = wait.after_read(read, failed_polls, log)
        if event is not None:
            return event
        sleep(max(0.0, min(pause, wait.seconds_left() + 0.01)))


class KaleyraEscalationOperator(BaseOperator):
    """Call the first step of a chain; only if nobody answers, the next; stop at the first answer.

    .. code-block:: python

        KaleyraEscalationOperator(
            task_id="page_on_call",
            chain=["+918830907001", ["+918830907002", "+918830907003"], "+918830907004"],
            bridge="+6531651234",
            message="{{ dag.dag_id }} failed in run {{ run_id }}",
            answer_window=90,
            deferrable=True,
            trigger_rule="one_failed",
        )

    Step n+1 is dialled only when every call of step n ended without an answer, or its
    answer window passed. Each step is a campaign sent at most once across every try,
    clear and restart of the task instance (``campaign``, with the step's own keys in
    the task's store), and its outcome is stored before the next step is dialled: a
    retry never dials a step again, it carries on where the chain stopped. While a step
    rings the task waits deferred in the triggerer (with ``deferrable=True``).

    The return value (and the XCom key ``escalation``, pushed after every dial and every
    step's end, so it is there while waiting and when nobody answered): ``answered``,
    ``answered_by`` (the first number that answered), ``answered_step``, ``chain`` and
    per step ``numbers``, ``dialled_at``, ``ended_at``, ``ended`` (``answered``,
    ``unanswered`` or ``window_passed``), ``answered_by`` and each call's row (number,
    status, category, call id, duration).

    :param chain: the steps, in order: each a number, or a list of numbers rung together.
        A number may be in one step only.
    :param bridge: the account's DID the calls come from, E.164.
    :param flow_id: the Flow Builder flow the callees hear; or give ``message``.
    :param message: a text Kaleyra speaks instead of a flow; ``language``, ``speed`` as
        for ``KaleyraOutboundCallOperator``.
    :param custom: data attached to every call (a string or a JSON-serialisable mapping).
    :param prefix: the country code of national numbers in ``chain``.
    :param answer_window: seconds to wait for an answer after a step is dialled: one
        value for every step, or a list with one per step.
    :param answered_statuses: final statuses that count as answered (ANSWER, FLOW_ANSWER).
    :param fail_if_nobody_answers: fail the task (without retry) when the chain ends
        unanswered; with False it succeeds and ``answered`` is false.
    :param deferrable: wait for each step in the triggerer, not in a worker slot;
        ``[operators] default_deferrable`` by default, as for every deferrable operator.
    :param poll_interval: seconds between call-log reads while a step rings.
    :param kaleyra_conn_id: the Airflow connection of type ``kaleyra``.
    """

    template_fields: Sequence[str] = (
        "chain",
        "bridge",
        "flow_id",
        "message",
        "language",
        "speed",
        "custom",
        "prefix",
        "kaleyra_conn_id",
    )
    template_fields_renderers = {"chain": "json", "custom": "json"}
    ui_color = "#ffc2d1"

    def __init__(
        self,
        *,
        chain: str | Sequence[str | Sequence[str]],
        bridge: str,
        flow_id: str | None = None,
        message: str | None = None,
        language: str | None = None,
        speed: str | None = None,
        custom: str | dict[str, Any] | None = None,
        prefix: str | None = None,
        answer_window: float | Sequence[float] = escalation.DEFAULT_ANSWER_WINDOW,
        answered_statuses: Iterable[str] | None = None,
        fail_if_nobody_answers: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 10.0,
        kaleyra_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.chain = chain
        self.bridge = bridge
        self.flow_id = flow_id
        self.message = message
        self.language = language
        self.speed = speed
        self.custom = custom
        self.prefix = prefix
        self.answer_window = list(answer_window) if isinstance(answer_window, (list, tuple)) else answer_window
        self.answered_statuses = list(answered_statuses) if answered_statuses is not None else None
        self.fail_if_nobody_answers = fail_if_nobody_answers
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = validation.check_seconds("poll_interval", poll_interval)
        self.kaleyra_conn_id = kaleyra_conn_id
        # Not templated, or wrong however rendered: a bad value fails when the DAG file is parsed.
        if (flow_id is None) == (message is None):
            validation.check_flow_or_message(flow_id, message)
        escalation.check_windows(self.answer_window)
        escalation.check_answered(self.answered_statuses)

    @cached_property
    def hook(self) -> KaleyraHook:
        # Deferred, as in the outbound operator: parsing a DAG file never needs the hook.
        from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

        return KaleyraHook(self.kaleyra_conn_id)

    # ------------------------------------------------------------------ the chain

    def _plan(self, context: Context) -> _Plan:
        """Everything checked, every step's requests built: before the first dial, and on every resume."""
        chain = escalation.check_chain(
            self.chain, prefix=self.prefix, answer_window=self.answer_window, answered_statuses=self.answered_statuses
        )
        token = task_correlation_token(context)
        calls = escalation.step_calls(chain, token, **{name: getattr(self, name) for name in escalation.CALL_FIELDS})
        return _Plan(chain, calls, batch_state.store_for(context, token))

    def execute(self, context: Context) -> dict[str, Any]:
        plan = self._plan(context)
        done = escalation.stored_outcomes(plan.store, len(plan.chain.steps))
        if done:
            self.log.info("%d escalation step(s) ended in an earlier try; carrying on after them", len(done))
        return self._carry_on(context, plan, done)

    def step_ended(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resumed after a step's wait in the triggerer: keep its outcome, then the next step or the end."""
        plan = self._plan(context)
        done = escalation.stored_outcomes(plan.store, len(plan.chain.steps))
        outcome = escalation.outcome_of(event)
        if len(done) == outcome.step - 1:  # the step being waited for; a repeated event is not kept twice
            done.append(self._keep(context, plan, outcome, done))
        return self._carry_on(context, plan, done)

    def _carry_on(self, context: Context, plan: _Plan, done: list[StepOutcome]) -> dict[str, Any]:
        while (index := escalation.next_step(done, len(plan.chain.steps))) is not None:
            wait = self._dial(context, plan, index, done)
            if self.deferrable:
                from airflow_provider_kaleyra.triggers.escalation import KaleyraEscalationTrigger

                self.log.info("Deferring until step %d is answered or over (by %s)", index + 1, wait.deadline)
                self.defer(
                    trigger=KaleyraEscalationTrigger(step=wait.as_kwargs(), kaleyra_conn_id=self.kaleyra_conn_id),
                    method_name="step_ended",
                )
            try:
                event = wait_sync(wait, self.hook.call_logs, self.log)
            finally:
                self.hook.close()
            done.append(self._keep(context, plan, escalation.outcome_of(event), done))
        return self._finish(context, plan, done)

    def _dial(self, context: Context, plan: _Plan, index: int, done: list[StepOutcome]) -> StepWait:
        """Dial one step at most once (an earlier try's accepted batches are reused); the wait for it."""
        step, calls, total = plan.chain.steps[index], plan.calls[index], len(plan.chain.steps)
        called = ", ".join(step.numbers)
        self.log.info("Escalation step %d/%d: calling %s (answer window %.0fs)", index + 1, total, called, step.window)
        hook = self.hook
        try:
            result = Campaign(
                prepare=hook.prepare_submit,
                send=hook.send_submit,
                calls=calls,
                call_logs=hook.call_logs,
                country_code=plan.chain.country_code,
                store=escalation.StepStore(plan.store, index),
                log=self.log,  # type: ignore[arg-type]
                try_number=getattr(context["ti"], "try_number", None),
            ).run()
        finally:
            hook.close()
        if result.reused:
            self.log.info("Escalation step %d/%d was dialled by an earlier try; not dialled again", index + 1, total)
        dialled_at = min(entry.submitted_at or entry.since for entry in result.entries)
        self._push(context, escalation.summary(plan.chain, done, dialling=index))
        return escalation.StepWait.of_step(plan.chain, index, calls, dialled_at, self.poll_interval)

    def _keep(self, context: Context, plan: _Plan, outcome: StepOutcome, done: list[StepOutcome]) -> StepOutcome:
        """Store how a step ended before anything else is dialled, and say it."""
        plan.store.set(escalation.outcome_key(outcome.step - 1), outcome.as_dict())
        self.log.info("%s", outcome.describe(len(plan.chain.steps)))
        self._push(context, escalation.summary(plan.chain, [*done, outcome]))
        return outcome

    def _finish(self, context: Context, plan: _Plan, done: list[StepOutcome]) -> dict[str, Any]:
        result = escalation.summary(plan.chain, done)
        self._push(context, result)
        if result["answered"]:
            self.log.info("Answered by %s at escalation step %d", result["answered_by"], result["answered_step"])
            return result
        if self.fail_if_nobody_answers:
            raise escalation.nobody_answered(plan.chain, done)
        self.log.warning("Nobody answered any of the %d escalation step(s)", len(plan.chain.steps))
        return result

    def _push(self, context: Context, value: dict[str, Any]) -> None:
        context["ti"].xcom_push(key=ESCALATION_XCOM_KEY, value=value)
