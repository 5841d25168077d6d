"""KaleyraEscalationNotifier: a Deadline Alert that calls a chain until someone answers.

Escalating means waiting for each step's answer, minutes at a time. A Deadline Alert's
callback is awaited in the triggerer (:meth:`KaleyraEscalationNotifier.async_notify`),
where waiting costs nothing: it dials a step, waits on the shared call-log reader
(``triggers.escalation.await_step``), and dials the next only if nobody answered.

Task and DAG callbacks run synchronously on a worker or in the DAG processor, and a
callback that waited there would hold it for the whole chain. There the notifier calls
the first step only and says so; for escalation after a failed task, use
``KaleyraEscalationOperator`` with ``trigger_rule="one_failed"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import escalation, validation, wire
from airflow_provider_kaleyra._compat import BaseNotifier
from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID
from airflow_provider_kaleyra.exceptions import KaleyraError, KaleyraOutcomeUnknownError
from airflow_provider_kaleyra.notifications.kaleyra import _can_make_template_env, notification_correlation_token

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from airflow.providers.common.compat.sdk import Context



class KaleyraEscalationNotifier(BaseNotifier):
    """Call the steps of ``chain`` one after another until someone answers (Deadline Alerts).

    .. code-block:: python

        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(hours=2),
            callback=AsyncCallback(
                KaleyraEscalationNotifier,
                kwargs={
                    "chain": ["+918830907001", "+918830907002"],
                    "bridge": "+6531651234",
                    "message": "{{ dag_run.dag_id }} is late",
                    "answer_window": 90,
                },
            ),
        )

    The triggerer's log tells who was called, when, how each call ended and who answered.
    A failure to place a call is logged (raised too with ``raise_on_failure``), and so is a
    chain nobody answered.

    :param chain: the steps: each a number, or a list of numbers rung together.
    :param bridge: the account's DID the calls come from, E.164.
    :param flow_id: the Flow Builder flow the callees hear; or give ``message``.
    :param message: a text Kaleyra speaks instead (``language``, ``speed`` as for the operator).
    :param custom: data attached to every call.
    :param prefix: the country code of national numbers in ``chain``.
    :param answer_window: seconds to wait for an answer after each step is dialled (one
        value, or one per step).
    :param answered_statuses: final statuses that count as answered (ANSWER, FLOW_ANSWER).
    :param poll_interval: seconds between call-log reads while a step rings.
    :param raise_on_failure: re-raise a failure (a refused call, nobody answering) after logging it.
    :param context: the callback context; Airflow passes it to Deadline Alert callbacks.
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
        poll_interval: float = 10.0,
        kaleyra_conn_id: str = DEFAULT_CONN_ID,
        raise_on_failure: bool = False,
        context: Context | None = None,
    ) -> None:
        super().__init__(context=context)
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
        self.poll_interval = validation.check_seconds("poll_interval", poll_interval)
        self.kaleyra_conn_id = kaleyra_conn_id
        self.raise_on_failure = raise_on_failure
        if (flow_id is None) == (message is None):
            validation.check_flow_or_message(flow_id, message)  # neither or both: wrong however rendered
        escalation.check_windows(self.answer_window)
        escalation.check_answered(self.answered_statuses)
        # One notifier object may serve many callbacks: each rendering starts from these.
        self._templates = {name: getattr(self, name) for name in self.template_fields}

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        for name, template in self._templates.items():
            setattr(self, name, template)
        if jinja_env is None and not _can_make_template_env(context.get("dag")):
            jinja_env = self.get_template_env(dag=None)
        super().render_template_fields(context, jinja_env)

    def plan(self, context: Mapping[str, Any]) -> tuple[escalation.Chain, list[list[wire.OutboundCall]]]:
        """The validated chain and each step's requests, for the rendered fields."""
        chain = escalation.check_chain(
            self.chain, prefix=self.prefix, answer_window=self.answer_window, answered_statuses=self.answered_statuses
        )
        token = notification_correlation_token(context)
        calls = escalation.step_calls(chain, token, **{name: getattr(self, name) for name in escalation.CALL_FIELDS})
        return chain, calls

    async def async_notify(self, context: Context) -> None:
        """Dial each step and wait for it in the triggerer."""
        try:
            await self.escalate(context)
        except Exception as error:
            self._failed(error)

    async def escalate(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Dial each step and wait for it; the escalation's summary (as the operator's XCom)."""
        # Deferred: the hooks and the trigger's module are needed only when a callback runs,
        # never when a DAG file that builds this notifier is parsed.
        from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook
        from airflow_provider_kaleyra.triggers.escalation import await_step

        chain, calls = self.plan(context)
        total = len(chain.steps)
        done: list[escalation.StepOutcome] = []
        async with KaleyraAsyncHook(self.kaleyra_conn_id) as hook:
            while (index := escalation.next_step(done, total)) is not None:
                step = chain.steps[index]
                self.log.info("Escalation step %d/%d: calling %s", index + 1, total, ", ".join(step.numbers))
                dialled_at = wire.utc_now_iso()
                for call in calls[index]:
                    try:
                        await hook.submit(call)
                    except KaleyraOutcomeUnknownError as error:
                        # It may have rung: the call log says, within the step's window.
                        self.log.warning("Escalation step %d/%d may have been dialled: %s", index + 1, total, error)
                wait = escalation.StepWait.of_step(chain, index, calls[index], dialled_at, self.poll_interval)
                event = await await_step(
                    self.kaleyra_conn_id, wait, lambda: KaleyraAsyncHook(self.kaleyra_conn_id), self.log
                )
                done.append(escalation.outcome_of(event))
                self.log.info("%s", done[-1].describe(total))
        result = escalation.summary(chain, done)
        if not result["answered"]:
            raise escalation.nobody_answered(chain, done)
        self.log.info("Answered by %s at escalation step %d", result["answered_by"], result["answered_step"])
        return result

    def notify(self, context: Context) -> None:
        """Task and DAG callbacks cannot wait for answers without blocking: call the first step only."""
        from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

        hook = KaleyraHook(self.kaleyra_conn_id)
        try:
            chain, calls = self.plan(context)
            self.log.warning(
                "A task or DAG callback cannot wait for answers without blocking its process: calling step 1 "
                "of %d (%s) only. To escalate, use KaleyraEscalationOperator (trigger_rule='one_failed') "
                "or this notifier as a Deadline Alert.",
                len(chain.steps),
                ", ".join(chain.steps[0].numbers),
            )
            for call in calls[0]:
                hook.submit(call)
        except Exception as error:
            self._failed(error)
        finally:
            hook.close()

    def _failed(self, error: Exception) -> None:
        """Log what went wrong (never the API key); raise it only if asked to."""
        if isinstance(error, KaleyraError):
            self.log.error("Kaleyra escalation to %s did not complete: %s", self.chain, error)
        else:
            self.log.exception("Kaleyra escalation to %s did not complete: %s", self.chain, error)
        if self.raise_on_failure:
            raise error
