"""Call customers, then redial those who did not answer: one mapped task per number.

``call_customers`` waits for how the calls ended and fails when any call failed (the
default policy). Its outcome table is kept in XCom under the key ``outcomes`` all the
same, so ``unanswered`` (``trigger_rule="all_done"``: it runs whether the wait
succeeded or failed) picks the numbers whose calls ended NOANSWER or BUSY, and
``redial`` is mapped over them: one call per number, each waited for. When everyone
answered, the list is empty and ``redial`` is skipped. The defaults match the local
simulator (``python -m airflow_provider_kaleyra.simulator``), where a number ending in
91 does not answer and one ending in 90 is busy.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, TriggerRule, task

from airflow_provider_kaleyra.operators.kaleyra import OUTCOMES_XCOM_KEY, KaleyraOutboundCallOperator

#: Calls that ended on the callee's side and may go better a little later.
REDIAL_STATUSES = ("NOANSWER", "BUSY")

with DAG(
    dag_id="example_kaleyra_redial_unanswered",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "kaleyra"],
    params={
        "to": Param(
            ["+918830907001", "+918830907091", "+918830907090"], type="array", description="Callees, E.164"
        ),
        "bridge": Param("+6531651234", type="string", description="The DID the calls come from"),
        "flow_id": Param(
            "SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb", type="string", description="Flow ID from Flow Builder"
        ),
    },
    render_template_as_native_obj=True,
) as dag:
    # [START redial_unanswered]
    call_customers = KaleyraOutboundCallOperator(
        task_id="call_customers",
        to="{{ params.to }}",
        bridge="{{ params.bridge }}",
        flow_id="{{ params.flow_id }}",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=5,
        wait_timeout=15 * 60,
    )

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def unanswered(ti: Any = None) -> list[str]:
        """The numbers to call again, read from the first round's outcome table."""
        from airflow_provider_kaleyra.outcomes import numbers_with_status

        table = ti.xcom_pull(task_ids="call_customers", key=OUTCOMES_XCOM_KEY)
        return numbers_with_status(table, *REDIAL_STATUSES)

    to_redial = unanswered()
    call_customers >> to_redial
    KaleyraOutboundCallOperator.partial(
        task_id="redial",
        bridge="{{ params.bridge }}",
        flow_id="{{ params.flow_id }}",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=5,
        wait_timeout=15 * 60,
        max_failed=1,  # the last try: a second miss is recorded in its outcomes, not a failure
    ).expand(to=to_redial)
    # [END redial_unanswered]
