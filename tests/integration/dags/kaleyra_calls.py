"""Test DAGs: the outbound call operator driven by params, plainly and mapped."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(
    dag_id="kaleyra_calls",
    schedule=None,
    start_date=START,
    params={"to": [], "bridge": "", "flow_id": "", "custom": None},
    render_template_as_native_obj=True,
) as calls:
    KaleyraOutboundCallOperator(
        task_id="call",
        to="{{ params.to }}",
        bridge="{{ params.bridge }}",
        flow_id="{{ params.flow_id }}",
        custom="{{ params.custom }}",
        retries=2,
        retry_delay=dt.timedelta(seconds=0),
    )

with DAG(
    dag_id="kaleyra_calls_mapped", schedule=None, start_date=START, params={"bridge": "", "flow_id": ""}
) as mapped_calls:
    KaleyraOutboundCallOperator.partial(
        task_id="call", bridge="{{ params.bridge }}", flow_id="{{ params.flow_id }}"
    ).expand(to=[["+918830907001"], ["+918830907002", "+918830907003"]])

# The templating pitfall the docs warn about: ``ds`` exists only on runs with a logical date.
with DAG(
    dag_id="kaleyra_calls_custom_ds", schedule=None, start_date=START, params={"to": [], "bridge": "", "flow_id": ""}
) as custom_ds_calls:
    KaleyraOutboundCallOperator(
        task_id="call",
        to="{{ params.to }}",
        bridge="{{ params.bridge }}",
        flow_id="{{ params.flow_id }}",
        custom="invoice {{ ds }}",
    )
