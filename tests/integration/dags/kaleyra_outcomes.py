"""Test DAGs: placing calls and waiting for how they ended (operator flag, sensor)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator
from airflow_provider_kaleyra.sensors.kaleyra import KaleyraCallStatusSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")
PARAMS = {"to": [], "bridge": "", "flow_id": ""}


def calls(task_id: str = "call", **kwargs: Any) -> KaleyraOutboundCallOperator:
    return KaleyraOutboundCallOperator(
        task_id=task_id,
        to="{{ params.to }}",
        bridge="{{ params.bridge }}",
        flow_id="{{ params.flow_id }}",
        retry_delay=dt.timedelta(seconds=0),
        **kwargs,
    )


def waiting_dag(dag_id: str, **kwargs: Any) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=START, params=PARAMS, render_template_as_native_obj=True) as dag:
        calls(wait_for_completion=True, poll_interval=0.2, **{"retries": 2, **kwargs})
    return dag


wait_deferred = waiting_dag("kaleyra_wait_deferred", deferrable=True, wait_timeout=60)
wait_tolerant = waiting_dag("kaleyra_wait_tolerant", deferrable=True, wait_timeout=60, min_success_ratio=0.7)
# No retries, to keep the test short: the retries of a waiting operator are covered above.
wait_timeout = waiting_dag("kaleyra_wait_timeout", deferrable=True, wait_timeout=2, retries=0)
wait_on_worker = waiting_dag("kaleyra_wait_on_worker", deferrable=False, wait_timeout=60)
# Long enough for a deployment's triggerer to poll (and log progress) before the deadline.
wait_until_deadline = waiting_dag("kaleyra_wait_until_deadline", deferrable=True, wait_timeout=20, retries=0)

with DAG(
    dag_id="kaleyra_sensor", schedule=None, start_date=START, params=PARAMS, render_template_as_native_obj=True
) as sensor_dag:
    placed = calls("place")
    placed >> KaleyraCallStatusSensor(
        task_id="outcomes_deferred", record=placed.output, deferrable=True, poke_interval=0.2, timeout=60, max_failed=1
    )
    placed >> KaleyraCallStatusSensor(
        task_id="outcomes_poke",
        record="{{ ti.xcom_pull(task_ids='place') }}",
        deferrable=False,
        mode="poke",
        poke_interval=0.2,
        timeout=60,
        max_failed=1,
    )
