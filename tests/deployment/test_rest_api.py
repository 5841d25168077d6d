"""The provider on a real deployment, driven through Airflow's REST API v2."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE

from .conftest import connection_fields

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator
    from tests.deployment.rest_client import AirflowClient

EXAMPLE = "example_kaleyra_outbound_call"
NUMBERS = ["+918830907011", "+918830907012", "+918830907013"]


def test_example_dag_places_each_call_once_and_waits_in_the_triggerer(
    airflow_api: AirflowClient, deployment_simulator: KaleyraSimulator
) -> None:
    deferred: list[dict[str, Any]] = []

    def look_while_deferred(tis: list[dict[str, Any]]) -> None:
        ti = next(t for t in tis if t["task_id"] == "place_calls")
        if ti["state"] != "deferred":
            return
        pool = airflow_api.pool()
        # The pool is read after the task instance: keep the sample only if the task was
        # still deferred after that read, so a trigger firing in between is not a failure.
        after = airflow_api.task_instance(EXAMPLE, run_id, "place_calls")
        if after["state"] == "deferred" and after["try_number"] == ti["try_number"]:
            deferred.append({"pool": pool, "trigger": after.get("trigger") or ti.get("trigger")})

    run_id = airflow_api.trigger(EXAMPLE, {"to": NUMBERS, "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID})
    run = airflow_api.wait_for_run(EXAMPLE, run_id, poll=0.2, on_sample=look_while_deferred)
    assert run.state == "success", run.seen_states

    # Placed once: the submission record, and the ledger with each number exactly once.
    submission = airflow_api.xcom(EXAMPLE, run_id, "place_calls", key="submission")
    assert submission["code"] == "RBC3007"
    assert submission["numbers"] == NUMBERS
    assert (submission["bridge"], submission["flow_id"]) == (SECOND_BRIDGE, DEFAULT_FLOW_ID)
    assert [deployment_simulator.dials_to(n) for n in NUMBERS] == [1, 1, 1]
    assert len(deployment_simulator.ledger()) == len(NUMBERS)

    # Waited in the triggerer: seen deferred, its trigger held by a triggerer, no pool slot
    # running meanwhile (a deferred task gives its worker slot back).
    assert run.seen_states["place_calls"][-1] == "success"
    assert "deferred" in run.seen_states["place_calls"], run.seen_states
    assert deferred, "the task was never seen deferred"
    for sample in deferred:
        assert sample["pool"]["running_slots"] == 0, sample
        assert sample["pool"]["deferred_slots"] == 1, sample
    triggers = [s["trigger"] for s in deferred if s["trigger"]]
    assert triggers, deferred
    assert triggers[0]["classpath"] == "airflow_provider_kaleyra.triggers.kaleyra.KaleyraCallStatusTrigger"
    assert any(t.get("triggerer_id") is not None for t in triggers), triggers

    # And how the calls ended is the task's result.
    returned = airflow_api.xcom(EXAMPLE, run_id, "place_calls")
    outcome = returned["outcomes"]
    assert outcome == airflow_api.xcom(EXAMPLE, run_id, "place_calls", key="outcomes")
    assert {k: v for k, v in returned.items() if k != "outcomes"} == submission  # one shape: record + outcomes
    assert outcome["counts"] == {"success": 3}
    assert sorted(row["number"] for row in outcome["calls"]) == NUMBERS
    log = airflow_api.task_log(EXAMPLE, run_id, "place_calls", 1)
    assert "Deferring until the 3 call(s) end" in log


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
