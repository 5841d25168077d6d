"""KaleyraOutboundCallOperator: trigger a Flow Builder call flow from a DAG task."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import batch_state, correlation, outcomes, validation, waiting, wire
from airflow_provider_kaleyra._compat import BaseOperator, default_deferrable
from airflow_provider_kaleyra.campaign import Campaign, CampaignResult
from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook


#: The XCom key of the submission record, pushed as soon as Kaleyra accepted the calls.
SUBMISSION_XCOM_KEY = "submission"
#: The XCom key of the outcome table, pushed when a wait ends with one, before the policy
#: decides: it is there when the task succeeds, fails on the policy or times out.
OUTCOMES_XCOM_KEY = "outcomes"
#: Above this many numbers the XCom record carries counts and batch ranges, not every number.
XCOM_NUMBERS_LIMIT = 1000


def submission_record(
    result: CampaignResult,
    calls: Sequence[wire.OutboundCall],
    callees: validation.Numbers,
    *,
    xcom_numbers_limit: int = XCOM_NUMBERS_LIMIT,
) -> dict[str, Any]:
    """The operator's XCom: one JSON record summarising every batch of the campaign.

    ``numbers`` (full E.164) and ``call_ids`` list everything when the campaign has at
    most ``xcom_numbers_limit`` numbers; above that they are left out
    (``numbers_in_xcom`` is false), each batch keeps its first and last number, and the
    full list is in the stored state (``state_location``; see ``batch_state``).
    """
    entries = result.entries
    count = sum(e.size for e in entries)
    whole = count <= xcom_numbers_limit
    return {
        "code": entries[0].code,
        "message": entries[0].message,
        "numbers": [n for call in calls for n in call.to] if whole else [],
        "numbers_count": count,
        "numbers_in_xcom": whole,
        "bridge": calls[0].bridge,
        "flow_id": calls[0].flow_id,
        "spoken": calls[0].message.as_dict() if calls[0].message is not None else None,
        "country_code": callees.country_code,
        "submitted_at": min(e.submitted_at or e.since for e in entries),
        "correlation_token": calls[0].correlation_token,
        "call_ids": [c for e in entries for c in e.call_ids] if whole else [],
        "duplicates_dropped": list(callees.duplicates),
        "invalid_skipped": list(callees.invalid),
        "state_location": result.location,
        "batches_reused": result.reused,
        "batches": [
            {
                "size": e.size,
                "code": e.code,
                "submitted_at": e.submitted_at or e.since,
                "first": e.first,
                "last": e.last,
            }
            for e in entries
        ],
    }


def task_correlation_token(context: Context) -> str:
    """Equal for every try of one task instance, different between task instances."""
    ti = context["ti"]
    return wire.correlation_token(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))


class KaleyraOutboundCallOperator(BaseOperator):
    """Call one or more numbers and play them a published Kaleyra Flow Builder flow, or speak a text.

    Everything is validated before the first request; more than 100 numbers are sent
    as batches of at most 100, each at most once across all tries of the task
    instance (see ``campaign``). The return value (XCom) has one shape whatever
    ``wait_for_completion`` is: the submission record (:func:`submission_record`: what
    Kaleyra accepted, ``code``, ``message``, ``numbers``, ``bridge``, ``flow_id`` or ``spoken``,
    ``submitted_at`` (UTC), ``correlation_token``, one entry per request in ``batches``)
    plus ``outcomes``: the outcome table when the task waited, else None. The record is
    also under the XCom key ``submission`` (pushed before any wait), and the outcome
    table under ``outcomes``, pushed even when the policy then fails the task.

    :param to: the callees: E.164 numbers as a list or a comma-separated string; with
        ``prefix``, national numbers too. Spaces, dashes, dots and brackets are ignored.
        A number given twice, in any spelling, is dialled once.
    :param bridge: the account's DID the calls come from, E.164.
    :param flow_id: the Flow ID copied from Flow Builder's "Existing Flows"; exactly one.
        Give either ``flow_id`` or ``message``.
    :param message: a text Kaleyra speaks to the callees instead of running a flow
        (text-to-speech; no Flow Builder flow needed).
    :param language: the language and region of ``message`` (``en-US`` by default).
    :param speed: how fast ``message`` is spoken: ``slow``, ``medium`` (default) or ``fast``.
    :param kaleyra_conn_id: the Airflow connection of type ``kaleyra``.
    :param prefix: the country code of national numbers in ``to`` (``"+91"``); the
        provider applies it and sends whole E.164 numbers.
    :param retry: how many times Kaleyra retries an unanswered call.
    :param time: when Kaleyra should place the calls: a timezone-aware datetime or an
        ISO 8601 string with an offset, not in the past.
    :param timeout: Kaleyra's outbound timeout for the call.
    :param delay: Kaleyra's delay option.
    :param interval: Kaleyra's interval between retries.
    :param custom: data attached to the calls: a string or a JSON-serialisable mapping.
    :param dlrurl: a status-report URL with Kaleyra's placeholders (``{id}``, ``{status}``...).
    :param callback: ``{"call_end": {"url": [...], "callback_profile": [...]}, ...}``.
        Every URL gets ``airflow_correlation_token=<token>`` appended (so does ``dlrurl``).
    :param on_invalid_number: ``"fail"`` (default): an entry of ``to`` that is not a phone
        number fails the task before anything is sent; ``"skip"``: it is left out, logged
        and listed in the XCom's ``invalid_skipped``.
    :param max_active_requests: how many batches of 100 may be in flight at once (1-10).
    :param redial_unknown: a batch an earlier try sent without learning the outcome (no
        answer, worker killed) is sent again instead of failing the task; its numbers
        may then be dialled twice.
    :param wait_for_completion: after submitting, wait until every call has a final
        status and apply the outcome policy; the outcome table fills ``outcomes``.
    :param deferrable: wait in the triggerer, not in a worker slot;
        ``[operators] default_deferrable`` by default.
    :param poll_interval: seconds between call-log polls while waiting.
    :param wait_timeout: seconds after submission after which numbers still without a
        final status fail the task.
    :param success_statuses: statuses that count as success (ANSWER, FLOW_ANSWER).
    :param failure_statuses: statuses that count as failed (every other final status).
    :param min_success_ratio: the least share of numbers (0..1) that must succeed.
    :param max_failed: the most numbers that may fail; with neither threshold, none may.
    """

    template_fields: Sequence[str] = (
        "to",
        "bridge",
        "flow_id",
        "message",
        "language",
        "speed",
        "prefix",
        "time",
        "custom",
        "callback",
        "dlrurl",
        "kaleyra_conn_id",
    )
    template_fields_renderers = {"callback": "json", "custom": "json"}
    ui_color = "#ffd6e7"

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        bridge: str,
        flow_id: str | None = None,
        message: str | None = None,
        language: str | None = None,
        speed: str | None = None,
        kaleyra_conn_id: str = DEFAULT_CONN_ID,
        prefix: str | None = None,
        retry: int | None = None,
        time: dt.datetime | str | None = None,
        timeout: int | None = None,
        delay: int | None = None,
        interval: int | None = None,
        custom: str | dict[str, Any] | None = None,
        dlrurl: str | None = None,
        callback: dict[str, Any] | None = None,
        on_invalid_number: str = "fail",
        max_active_requests: int = 2,
        redial_unknown: bool = False,
        wait_for_completion: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = 30.0,
        wait_timeout: float = 3600.0,
        success_statuses: Iterable[str] | None = None,
        failure_statuses: Iterable[str] | None = None,
        min_success_ratio: float | None = None,
        max_failed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.bridge = bridge
        self.flow_id = flow_id
        self.message = message
        self.language = language
        self.speed = speed
        self.kaleyra_conn_id = kaleyra_conn_id
        self.prefix = prefix
        self.retry = retry
        self.time = time
        self.timeout = timeout
        self.delay = delay
        self.interval = interval
        self.custom = custom
        self.dlrurl = dlrurl
        self.callback = callback
        self.on_invalid_number = on_invalid_number
        self.max_active_requests = max_active_requests
        self.redial_unknown = redial_unknown
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.success_statuses = list(success_statuses) if success_statuses is not None else None
        self.failure_statuses = list(failure_statuses) if failure_statuses is not None else None
        self.min_success_ratio = min_success_ratio
        self.max_failed = max_failed
        if (flow_id is None) == (message is None):
            # Neither, or both: wrong in every rendering, so the DAG file fails to parse.
            validation.check_flow_or_message(flow_id, message)
        if wait_for_completion:
            # Not templated: a bad value fails here, long before anyone is dialled.
            self._policy()
            validation.check_seconds("poll_interval", poll_interval)
            validation.check_seconds("wait_timeout", wait_timeout)

    @cached_property
    def hook(self) -> KaleyraHook:
        # Deferred: the hook brings requests and the connection machinery, which a DAG
        # file parse (it imports this module every time) never needs.
        from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

        return KaleyraHook(self.kaleyra_conn_id)

    def _submit_campaign(
        self, context: Context, calls: list[wire.OutboundCall], callees: validation.Numbers, max_active: int
    ) -> dict[str, Any]:
        """Send every batch at most once across tries; the XCom record of all of them."""
        hook = self.hook
        _ = hook.settings  # a broken connection fails here, before anything is sent
        _ = hook.session  # created once here, then shared by the worker threads
        store = batch_state.store_for(context, task_correlation_token(context))
        try:
            result = Campaign(
                prepare=hook.prepare_submit,
                send=hook.send_submit,
                calls=calls,
                call_logs=hook.call_logs,
                country_code=callees.country_code,
                store=store,
                log=self.log,  # type: ignore[arg-type]
                max_active_requests=max_active,
                redial_unknown=self.redial_unknown,
                try_number=getattr(context["ti"], "try_number", None),
            ).run()
        finally:
            hook.close()
        return submission_record(result, calls, callees)

    def execute(self, context: Context) -> dict[str, Any]:
        calls, callees = validation.outbound_calls(
            to=self.to,
            bridge=self.bridge,
            flow_id=self.flow_id,
            message=self.message,
            language=self.language,
            speed=self.speed,
            prefix=self.prefix,
            retry=self.retry,
            time=self.time,
            timeout=self.timeout,
            delay=self.delay,
            interval=self.interval,
            custom=self.custom,
            dlrurl=self.dlrurl,
            callback=self.callback,
            correlation_token=task_correlation_token(context),
            on_invalid_number=self.on_invalid_number,
        )
        max_active = validation.check_max_active_requests(self.max_active_requests)
        if callees.duplicates:
            self.log.warning(
                "Dropped %d duplicate number(s), each is dialled once: %s",
                len(callees.duplicates),
                ", ".join(callees.duplicates),
            )
        if callees.invalid:
            self.log.warning(
                "Skipped %d entr(ies) of to that are not phone numbers: %s",
                len(callees.invalid),
                ", ".join(callees.invalid),
            )
        record = self._submit_campaign(context, calls, callees, max_active)
        self.log.info(
            "Kaleyra accepted %s for %d number(s) from %s",
            wire.describe_target(calls[0]),
            record["numbers_count"],
            record["bridge"],
        )
        return self._finish(context, record, [n for call in calls for n in call.to])

    # ------------------------------------------------------------------ waiting for outcomes

    def _policy(self) -> outcomes.OutcomePolicy:
        return outcomes.OutcomePolicy.build(
            success_statuses=self.success_statuses,
            failure_statuses=self.failure_statuses,
            min_success_ratio=self.min_success_ratio,
            max_failed=self.max_failed,
        )

    def _finish(self, context: Context, record: dict[str, Any], numbers: list[str]) -> dict[str, Any]:
        """Return the record, or (``wait_for_completion``) wait for how the calls ended.

        The record is pushed to XCom (key ``submission``) before waiting, so it survives a
        failed wait; the calls are never placed again by the wait. ``numbers`` is the
        whole list: a large campaign's record leaves it out.
        """
        context["ti"].xcom_push(key=SUBMISSION_XCOM_KEY, value=record)
        if not self.wait_for_completion:
            return {**record, OUTCOMES_XCOM_KEY: None}
        watch = correlation.watch_from_record({**record, "numbers": numbers})
        timeout = validation.check_seconds("wait_timeout", self.wait_timeout)
        wait = waiting.Wait(
            watch=watch,
            policy=self._policy(),
            deadline=waiting.deadline_after(watch.start_time, timeout),
            poll_interval=validation.check_seconds("poll_interval", self.poll_interval),
        )
        if self.deferrable:
            # Deferred: the trigger brings Airflow's triggerer classes, needed only to defer.
            from airflow_provider_kaleyra.triggers.kaleyra import KaleyraCallStatusTrigger

            self.log.info("Deferring until the %d call(s) end (at most until %s)", len(watch.numbers), wait.deadline)
            self.defer(
                trigger=KaleyraCallStatusTrigger(kaleyra_conn_id=self.kaleyra_conn_id, **wait.as_kwargs()),
                method_name="execute_complete",
                # Given back to execute_complete on resume; the trigger's kwargs stay as they were.
                kwargs={"record": record},
            )
        try:
            event = waiting.wait_sync(wait, self.hook.call_logs, self.log)
        finally:
            self.hook.close()
        return self.execute_complete(context, event, record=record)

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, record: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """End the wait: the record with its outcome table, or the policy's failure.

        The outcome table goes to the XCom key ``outcomes`` before the policy decides, so
        a downstream task (``trigger_rule="all_done"``) can redial the unanswered numbers
        of a failed wait.
        """
        ti = context["ti"]
        if record is None:
            # Deferred by a provider version that did not hand the record over: read it back.
            record = ti.xcom_pull(task_ids=ti.task_id, key=SUBMISSION_XCOM_KEY, map_indexes=ti.map_index) or {}
        result = waiting.complete(
            event, self._policy(), self.log, keep=lambda table: ti.xcom_push(key=OUTCOMES_XCOM_KEY, value=table)
        )
        return {**record, OUTCOMES_XCOM_KEY: result}
