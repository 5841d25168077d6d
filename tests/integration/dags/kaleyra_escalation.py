"""Test DAGs: escalation chains, called one step after another until someone answers."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_kaleyra.operators.escalation import KaleyraEscalationOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
PARAMS = {"chain": [], "bridge": ""}


def escalation_dag(dag_id: str, **kwargs: object) -> DAG:
    # Rendered as text: the chain arrives as its string form, which the operator reads. (Under
    # Airflow 2.11's dag.test() a resumed task renders its already-rendered values again, and
    # natively "+91..." would become a number.)
    with DAG(dag_id=dag_id, schedule=None, start_date=START, params=PARAMS) as dag:
        KaleyraEscalationOperator(
            task_id="escalate",
            chain="{{ params.chain }}",
            bridge="{{ params.bridge }}",
            message="{{ dag.dag_id }} needs someone, run {{ run_id }}",
            poll_interval=0.2,
            retry_delay=dt.timedelta(seconds=0),
            **kwargs,  # type: ignore[arg-type]
        )
    return dag


# Windows long enough for the simulator's calls (0.5 s) to end on their own.
escalate_deferred = escalation_dag("kaleyra_escalation", answer_window=30, deferrable=True, retries=1)
escalate_on_worker = escalation_dag("kaleyra_escalation_on_worker", answer_window=30, deferrable=False)
# The first step's window is short: a callee who has not answered within it is passed over.
escalate_short_first_window = escalation_dag(
    "kaleyra_escalation_short_window", answer_window=[1, 30], deferrable=True
)


@task(retries=0)
def critical_load() -> None:
    raise RuntimeError("the critical load failed")


with DAG(dag_id="kaleyra_escalation_one_failed", schedule=None, start_date=START, params=PARAMS) as one_failed:
    critical_load() >> KaleyraEscalationOperator(
        task_id="page_on_call",
        chain="{{ params.chain }}",
        bridge="{{ params.bridge }}",
        message="{{ dag.dag_id }} failed",
        answer_window=30,
        poll_interval=0.2,
        trigger_rule="one_failed",
    )
