"""The example DAGs, imported from example_dags/ and run through ``dag.test()`` against the simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE

from .dagrun import run_dag, xcom

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

ANSWERED, NO_ANSWER, BUSY = "+918830907001", "+918830907091", "+918830907090"


def test_the_redial_example_calls_again_whoever_did_not_answer_a_failed_wait(simulator: KaleyraSimulator) -> None:
    conf = {"to": [ANSWERED, NO_ANSWER, BUSY], "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID}
    result = run_dag("kaleyra_examples.py", "example_kaleyra_redial_unanswered", conf)

    # The first round fails on the policy (two calls failed, none allowed)...
    first = result.task("call_customers")
    assert first.state == "failed"
    assert first.xcom is None  # a failed task returns nothing...
    outcomes = xcom(result, "call_customers", key="outcomes")  # ...but its outcome table is kept
    assert [(row["number"], row["status"]) for row in outcomes["calls"]] == [
        (ANSWERED, "ANSWER"),
        (NO_ANSWER, "NOANSWER"),
        (BUSY, "BUSY"),
    ]
    assert xcom(result, "call_customers", key="submission")["numbers"] == [ANSWERED, NO_ANSWER, BUSY]

    # ...and the numbers that did not answer are redialled, one mapped task each.
    assert result.task("unanswered").state == "success"
    assert result.task("unanswered").xcom == [NO_ANSWER, BUSY]
    for index, number in enumerate([NO_ANSWER, BUSY]):
        redial = result.task(f"redial[{index}]")
        assert redial.state == "success"  # a second miss is recorded, not a failure
        assert redial.xcom["numbers"] == [number]
        assert [row["status"] for row in redial.xcom["outcomes"]["calls"]] == [
            "NOANSWER" if number == NO_ANSWER else "BUSY"
        ]
    assert [simulator.dials_to(n) for n in (ANSWERED, NO_ANSWER, BUSY)] == [1, 2, 2]


def test_the_redial_example_redials_nobody_when_everyone_answered(simulator: KaleyraSimulator) -> None:
    numbers = ["+918830907001", "+918830907002"]
    result = run_dag(
        "kaleyra_examples.py",
        "example_kaleyra_redial_unanswered",
        {"to": numbers, "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID},
    )
    assert result.state == "success"
    assert result.task("call_customers").xcom["outcomes"]["counts"] == {"success": 2}
    assert result.task("unanswered").xcom == []
    assert result.task("redial").state == "skipped"  # mapped over nothing
    assert [simulator.dials_to(n) for n in numbers] == [1, 1]


def test_the_escalation_example_pages_the_rota_after_a_failed_critical_task(simulator: KaleyraSimulator) -> None:
    result = run_dag("kaleyra_examples.py", "example_kaleyra_escalation")

    assert (result.task("load").state, result.task("publish").state) == ("failed", "success")
    page = result.task("page_on_call")
    assert page.state == "success"
    assert (page.xcom["answered_step"], page.xcom["answered_by"]) == (2, "+918830907002")
    assert [s["ended"] for s in page.xcom["steps"]] == ["unanswered", "answered"]
    dialled = ["+918830907191", "+918830907002", "+918830907003", "+918830907004"]
    assert [simulator.dials_to(n) for n in dialled] == [1, 1, 1, 0]
