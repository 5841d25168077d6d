"""Test DAGs for inputs and answers the happy path never shows: spellings, bad values, odd call logs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
PARAMS = {"to": [], "bridge": "", "flow_id": "", "prefix": None, "time": None, "callback": None}
FLOW = "SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb"
BRIDGE = "+6531651234"


def templated(dag_id: str, **options: Any) -> DAG:
    """Every value from the run's conf, rendered as native objects."""
    with DAG(dag_id=dag_id, schedule=None, start_date=START, params=PARAMS, render_template_as_native_obj=True) as dag:
        KaleyraOutboundCallOperator(
            task_id="call",
            to="{{ params.to }}",
            bridge="{{ params.bridge }}",
            flow_id="{{ params.flow_id }}",
            prefix="{{ params.prefix }}",
            time="{{ params.time }}",
            callback="{{ params.callback }}",
            retry_delay=dt.timedelta(seconds=0),
            **{"retries": 2, **options},
        )
    return dag


def fixed(dag_id: str, **options: Any) -> DAG:
    """Values no run conf can carry (a mapping with an int key, an infinite float)."""
    with DAG(dag_id=dag_id, schedule=None, start_date=START) as dag:
        KaleyraOutboundCallOperator(
            task_id="call",
            to=["+918830907001"],
            bridge=BRIDGE,
            flow_id=FLOW,
            retries=2,
            retry_delay=dt.timedelta(seconds=0),
            **options,
        )
    return dag


place = templated("kaleyra_place", max_active_requests=2)
place_and_wait = templated(
    "kaleyra_place_and_wait", wait_for_completion=True, deferrable=True, poll_interval=0.2, wait_timeout=60
)
place_and_wait_briefly = templated(
    "kaleyra_place_and_wait_briefly", wait_for_completion=True, deferrable=True, poll_interval=0.2, wait_timeout=3,
    retries=0,
)
custom_int_key = fixed("kaleyra_custom_int_key", custom={1: "x"})
infinite_timeout = fixed("kaleyra_infinite_timeout", timeout=float("inf"))
plain = fixed("kaleyra_plain")
