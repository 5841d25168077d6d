"""A task instance that met an answer which does not say whether Kaleyra dialled is never
sent again: not by its retry, and not when the user runs the same task instance again.

Two real ``airflow tasks test`` processes run the same task instance of one DAG run, as
a retry or a clear-and-rerun would; the stored state is what carries the knowledge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .test_worker_killed import airflow, output, start_run

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

DAG_ID = "kaleyra_plain"


@pytest.mark.timeout(600)
def test_running_the_task_instance_again_does_not_resend_a_batch_answered_with_an_unknown_code(
    simulator: KaleyraSimulator,
) -> None:
    run_id = "unknown_code_then_rerun"
    trigger = airflow("dags", "trigger", DAG_ID, "--run-id", run_id)
    out, _ = trigger.communicate(timeout=300)
    assert trigger.returncode == 0, out
    start_run(DAG_ID, run_id)

    simulator.inject_fault("unknown_code", accept=False, times=None)  # answered RBC3008; nobody dialled
    first = airflow("tasks", "test", DAG_ID, "call", run_id)
    out = output(first)
    assert "Task failed with exception" in out, out[-3000:]  # ``tasks test`` exits 0 either way
    assert "Kaleyra answered RBC3008 'Request processed' (HTTP 200)" in out, out[-3000:]

    simulator.clear_faults()  # Kaleyra would now accept it: it must still not be sent
    again = airflow("tasks", "test", DAG_ID, "call", run_id)
    out = output(again)
    assert "Task failed with exception" in out, out[-3000:]
    assert "Outcome unknown for batch 1/1" in out, out[-3000:]
    assert "RBC3008" in out
    assert simulator.ledger() == []
