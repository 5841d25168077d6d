"""Escalation through real DAG runs (``dag.test()``, deferred waits in Airflow's triggerer loop)
against the simulator: who is dialled, how often, and what the XCom says."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_kaleyra.simulator import SECOND_BRIDGE

from .dagrun import run_dag, xcom

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

#: By the simulator's rule on the last two digits: 91 does not answer, 99 rings forever.
PRIMARY_NO_ANSWER, SECONDARY, MANAGER = "+918830907191", "+918830907002", "+918830907003"
RINGS_FOREVER = "+918830907199"


def escalate(dag_id: str, chain: list[object]) -> object:
    return run_dag("kaleyra_escalation.py", dag_id, {"chain": chain, "bridge": SECOND_BRIDGE})


@pytest.mark.parametrize("dag_id", ["kaleyra_escalation", "kaleyra_escalation_on_worker"])
def test_the_secondary_is_called_once_when_the_primary_does_not_answer(
    simulator: KaleyraSimulator, dag_id: str
) -> None:
    result = escalate(dag_id, [PRIMARY_NO_ANSWER, SECONDARY, MANAGER])

    assert result.state == "success"  # type: ignore[attr-defined]
    summary = result.task("escalate").xcom  # type: ignore[attr-defined]
    assert (summary["answered"], summary["answered_by"], summary["answered_step"]) == (True, SECONDARY, 2)
    assert [(s["numbers"], s["ended"], s["answered_by"]) for s in summary["steps"]] == [
        ([PRIMARY_NO_ANSWER], "unanswered", []),
        ([SECONDARY], "answered", [SECONDARY]),
    ]
    assert [row["status"] for row in summary["steps"][0]["calls"]] == ["NOANSWER"]
    assert summary["steps"][0]["ended_at"] <= summary["steps"][1]["dialled_at"]
    # Step 2 only after step 1 ended, each once; the manager never.
    assert [simulator.dials_to(n) for n in (PRIMARY_NO_ANSWER, SECONDARY, MANAGER)] == [1, 1, 0]
    first, second = simulator.ledger()
    assert (first["number"], second["number"]) == (PRIMARY_NO_ANSWER, SECONDARY)
    assert first["spoken"]["text"] == f"{dag_id} needs someone, run {result.run_id}"  # type: ignore[attr-defined]
    assert first["correlation_token"] != second["correlation_token"]  # each step is found by its own token


def test_a_group_is_rung_together_and_the_first_answer_stops_the_chain(simulator: KaleyraSimulator) -> None:
    result = escalate("kaleyra_escalation", [[PRIMARY_NO_ANSWER, SECONDARY], MANAGER])
    summary = result.task("escalate").xcom  # type: ignore[attr-defined]
    assert (summary["answered_by"], summary["answered_step"]) == (SECONDARY, 1)
    assert [simulator.dials_to(n) for n in (PRIMARY_NO_ANSWER, SECONDARY, MANAGER)] == [1, 1, 0]


def test_a_callee_still_ringing_when_the_window_passes_is_passed_over(simulator: KaleyraSimulator) -> None:
    result = escalate("kaleyra_escalation_short_window", [RINGS_FOREVER, SECONDARY])
    steps = result.task("escalate").xcom["steps"]  # type: ignore[attr-defined]
    ended = [(s["ended"], s["calls"][0]["status"]) for s in steps]
    # The window (1 s) passed while the call was not final: still queued on a busy machine, or ringing.
    assert ended[0][0] == "window_passed"
    assert ended[0][1] in ("QUEUED", "RINGING"), ended
    assert ended[1:] == [("answered", "ANSWER")]
    assert [simulator.dials_to(n) for n in (RINGS_FOREVER, SECONDARY)] == [1, 1]


def test_a_late_answer_after_the_window_does_not_stop_the_next_step(simulator: KaleyraSimulator) -> None:
    late = "+918830907005"
    simulator.script_outcomes({late: "ANSWER@4"})  # answers on a late ring, after its 1 s window
    result = escalate("kaleyra_escalation_short_window", [late, SECONDARY])
    summary = result.task("escalate").xcom  # type: ignore[attr-defined]
    assert [s["ended"] for s in summary["steps"]] == ["window_passed", "answered"]
    assert summary["answered_by"] == SECONDARY


def test_nobody_answering_fails_the_task_once_with_the_whole_story_in_xcom(simulator: KaleyraSimulator) -> None:
    other = "+918830907291"
    result = escalate("kaleyra_escalation", [PRIMARY_NO_ANSWER, other])
    task = result.task("escalate")  # type: ignore[attr-defined]
    assert task.state == "failed"
    assert task.try_number == 1  # nobody answered: a retry would not call anyone again
    summary = xcom(result, "escalate", key="escalation")  # type: ignore[arg-type]
    assert (summary["answered"], summary["answered_by"]) == (False, None)
    assert [s["ended"] for s in summary["steps"]] == ["unanswered", "unanswered"]
    assert [simulator.dials_to(n) for n in (PRIMARY_NO_ANSWER, other)] == [1, 1]


def test_a_retry_carries_on_after_the_steps_already_called(simulator: KaleyraSimulator) -> None:
    # Step 1 goes through; step 2's request is refused (429) four times: the try fails, retryable.
    simulator.inject_fault("rate_limit", times=4, after=1, retry_after=0)
    result = escalate("kaleyra_escalation", [PRIMARY_NO_ANSWER, SECONDARY])

    task = result.task("escalate")  # type: ignore[attr-defined]
    assert (result.state, task.try_number) == ("success", 2)  # type: ignore[attr-defined]
    assert task.xcom["answered_by"] == SECONDARY
    # The retry did not call the primary again: its step's end was stored before step 2.
    assert [simulator.dials_to(n) for n in (PRIMARY_NO_ANSWER, SECONDARY)] == [1, 1]


def test_an_escalation_after_a_failed_critical_task(simulator: KaleyraSimulator) -> None:
    conf = {"chain": [PRIMARY_NO_ANSWER, SECONDARY], "bridge": SECOND_BRIDGE}
    result = run_dag("kaleyra_escalation.py", "kaleyra_escalation_one_failed", conf)
    assert result.task("critical_load").state == "failed"
    assert result.task("page_on_call").state == "success"
    assert result.task("page_on_call").xcom["answered_by"] == SECONDARY
