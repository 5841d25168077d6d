"""Call a list of customers with a Flow Builder flow, then wait for how each call ended.

One Kaleyra request goes out per 100 numbers; the wait runs in the triggerer (no
worker slot) and the task fails when the flow is broken or fewer than 60% of the
calls were answered. Trigger it with params to change who is called; the defaults
match the local simulator (``python -m airflow_provider_kaleyra.simulator``), where
a number ending in 90 is busy.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator

with DAG(
    dag_id="example_kaleyra_outbound_call",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "kaleyra"],
    params={
        "to": Param(
            ["+918830907001", "+918830907002", "+918830907090"], type="array", description="Callees, E.164"
        ),
        "bridge": Param("+6531651234", type="string", description="The DID the calls come from"),
        "flow_id": Param(
            "SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb", type="string", description="Flow ID from Flow Builder"
        ),
    },
    render_template_as_native_obj=True,
) as dag:
    # [START howto_operator_kaleyra_outbound_call]
    place_calls = KaleyraOutboundCallOperator(
        task_id="place_calls",
        to="{{ params.to }}",  # a list, or a comma-separated string, of E.164 numbers
        bridge="{{ params.bridge }}",  # the account's DID the calls come from
        flow_id="{{ params.flow_id }}",  # a published Flow Builder flow
        # run_id is set on every run; {{ ds }} is not (manual, REST and CLI-triggered
        # runs have no logical date on Airflow 3, and rendering would fail the task).
        custom="payment reminder for run {{ run_id }}",
        # optional, as Kaleyra documents them: prefix, retry, time (an aware datetime or an
        # ISO 8601 string with offset), timeout, delay, interval, dlrurl,
        # callback={"call_end": {"url": [...]}}
        wait_for_completion=True,
        deferrable=True,
        poll_interval=5,  # seconds between call-log polls; 30 or more is kinder to a real account
        wait_timeout=15 * 60,  # numbers without a final status by then fail the task
        min_success_ratio=0.6,  # or max_failed=3; with neither, one failed call fails the task
    )
    # [END howto_operator_kaleyra_outbound_call]
