"""KaleyraOutboundCallOperator: trigger a Flow Builder call flow from a DAG task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_kaleyra import validation
    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook


def task_correlation_token(context: Context) -> str:
    """Equal for every try of one task instance, different between task instances."""
    ti = context["ti"]
    return wire.correlation_token(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))


class KaleyraOutboundCallOperator(BaseOperator):
    """Call one or more numbers and play them a published Kaleyra Flow Builder flow.

    Everything is validated before the first request; more than 100 numbers are sent
    as batches of at most 100, each at most once across all tries of the task
    instance (see ``campaign``). The return value (XCom) records what Kaleyra
    accepted: ``code``, ``message``, ``numbers``, ``bridge``, ``flow_id``,
    ``submitted_at`` (UTC), ``correlation_token`` and one entry per request in
    ``batches`` (see ``campaign.campaign_record``).

    :param to: the callees: E.164 numbers as a list or a comma-separated string
        (digits only when ``prefix`` is given). A number given twice is dialled once.
    :param bridge: the account's DID the calls come from, E.164.
    :param flow_id: the Flow ID copied from Flow Builder's "Existing Flows"; exactly one.
    :param kaleyra_conn_id: the Airflow connection of type ``kaleyra``.
    :param prefix: a country code Kaleyra puts in front of ``to``.
    :param retry: how many times Kaleyra retries an unanswered call.
    :param time: when Kaleyra should place the calls: a timezone-aware datetime or a string.
    :param timeout: Kaleyra's outbound timeout for the call.
    :param delay: Kaleyra's delay option.
    :param interval: Kaleyra's interval between retries.
    :param custom: data attached to the calls: a string or a JSON-serialisable mapping.
    :param dlrurl: a status-report URL with Kaleyra's placeholders (``{id}``, ``{status}``...).
    :param callback: ``{"call_end": {"url": [...], "callback_profile": [...]}, ...}``.
    :param on_invalid_number: ``"fail"`` (default): an entry of ``to`` that is not a phone
        number fails the task before anything is sent; ``"skip"``: it is left out, logged
        and listed in the XCom's ``invalid_skipped``.
    :param max_active_requests: how many batches of 100 may be in flight at once (1-10).
    :param redial_unknown: a batch an earlier try sent without learning the outcome (no
        answer, worker killed) is sent again instead of failing the task; its numbers
        may then be dialled twice.
    """

    template_fields: Sequence[str] = (
        "to",
        "bridge",
        "flow_id",
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
        flow_id: str,
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.bridge = bridge
        self.flow_id = flow_id
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

    def hook(self) -> KaleyraHook:
        from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

        return KaleyraHook(self.kaleyra_conn_id)

    def _submit_campaign(
        self, context: Context, calls: list[wire.OutboundCall], callees: validation.Numbers, max_active: int
    ) -> dict[str, Any]:
        """Send every batch at most once across tries; the XCom record of all of them."""
        from airflow_provider_kaleyra import batch_state
        from airflow_provider_kaleyra.campaign import Campaign, campaign_record

        hook = self.hook()
        _ = hook.settings  # a broken connection fails here, before anything is sent
        _ = hook.session  # created once here, then shared by the worker threads
        store = batch_state.store_for(context, task_correlation_token(context))
        try:
            result = Campaign(
                submit=hook.submit,
                calls=calls,
                store=store,
                log=self.log,  # type: ignore[arg-type]
                max_active_requests=max_active,
                redial_unknown=self.redial_unknown,
                try_number=getattr(context["ti"], "try_number", None),
            ).run()
        finally:
            hook.close()
        return campaign_record(
            result, calls, duplicates=list(callees.duplicates), invalid_skipped=list(callees.invalid)
        )

    def execute(self, context: Context) -> dict[str, Any]:
        # Imported here: DAG files import this module on every parse.
        from airflow_provider_kaleyra import validation

        calls, callees = validation.outbound_calls(
            to=self.to,
            bridge=self.bridge,
            flow_id=self.flow_id,
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
            "Kaleyra accepted flow %s for %d number(s) from %s",
            record["flow_id"],
            record["numbers_count"],
            record["bridge"],
        )
        return record

