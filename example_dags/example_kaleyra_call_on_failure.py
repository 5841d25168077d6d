"""Phone the on-call engineer when a pipeline fails.

The ``load`` task fails on purpose; its ``on_failure_callback`` asks Kaleyra to call the
on-call number and play a Flow Builder flow, with the failing DAG and task in ``custom``.
The defaults match the local simulator (``python -m airflow_provider_kaleyra.simulator``).
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_kaleyra.notifications.kaleyra import KaleyraCallNotifier

call_on_call_engineer = KaleyraCallNotifier(
    to="+918830907001",  # the on-call phone, E.164
    bridge="+6531651234",  # the account's DID the call comes from
    flow_id="SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb",  # a published Flow Builder flow
    custom="{{ dag.dag_id }} failed at {{ ti.task_id }}",
    retry=2,  # Kaleyra rings twice more if nobody answers
)


@task(retries=0)
def load() -> None:
    raise RuntimeError("the nightly load failed")


with DAG(
    dag_id="example_kaleyra_call_on_failure",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "kaleyra"],
) as dag:
    load.override(on_failure_callback=call_on_call_engineer)()
