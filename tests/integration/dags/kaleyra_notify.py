"""Test DAGs: a task that raises, and KaleyraCallNotifier phoning the on-call number."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_kaleyra.notifications.kaleyra import KaleyraCallNotifier, send_kaleyra_call

START = pendulum.datetime(2026, 1, 1, tz="UTC")
PARAMS = {"on_call": "", "bridge": "", "flow_id": ""}


def page_on_call() -> KaleyraCallNotifier:
    return send_kaleyra_call(
        to="{{ params.on_call }}",
        bridge="{{ params.bridge }}",
        flow_id="{{ params.flow_id }}",
        custom="{{ dag.dag_id }} failed at {{ ti.task_id }}",
    )


@task
def boom() -> None:
    raise RuntimeError("the load failed")


with DAG(dag_id="kaleyra_notify_task_failure", schedule=None, start_date=START, params=PARAMS) as task_level:
    boom.override(on_failure_callback=page_on_call())()

with DAG(
    dag_id="kaleyra_notify_dag_failure",
    schedule=None,
    start_date=START,
    params=PARAMS,
    on_failure_callback=page_on_call(),
) as dag_level:
    boom()

# The DAG processor runs DAG-level callbacks with a context of its own (no params).
with DAG(
    dag_id="kaleyra_notify_in_dag_processor",
    schedule=None,
    start_date=START,
    on_failure_callback=KaleyraCallNotifier(
        to="+918830907001",
        bridge="+6531651234",
        flow_id="SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb",
        custom="{{ dag.dag_id }} failed: {{ reason }}",
    ),
) as in_dag_processor:
    boom()
