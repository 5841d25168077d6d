"""Test DAGs for at-most-once campaigns: retries through Airflow against a faulty simulator."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
PARAMS = {"to": [], "bridge": "", "flow_id": ""}


def campaign(dag_id: str, **options: object) -> DAG:
    with DAG(
        dag_id=dag_id, schedule=None, start_date=START, params=PARAMS, render_template_as_native_obj=True
    ) as dag:
        KaleyraOutboundCallOperator(
            task_id="call",
            to="{{ params.to }}",
            bridge="{{ params.bridge }}",
            flow_id="{{ params.flow_id }}",
            retries=2,
            retry_delay=dt.timedelta(seconds=0),
            **options,  # type: ignore[arg-type]
        )
    return dag


bulk = campaign("kaleyra_bulk", max_active_requests=2)
bulk_serial = campaign("kaleyra_bulk_serial", max_active_requests=1)
bulk_redial = campaign("kaleyra_bulk_redial", max_active_requests=1, redial_unknown=True)
bulk_skip = campaign("kaleyra_bulk_skip", on_invalid_number="skip")

#: Killed mid-campaign by tests/integration/test_worker_killed.py: fixed numbers, so the
#: task can be run by ``airflow tasks test`` without DAG run conf.
KILL_NUMBERS = [f"+9166{i:08d}" for i in range(2000)]
with DAG(dag_id="kaleyra_bulk_2000", schedule=None, start_date=START) as bulk_2000:
    KaleyraOutboundCallOperator(
        task_id="call",
        to=KILL_NUMBERS,
        bridge="+6531651234",
        flow_id="SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb",
        max_active_requests=2,
        retries=2,
        retry_delay=dt.timedelta(seconds=0),
    )
