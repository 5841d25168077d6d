"""KaleyraCallNotifier as a real Airflow callback (``dag.test()``) against the simulator."""

from __future__ import annotations

import json

import pytest

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE, KaleyraSimulator

from .dagrun import run_dag, task_output

ON_CALL = "+918830907001"
CONF = {"on_call": ON_CALL, "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID}


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [("kaleyra_notify_task_failure", "boom"), ("kaleyra_notify_dag_failure", "boom")],
)
def test_a_failing_task_phones_the_on_call_number_once(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str], dag_id: str, task_id: str
) -> None:
    result = run_dag("kaleyra_notify.py", dag_id, CONF)
    assert f"Kaleyra accepted the call to {ON_CALL}" in task_output(capfd)
    assert (result.state, result.task(task_id).state) == ("failed", "failed")
    [dial] = simulator.ledger()
    assert dial["number"] == ON_CALL
    assert (dial["flow_id"], dial["bridge"]) == (DEFAULT_FLOW_ID, SECOND_BRIDGE)
    custom = json.loads(dial["custom"])
    assert custom["text"] == f"{dag_id} failed at {task_id}"
    assert custom[wire.CORRELATION_KEY] == dial["correlation_token"]
