"""Spoken calls (text-to-speech) through real DAG runs (``dag.test()``) against the simulator."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.simulator import SECOND_BRIDGE

from .dagrun import run_dag, stored_batches

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

ANSWERED, NO_ANSWER = "+918830907001", "+918830907091"


def test_a_dag_with_only_a_spoken_message_places_and_waits_for_its_calls(simulator: KaleyraSimulator) -> None:
    conf = {"to": [ANSWERED], "bridge": SECOND_BRIDGE, "speed": "fast"}
    result = run_dag("kaleyra_spoken.py", "kaleyra_spoken", conf)

    assert result.state == "success"
    text = f"kaleyra_spoken says hello to run {result.run_id}"
    record = result.task("speak").xcom
    assert record["flow_id"] == ""
    assert record["spoken"] == {"text": text, "language": "en-US", "speed": "fast"}
    assert [(row["number"], row["status"]) for row in record["outcomes"]["calls"]] == [(ANSWERED, "ANSWER")]
    # What reached Kaleyra: the message target, no flow.
    [dial] = simulator.ledger()
    assert dial["flow_id"] == ""
    assert dial["spoken"] == {"text": text, "language": "en-US", "speed": "fast"}
    assert json.loads(dial["custom"])[wire.CORRELATION_KEY] == record["correlation_token"]
    # At-most-once holds for spoken campaigns too: the batch is stored as accepted.
    assert [entry["status"] for entry in stored_batches(result, "speak").values()] == ["accepted"]


def test_a_spoken_call_nobody_answers_fails_on_the_policy_with_its_table(simulator: KaleyraSimulator) -> None:
    result = run_dag("kaleyra_spoken.py", "kaleyra_spoken", {"to": [NO_ANSWER], "bridge": SECOND_BRIDGE})
    assert result.task("speak").state == "failed"
    assert simulator.dials_to(NO_ANSWER) == 1


def test_the_failure_call_example_speaks_dag_task_and_run(simulator: KaleyraSimulator) -> None:
    result = run_dag("kaleyra_examples.py", "example_kaleyra_call_on_failure")

    assert (result.state, result.task("load").state) == ("failed", "failed")
    [dial] = simulator.ledger()
    assert dial["number"] == "+918830907001"
    assert dial["flow_id"] == ""
    assert dial["spoken"] == {
        "text": f"Airflow alert. example_kaleyra_call_on_failure failed at task load, run {result.run_id}.",
        "language": "en-US",
        "speed": "slow",
    }
    assert dial["retry"] == "2"
