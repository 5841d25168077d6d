"""Waiting in a real triggerer: progress in the task log, outcomes kept when the wait fails."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator
    from tests.deployment.rest_client import AirflowClient

DAG_ID = "kaleyra_wait_until_deadline"
REDIAL = "example_kaleyra_redial_unanswered"


def log_once_it_says(
    api: AirflowClient, dag_id: str, run_id: str, task_id: str, wanted: list[str], timeout: float = 60
) -> str:
    """The task log of try 1, once it holds every ``wanted`` line (the triggerer's part may come later)."""
    deadline = time.monotonic() + timeout
    while True:
        log = api.task_log(dag_id, run_id, task_id, 1)
        if all(line in log for line in wanted) or time.monotonic() > deadline:
            return log
        time.sleep(1)


def test_a_wait_that_times_out_logs_progress_and_keeps_its_outcome_table(
    airflow_api: AirflowClient, deployment_simulator: KaleyraSimulator
) -> None:
    answered, ringing = "+918830907021", "+918830907099"  # ...99 rings until the deadline
    conf = {"to": [answered, ringing], "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID}
    run_id = airflow_api.trigger(DAG_ID, conf)
    run = airflow_api.wait_for_run(DAG_ID, run_id)
    assert run.state == "failed", run.seen_states
    assert "deferred" in run.seen_states["call"], run.seen_states

    # The outcome table outlives the failure: a downstream task could act on it.
    outcomes = airflow_api.xcom(DAG_ID, run_id, "call", key="outcomes")
    assert [(row["number"], row["status"], row["category"]) for row in outcomes["calls"]] == [
        (answered, "ANSWER", "success"),
        (ringing, "RINGING", "pending"),
    ]
    assert outcomes["pending"] == [ringing]
    assert airflow_api.xcom(DAG_ID, run_id, "call", key="submission")["numbers"] == [answered, ringing]

    # Progress from the triggerer, in the task's own log, then the timeout.
    progress = f"Kaleyra calls: 1 of 2 calls ended (ANSWER 1); 1 pending: {ringing}"
    timed_out = f"1 of 2 numbers have no final status yet: {ringing}"
    log = log_once_it_says(airflow_api, DAG_ID, run_id, "call", [progress, timed_out])
    assert progress in log, log[-3000:]
    assert timed_out in log, log[-3000:]


def test_the_redial_example_redials_the_unanswered_numbers_of_a_failed_wait(
    airflow_api: AirflowClient, deployment_simulator: KaleyraSimulator
) -> None:
    answered, no_answer, busy = "+918830907031", "+918830907091", "+918830907090"
    conf = {"to": [answered, no_answer, busy], "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID}
    run_id = airflow_api.trigger(REDIAL, conf)
    run = airflow_api.wait_for_run(REDIAL, run_id, timeout=300)
    assert run.seen_states["call_customers"][-1] == "failed", run.seen_states
    assert airflow_api.xcom(REDIAL, run_id, "unanswered") == [no_answer, busy]
    assert run.seen_states["redial[0]"][-1] == run.seen_states["redial[1]"][-1] == "success", run.seen_states
    assert [deployment_simulator.dials_to(n) for n in (answered, no_answer, busy)] == [1, 2, 2]
