"""KaleyraCallStatusSensor: wait until Kaleyra says how the calls of a submission ended."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import validation, waiting
from airflow_provider_kaleyra._compat import BaseSensorOperator, PokeReturnValue, default_deferrable
from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID
from airflow_provider_kaleyra.operators.kaleyra import OUTCOMES_XCOM_KEY
from airflow_provider_kaleyra.outcomes import OutcomePolicy
from airflow_provider_kaleyra.progress import progress_line

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook


class KaleyraCallStatusSensor(BaseSensorOperator):
    """Wait for the final status of every call of a submission, and apply an outcome policy.

    Give it the outbound call operator's XCom record (``record=place_calls.output`` or
    ``"{{ ti.xcom_pull('place_calls') }}"``), or explicit ``numbers`` with ``start_time``
    (and optionally ``bridge``, ``end_time``, ``flow_id``). It succeeds with a per-number
    table and counts per category (XCom; also under the key ``outcomes``, which is
    pushed before the policy decides, so it is there when the sensor fails too), and fails:

    * without retry when Kaleyra ended calls with a configuration status (FLOW_PAUSED,
      FLOW_NOT_PUBLISHED, BRIDGE_UNAVAILABLE, NOROUTE...), naming the flow and bridge;
    * retryably when more calls failed than the policy allows;
    * retryably when ``timeout`` seconds after the calls were placed some numbers still
      have no final status, listing them.

    :param record: the operator's submission record (templated).
    :param numbers: the callees, when there is no record (templated).
    :param prefix: the country code the operator's ``prefix`` put before national ``numbers``.
    :param bridge: the DID the calls came from; narrows the call-log query (templated).
    :param start_time: when the calls were placed, timezone-aware (templated).
    :param end_time: the end of the window to search (templated; open when empty).
    :param flow_id: the flow the calls ran; used to match calls and in messages (templated).
    :param kaleyra_conn_id: the Airflow connection of type ``kaleyra``.
    :param success_statuses: statuses that count as success (ANSWER, FLOW_ANSWER).
    :param failure_statuses: statuses that count as failed (every other final status).
    :param min_success_ratio: the least share of numbers (0..1) that must succeed.
    :param max_failed: the most numbers that may fail; with neither threshold, none may.
    :param deferrable: wait in the triggerer instead of a worker slot;
        ``[operators] default_deferrable`` by default.
    :param max_poll_failures: consecutive failed polls (each already retried by the hook)
        before a deferred wait gives up.
    """

    template_fields: Sequence[str] = ("record", "numbers", "prefix", "bridge", "start_time", "end_time", "flow_id")
    template_fields_renderers = {"record": "json"}
    ui_color = "#ffe8f0"

    def __init__(
        self,
        *,
        record: dict[str, Any] | str | None = None,
        numbers: str | Sequence[str] | None = None,
        prefix: str | None = None,
        bridge: str | None = None,
        start_time: dt.datetime | str | None = None,
        end_time: dt.datetime | str | None = None,
        flow_id: str | None = None,
        kaleyra_conn_id: str = DEFAULT_CONN_ID,
        success_statuses: Iterable[str] | None = None,
        failure_statuses: Iterable[str] | None = None,
        min_success_ratio: float | None = None,
        max_failed: int | None = None,
        deferrable: bool | None = None,
        max_poll_failures: int = waiting.DEFAULT_MAX_POLL_FAILURES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.record = record
        self.numbers = numbers
        self.prefix = prefix
        self.bridge = bridge
        self.start_time = start_time
        self.end_time = end_time
        self.flow_id = flow_id
        self.kaleyra_conn_id = kaleyra_conn_id
        self.success_statuses = list(success_statuses) if success_statuses is not None else None
        self.failure_statuses = list(failure_statuses) if failure_statuses is not None else None
        self.min_success_ratio = min_success_ratio
        self.max_failed = max_failed
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.max_poll_failures = max_poll_failures
        # Not templated: a bad policy fails when the DAG is parsed.
        self._policy()

    @cached_property
    def hook(self) -> KaleyraHook:
        # Deferred: the hook brings requests and the connection machinery, which a DAG
        # file parse (it imports this module every time) never needs.
        from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

        return KaleyraHook(self.kaleyra_conn_id)

    def _policy(self) -> OutcomePolicy:
        return OutcomePolicy.build(
            success_statuses=self.success_statuses,
            failure_statuses=self.failure_statuses,
            min_success_ratio=self.min_success_ratio,
            max_failed=self.max_failed,
        )

    def _wait(self) -> waiting.Wait:
        watch = validation.call_watch(
            record=self.record,
            numbers=self.numbers,
            prefix=self.prefix,
            bridge=self.bridge,
            start_time=self.start_time,
            end_time=self.end_time,
            flow_id=self.flow_id,
        )
        return waiting.Wait(
            watch=watch,
            policy=self._policy(),
            deadline=waiting.deadline_after(watch.start_time, float(self.timeout)),
            poll_interval=float(self.poke_interval),
            max_poll_failures=self.max_poll_failures,
        )

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # Deferred: the trigger brings Airflow's triggerer classes, needed only to defer.
        from airflow_provider_kaleyra.triggers.kaleyra import KaleyraCallStatusTrigger

        wait = self._wait()
        self.log.info(
            "Deferring: waiting for %d call(s) of flow %s until %s",
            len(wait.watch.numbers),
            wait.watch.flow_id,
            wait.deadline,
        )
        self.defer(
            trigger=KaleyraCallStatusTrigger(kaleyra_conn_id=self.kaleyra_conn_id, **wait.as_kwargs()),
            method_name="execute_complete",
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        wait = self._wait()
        try:
            listing = self.hook.call_logs(wait.watch.query(), max_pages=wait.watch.page_budget())
        finally:
            self.hook.close()
        poll = wait.poll(listing)
        if poll.event is None:
            # Each poke may run in a new process (reschedule): every one says where things stand.
            self.log.info("Kaleyra calls: %s", progress_line(poll.tally))
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._complete(context, poll.event, wait.policy))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: the result, or the policy's failure."""
        return self._complete(context, event, self._wait().policy)

    def _complete(self, context: Context, event: dict[str, Any] | None, policy: OutcomePolicy) -> dict[str, Any]:
        ti = context["ti"]
        return waiting.complete(
            event, policy, self.log, keep=lambda table: ti.xcom_push(key=OUTCOMES_XCOM_KEY, value=table)
        )
