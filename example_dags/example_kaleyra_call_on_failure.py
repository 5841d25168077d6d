"""Phone the on-call engineer when a pipeline fails, and say what failed.

The ``load`` task fails on purpose; its ``on_failure_callback`` asks Kaleyra to call the
on-call number and speak the failing DAG, task and run (text-to-speech: no Flow Builder
flow is needed). The defaults match the local simulator
(``python -m airflow_provider_kaleyra.simulator``).
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_kaleyra.notifications.kaleyra import KaleyraCallNotifier

# [START howto_notifier_kaleyra]
call_on_call_engineer = KaleyraCallNotifier(
    to="+918830907001",  # the on-call phone, E.164
    bridge="+6531651234",  # the account's DID the call comes from
    message="Airflow alert. {{ dag.dag_id }} failed at task {{ ti.task_id }}, run {{ run_id }}.",
    language="en-US",
    speed="slow",  # an alert heard at night: slowly
    retry=2,  # Kaleyra rings twice more if nobody answers
    # optional: kaleyra_conn_id="kaleyra_default", prefix="+91", raise_on_failure=False
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
    # on_failure_callback=call_on_call_engineer,  # or once for the whole run
) as dag:
    load.override(on_failure_callback=call_on_call_engineer)()
# [END howto_notifier_kaleyra]
