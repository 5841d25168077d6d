"""Test DAGs: calls that speak a text instead of running a Flow Builder flow."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(
    dag_id="kaleyra_spoken",
    schedule=None,
    start_date=START,
    params={"to": [], "bridge": "", "speed": "medium"},
    render_template_as_native_obj=True,
) as spoken:
    # No flow_id anywhere: the message alone says what the callee hears.
    KaleyraOutboundCallOperator(
        task_id="speak",
        to="{{ params.to }}",
        bridge="{{ params.bridge }}",
        message="{{ dag.dag_id }} says hello to run {{ run_id }}",
        speed="{{ params.speed }}",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.2,
        wait_timeout=60,
    )
