"""KaleyraCallNotifier as a real deployment runs it: after a task in the worker, after a run in the DAG processor."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE
from tests.deployment.airflow_deployment import AIRFLOW_2
from tests.deployment.browser import wait_for

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator
    from tests.deployment.airflow_deployment import AirflowDeployment
    from tests.deployment.rest_client import AirflowClient

ON_CALL = "+918830907041"
ACCEPTED = "Kaleyra accepted the call to {number} with flow {flow}"


def test_task_failure_notifier_places_its_call_and_logs_in_the_task_log(
    airflow_api: AirflowClient, deployment_simulator: KaleyraSimulator
) -> None:
    dag_id = "kaleyra_notify_task_failure"
    run_id = airflow_api.trigger(dag_id, {"on_call": ON_CALL, "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID})
    run = airflow_api.wait_for_run(dag_id, run_id)
    assert run.state == "failed"
    [dial] = deployment_simulator.ledger()
    assert (dial["number"], dial["flow_id"], dial["bridge"]) == (ON_CALL, DEFAULT_FLOW_ID, SECOND_BRIDGE)
    custom = json.loads(dial["custom"])
    assert custom["text"] == f"{dag_id} failed at boom"
    assert custom[wire.CORRELATION_KEY] == dial["correlation_token"]
    log = airflow_api.task_log(dag_id, run_id, "boom", 1)
    assert ACCEPTED.format(number=ON_CALL, flow=DEFAULT_FLOW_ID) in log


def test_dag_failure_notifier_places_its_call_from_the_dag_processor(
    airflow_api: AirflowClient, airflow_deployment: AirflowDeployment, deployment_simulator: KaleyraSimulator
) -> None:
    dag_id = "kaleyra_notify_in_dag_processor"  # its notifier's number and flow are fixed in the DAG file
    number = "+918830907001"
    run_id = airflow_api.trigger(dag_id)
    run = airflow_api.wait_for_run(dag_id, run_id)
    assert run.state == "failed"
    # The DAG processor runs the callback after the run ended, on its next pass over the
    # file (30 s apart, much later on a busy machine): wait for its dial, generously.
    wait_for("the DAG-level notifier's call", lambda: deployment_simulator.ledger(), timeout=600)
    [dial] = deployment_simulator.ledger()
    assert (dial["number"], dial["flow_id"], dial["bridge"]) == (number, DEFAULT_FLOW_ID, SECOND_BRIDGE)
    assert json.loads(dial["custom"])["text"].startswith(f"{dag_id} failed")
    # Not in any task log: in the DAG processor's log of that DAG file (2.11: the scheduler's).
    line = ACCEPTED.format(number=number, flow=DEFAULT_FLOW_ID)
    assert line not in airflow_api.task_log(dag_id, run_id, "boom", 1)
    folder = airflow_deployment.home / "logs" / ("scheduler" if AIRFLOW_2 else "dag_processor")
    logs = sorted(folder.rglob("kaleyra_notify.py.log"))
    assert any(line in path.read_text(errors="replace") for path in logs), logs
