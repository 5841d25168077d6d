"""Phone the on-call engineer when a DAG run is still not done two hours after it was queued.

A Deadline Alert runs its callback in the triggerer, which awaits the notifier (its
``async_notify``). Its context holds only ``dag_run`` (a dict) and ``deadline``: there
is no ``dag`` or ``ti`` to template with. The defaults match the local simulator
(``python -m airflow_provider_kaleyra.simulator``).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference

from airflow_provider_kaleyra.notifications.kaleyra import KaleyraCallNotifier

# [START howto_notifier_kaleyra_deadline_alert]
late_run_alert = DeadlineAlert(
    reference=DeadlineReference.DAGRUN_QUEUED_AT,
    interval=timedelta(hours=2),
    callback=AsyncCallback(
        KaleyraCallNotifier,
        kwargs={
            "to": "+918830907001",
            "bridge": "+6531651234",
            "flow_id": "SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb",
            "custom": "{{ dag_run.dag_id }} is late",
        },
    ),
)
# [END howto_notifier_kaleyra_deadline_alert]


@task
def nightly_load() -> None:
    """Stands for the real work the deadline watches."""


with DAG(
    dag_id="example_kaleyra_deadline_alert",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "kaleyra"],
    deadline=late_run_alert,
) as dag:
    nightly_load()
