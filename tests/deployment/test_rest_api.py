"""The provider on a real deployment, driven through Airflow's REST API v2."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE

from .conftest import connection_fields

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator
    from tests.deployment.rest_client import AirflowClient

EXAMPLE = "example_kaleyra_outbound_call"
NUMBERS = ["+918830907011", "+918830907012", "+918830907013"]


def test_example_dag_places_each_call_once(airflow_api: AirflowClient, deployment_simulator: KaleyraSimulator) -> None:
    run_id = airflow_api.trigger(EXAMPLE, {"to": NUMBERS, "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID})
    run = airflow_api.wait_for_run(EXAMPLE, run_id)
    assert run.state == "success", run.seen_states
    record = airflow_api.xcom(EXAMPLE, run_id, "place_calls")
    assert record["code"] == "RBC3007"
    assert record["numbers"] == NUMBERS
    assert (record["bridge"], record["flow_id"]) == (SECOND_BRIDGE, DEFAULT_FLOW_ID)
    assert [deployment_simulator.dials_to(n) for n in NUMBERS] == [1, 1, 1]
    assert len(deployment_simulator.ledger()) == len(NUMBERS)


def test_unknown_flow_fails_the_task_without_retry_naming_the_flow(
    airflow_api: AirflowClient, deployment_simulator: KaleyraSimulator
) -> None:
    # kaleyra_calls has retries=2: a permanent failure must not use them.
    conf = {"to": NUMBERS[:1], "bridge": SECOND_BRIDGE, "flow_id": "SG_not-a-published-flow", "custom": None}
    run_id = airflow_api.trigger("kaleyra_calls", conf)
    run = airflow_api.wait_for_run("kaleyra_calls", run_id)
    assert run.state == "failed"
    assert "up_for_retry" not in run.seen_states["call"]
    ti = airflow_api.task_instance("kaleyra_calls", run_id, "call")
    assert (ti["state"], ti["try_number"]) == ("failed", 1)
    log = airflow_api.task_log("kaleyra_calls", run_id, "call", 1)
    assert "RBC3115" in log
    assert "SG_not-a-published-flow" in log
    assert deployment_simulator.ledger() == []


def test_connection_test_endpoint_against_the_simulator(
    airflow_api: AirflowClient, deployment_simulator: KaleyraSimulator
) -> None:
    good = airflow_api.test_connection(
        "kaleyra_probe", conn_type="kaleyra", **connection_fields(deployment_simulator)
    )
    assert good["status"] is True, good
    assert deployment_simulator.sid in good["message"]

    bad = airflow_api.test_connection(
        "kaleyra_probe", conn_type="kaleyra", **connection_fields(deployment_simulator, password="wrong-key-123456")
    )
    assert bad["status"] is False, bad
    assert "RBC001" in bad["message"]
    assert "wrong-key-123456" not in bad["message"]
    assert deployment_simulator.ledger() == []
