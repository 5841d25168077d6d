"""Page the on-call rota when a critical task fails: primary, then secondary, then the manager.

``load`` and ``publish`` are the critical tasks; ``page_on_call`` runs only when one of
them failed (``trigger_rule="one_failed"``). It calls the primary and waits, deferred in
the triggerer, up to 90 seconds for an answer; only if nobody answered it calls the next
step (here the secondary and the team lead together), and so on. It stops at the first
answer and says who answered in its XCom. The defaults match the local simulator
(``python -m airflow_provider_kaleyra.simulator``), where a number ending in 91 does not
answer.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_kaleyra.operators.escalation import KaleyraEscalationOperator


@task(retries=0)
def load() -> None:
    raise RuntimeError("the nightly load failed")


@task
def publish() -> None:
    print("published")


with DAG(
    dag_id="example_kaleyra_escalation",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "kaleyra"],
) as dag:
    critical = [load(), publish()]
    # [START howto_operator_kaleyra_escalation]
    page_on_call = KaleyraEscalationOperator(
        task_id="page_on_call",
        chain=[
            "+918830907191",  # the primary (in the simulator, ...91 does not answer)
            ["+918830907002", "+918830907003"],  # then the secondary and the team lead, rung together
            "+918830907004",  # then the manager
        ],
        bridge="+6531651234",
        message="Airflow alert. {{ dag.dag_id }} failed in run {{ run_id }}. Please look now.",
        answer_window=90,  # seconds each step may ring before the next is called
        deferrable=True,  # ring in the triggerer, not in a worker slot
        trigger_rule="one_failed",
    )
    # [END howto_operator_kaleyra_escalation]
    critical >> page_on_call
