"""Waiting for call outcomes through real Airflow (``dag.test()``) against the simulator.

``dag.test()`` runs a deferred task's trigger in line, so these prove deferral end to
end on each Airflow version the suite runs on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE, SECOND_FLOW_ID

from .dagrun import run_dag, task_output

if TYPE_CHECKING:
    import pytest

    from airflow_provider_kaleyra.simulator import KaleyraSimulator

DAGS = "kaleyra_outcomes.py"
TEN = [f"+9188309070{i:02d}" for i in range(10)]


def conf(numbers: list[str], flow_id: str = DEFAULT_FLOW_ID) -> dict[str, object]:
    return {"to": numbers, "bridge": SECOND_BRIDGE, "flow_id": flow_id}


def test_all_answered_succeeds_after_deferring(simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]) -> None:
    result = run_dag(DAGS, "kaleyra_wait_deferred", conf(TEN[:3]))
    task = result.task("call")
    assert (result.state, task.state, task.try_number) == ("success", "success", 1)
    assert task.xcom["outcomes"]["counts"] == {"success": 3}
    assert [row["status"] for row in task.xcom["outcomes"]["calls"]] == ["ANSWER"] * 3
    assert task.xcom["outcomes"]["flow_id"] == task.xcom["flow_id"] == DEFAULT_FLOW_ID
    assert task.xcom["numbers"] == TEN[:3]  # the return value is the submission record, with its outcomes
    out = task_output(capfd)
    assert "Deferring until the 3 call(s) end" in out
    assert "3 call(s) -- success: 3" in out  # the summary table in the task log
    assert [simulator.dials_to(n) for n in TEN[:3]] == [1, 1, 1]  # resuming never re-dials


def test_a_flow_that_is_not_published_fails_without_retry_naming_it(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    simulator.script_outcomes(flows={SECOND_FLOW_ID: "FLOW_NOT_PUBLISHED"})
    result = run_dag(DAGS, "kaleyra_wait_deferred", conf(TEN[:2], flow_id=SECOND_FLOW_ID))
    task = result.task("call")
    assert (result.state, task.state) == ("failed", "failed")
    assert task.try_number == 1  # retries=2, none used
    out = task_output(capfd)
    assert f"Kaleyra could not run flow {SECOND_FLOW_ID} from bridge {SECOND_BRIDGE}" in out
    assert "FLOW_NOT_PUBLISHED (the flow is not published in Flow Builder)" in out
    assert [simulator.dials_to(n) for n in TEN[:2]] == [1, 1]


def test_three_of_ten_busy_within_a_30_percent_tolerance_succeeds(simulator: KaleyraSimulator) -> None:
    simulator.script_outcomes({n: "BUSY" for n in TEN[:3]})
    result = run_dag(DAGS, "kaleyra_wait_tolerant", conf(TEN))
    task = result.task("call")
    assert (result.state, task.state) == ("success", "success")
    assert task.xcom["outcomes"]["counts"] == {"success": 7, "callee": 3}
    assert task.xcom["outcomes"]["statuses"] == {"ANSWER": 7, "BUSY": 3}
    assert {row["number"] for row in task.xcom["outcomes"]["calls"] if row["status"] == "BUSY"} == set(TEN[:3])


def test_four_of_ten_busy_exceeds_the_tolerance(simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]) -> None:
    simulator.script_outcomes({n: "BUSY" for n in TEN[:4]})
    result = run_dag(DAGS, "kaleyra_wait_tolerant", conf(TEN))
    task = result.task("call")
    assert task.state == "failed"
    assert "4 of 10 calls of flow" in task_output(capfd)
    # Too many callee failures are retryable: Airflow ran all three tries, and each try
    # reused the accepted batch and waited again instead of dialling again.
    assert task.try_number == 3
    assert [simulator.dials_to(n) for n in TEN] == [1] * 10


def test_timeout_fails_listing_the_pending_numbers(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    numbers = ["+918830907001", "+918830907099", "+918830907199"]  # ...99 rings forever
    result = run_dag(DAGS, "kaleyra_wait_timeout", conf(numbers))
    assert result.task("call").state == "failed"
    out = task_output(capfd)
    assert "2 of 3 numbers have no final status yet: +918830907099, +918830907199" in out


def test_waiting_on_the_worker_without_deferral(simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]) -> None:
    result = run_dag(DAGS, "kaleyra_wait_on_worker", conf(["+918830907001", "+918830907002"]))
    assert result.task("call").state == "success"
    assert result.task("call").xcom["outcomes"]["counts"] == {"success": 2}
    assert "Deferring" not in task_output(capfd)


def test_sensor_deferred_and_poking_read_the_operators_record(simulator: KaleyraSimulator) -> None:
    numbers = ["+918830907001", "+918830907002", "+918830907090"]  # ...90 is busy
    result = run_dag(DAGS, "kaleyra_sensor", conf(numbers))
    assert result.state == "success"
    assert result.task("place").xcom["numbers"] == numbers
    for task_id in ("outcomes_deferred", "outcomes_poke"):
        xcom = result.task(task_id).xcom
        assert xcom["counts"] == {"success": 2, "callee": 1}, task_id
        assert [row["status"] for row in xcom["calls"]] == ["ANSWER", "ANSWER", "BUSY"]
    assert [simulator.dials_to(n) for n in numbers] == [1, 1, 1]
