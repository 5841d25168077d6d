"""KaleyraOutboundCallOperator: trigger a Flow Builder call flow from a DAG task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kaleyra import validation, wire
from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID
from airflow_provider_kaleyra.exceptions import KaleyraError, KaleyraPermanentError

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook


def task_correlation_token(context: Context) -> str:
    """Equal for every try of one task instance, different between task instances."""
    ti = context["ti"]
    return wire.correlation_token(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))


class KaleyraOutboundCallOperator(BaseOperator):
    """Call one or more numbers and play them a published Kaleyra Flow Builder flow.

    Everything is validated before the first request; more than 100 numbers are sent
    as consecutive requests of at most 100. The return value (XCom) records what
    Kaleyra accepted: ``code``, ``message``, ``numbers``, ``bridge``, ``flow_id``,
    ``submitted_at`` (UTC), ``correlation_token`` and one entry per request in
    ``batches``.

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

    def hook(self) -> KaleyraHook:
        from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

        return KaleyraHook(self.kaleyra_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
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
        )
        if callees.duplicates:
            self.log.warning(
                "Dropped %d duplicate number(s), each is dialled once: %s",
                len(callees.duplicates),
                ", ".join(callees.duplicates),
            )
        hook = self.hook()
        _ = hook.settings  # a broken connection fails here, before anything is sent
        accepted: list[wire.Submission] = []
        try:
            for index, call in enumerate(calls, start=1):
                accepted.append(hook.submit(call))
                self.log.info(
                    "Request %d/%d accepted by Kaleyra: %d number(s)", index, len(calls), len(call.to)
                )
        except KaleyraError as error:
            if not accepted:
                raise
            # Part of the list was dialled; an Airflow retry would dial it again.
            done = sum(len(s.numbers) for s in accepted)
            raise KaleyraPermanentError(
                f"{error} -- requests 1-{len(accepted)} of {len(calls)} ({done} numbers) were already "
                "accepted and are not sent again; the task fails without retry"
            ) from error
        finally:
            hook.close()
        record = submission_record(accepted, duplicates=list(callees.duplicates))
        self.log.info(
            "Kaleyra accepted flow %s for %d number(s) from %s",
            record["flow_id"],
            len(record["numbers"]),
            record["bridge"],
        )
        return record


def submission_record(submissions: Sequence[wire.Submission], *, duplicates: list[str]) -> dict[str, Any]:
    """The operator's XCom: one JSON record for all requests of one task."""
    first = submissions[0]
    return {
        "code": first.code,
        "message": first.message,
        "numbers": [n for s in submissions for n in s.numbers],
        "bridge": first.bridge,
        "flow_id": first.flow_id,
        "submitted_at": first.submitted_at,
        "correlation_token": first.correlation_token,
        "call_ids": [c for s in submissions for c in s.call_ids],
        "duplicates_dropped": duplicates,
        "batches": [
            {"size": len(s.numbers), "code": s.code, "submitted_at": s.submitted_at} for s in submissions
        ],
    }
