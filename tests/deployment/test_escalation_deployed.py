"""Escalation in a running Airflow: the primary does not answer, the secondary does.

Scheduler, DAG processor, triggerer and API server run as in production; the step waits
are deferred to the triggerer, and each step is dialled by a worker after the one before
ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra.simulator import SECOND_BRIDGE

from .test_waiting_deployed import log_once_it_says

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator
    from tests.deployment.rest_client import AirflowClient

DAG_ID = "kaleyra_escalation"


def test_the_secondary_is_dialled_once_after_the_primary_did_not_answer_while_deferred(
    airflow_api: AirflowClient, deployment_simulator: KaleyraSimulator
) -> None:
    primary, secondary, manager = "+918830907041", "+918830907042", "+918830907043"
    # The primary rings for a while, then does not answer: long enough to be seen waiting.
    deployment_simulator.script_outcomes({primary: "NOANSWER@6"})
    dialled_while_deferred: list[tuple[int, int]] = []

    def note(tis: list[dict[str, Any]]) -> None:
        if any(ti["task_id"] == "escalate" and ti.get("state") == "deferred" for ti in tis):
            dialled_while_deferred.append(
                (deployment_simulator.dials_to(primary), deployment_simulator.dials_to(secondary))
            )

    run_id = airflow_api.trigger(DAG_ID, {"chain": [primary, secondary, manager], "bridge": SECOND_BRIDGE})
    run = airflow_api.wait_for_run(DAG_ID, run_id, timeout=240, on_sample=note)

    assert run.state == "success", run.seen_states
    assert "deferred" in run.seen_states["escalate"], run.seen_states
    # While step 1 rang, the task waited deferred and nobody else was dialled.
    assert (1, 0) in dialled_while_deferred, dialled_while_deferred
    assert [deployment_simulator.dials_to(n) for n in (primary, secondary, manager)] == [1, 1, 0]

    summary = airflow_api.xcom(DAG_ID, run_id, "escalate")
    assert (summary["answered"], summary["answered_by"], summary["answered_step"]) == (True, secondary, 2)
    assert [(s["numbers"], s["ended"]) for s in summary["steps"]] == [
        ([primary], "unanswered"),
        ([secondary], "answered"),
    ]
    assert [row["status"] for step in summary["steps"] for row in step["calls"]] == ["NOANSWER", "ANSWER"]

    ended = f"Escalation step 1/3 ended unanswered at {summary['steps'][0]['ended_at']}: {primary} NOANSWER"
    answered = f"Answered by {secondary} at escalation step 2"
    log = log_once_it_says(airflow_api, DAG_ID, run_id, "escalate", [ended, answered])
    assert ended in log, log[-3000:]
    assert answered in log, log[-3000:]
