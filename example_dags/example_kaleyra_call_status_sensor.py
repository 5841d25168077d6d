"""Place calls in one task and wait for how they ended in the next, with the sensor.

``place_calls`` only submits (no ``wait_for_completion``); its return value is the
submission record, which ``call_outcomes`` takes as ``record``. The sensor defers to the
triggerer and fails when more than one call failed. The defaults match the local
simulator (``python -m airflow_provider_kaleyra.simulator``), where a number ending in
90 is busy.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator
from airflow_provider_kaleyra.sensors.kaleyra import KaleyraCallStatusSensor

with DAG(
    dag_id="example_kaleyra_call_status_sensor",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "kaleyra"],
    params={
        "to": Param(["+918830907001", "+918830907090"], type="array", description="Callees, E.164"),
        "bridge": Param("+6531651234", type="string", description="The DID the calls come from"),
        "flow_id": Param(
            "SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb", type="string", description="Flow ID from Flow Builder"
        ),
    },
    render_template_as_native_obj=True,
) as dag:
    # [START howto_sensor_kaleyra_call_status]
    place_calls = KaleyraOutboundCallOperator(
        task_id="place_calls",
        to="{{ params.to }}",
        bridge="{{ params.bridge }}",
        flow_id="{{ params.flow_id }}",
    )
    call_outcomes = KaleyraCallStatusSensor(
        task_id="call_outcomes",
        record=place_calls.output,  # or "{{ ti.xcom_pull(task_ids='place_calls') }}"
        deferrable=True,  # wait in the triggerer; mode="poke" or "reschedule" waits on a worker
        poke_interval=5,  # seconds between call-log polls
        timeout=15 * 60,  # seconds after the calls were placed
        max_failed=1,  # one failed call is tolerated, two fail the task
    )
    place_calls >> call_outcomes
    # [END howto_sensor_kaleyra_call_status]
