"""The example DAGs, imported from example_dags/ and run through ``dag.test()`` against the simulator."""

from __future__ import annotations

import asyncio
import json
import runpy
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_kaleyra._compat import AIRFLOW_RELEASE, HAS_DEADLINE_ALERTS
from airflow_provider_kaleyra.notifications.kaleyra import KaleyraCallNotifier
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE

from .dagrun import load_dag, run_dag, xcom

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


#: Runs without a logical date (manual, REST and CLI-triggered ones) exist from Airflow 3.
needs_runs_without_logical_date = pytest.mark.skipif(
    AIRFLOW_RELEASE < (3, 0), reason="Airflow 2 gives every run a logical date"
)


@needs_runs_without_logical_date
def test_the_outbound_example_on_a_run_without_a_logical_date(simulator: KaleyraSimulator) -> None:
    """As a manual, REST or CLI-triggered run on Airflow 3: no logical date, so no ``ds``."""
    dag = load_dag("kaleyra_examples.py", "example_kaleyra_outbound_call")
    run = dag.test(logical_date=None)  # the params' defaults: two answer, one is busy
    assert run.logical_date is None
    assert str(run.state) == "success"  # 2 of 3 answered, the example asks for 60%
    numbers = ["+918830907001", "+918830907002", BUSY]
    assert [simulator.dials_to(n) for n in numbers] == [1, 1, 1]
    sent = {json.loads(dial["custom"])["text"] for dial in simulator.ledger()}
    assert sent == {f"payment reminder for run {run.run_id}"}


def test_the_sensor_example_waits_for_the_calls_the_first_task_placed(simulator: KaleyraSimulator) -> None:
    result = run_dag("kaleyra_examples.py", "example_kaleyra_call_status_sensor")
    assert result.task("place_calls").state == "success"
    assert result.task("place_calls").xcom["outcomes"] is None  # the operator did not wait
    outcomes = result.task("call_outcomes")
    assert outcomes.state == "success"  # one busy callee is within max_failed=1
    assert outcomes.xcom["statuses"] == {"ANSWER": 1, "BUSY": 1}
    assert [simulator.dials_to(n) for n in (ANSWERED, BUSY)] == [1, 1]


@pytest.mark.skipif(not HAS_DEADLINE_ALERTS, reason="Deadline Alerts are Airflow 3.1+")
def test_the_deadline_alert_example_places_the_call_its_callback_describes(simulator: KaleyraSimulator) -> None:
    example = runpy.run_path(str(Path(__file__).parents[2] / "example_dags" / "example_kaleyra_deadline_alert.py"))
    callback = example["late_run_alert"].callback
    assert callback.path == "airflow_provider_kaleyra.notifications.kaleyra.KaleyraCallNotifier"
    # What the triggerer does with an AsyncCallback: build the notifier and await it.
    context = {"dag_run": {"dag_id": "example_kaleyra_deadline_alert", "run_id": "manual__1"}, "deadline": {}}

    async def awaited() -> None:
        await KaleyraCallNotifier(**callback.kwargs, context=context)

    asyncio.run(awaited())
    [dial] = simulator.ledger()
    assert dial["number"] == "+918830907001"
    assert json.loads(dial["custom"])["text"] == "example_kaleyra_deadline_alert is late"


@needs_runs_without_logical_date
def test_ds_in_custom_fails_a_run_without_a_logical_date_before_anyone_is_dialled(
    simulator: KaleyraSimulator,
) -> None:
    """Why the examples template ``run_id``: a manual run on Airflow 3 has no ``ds``."""
    dag = load_dag("kaleyra_calls.py", "kaleyra_calls_custom_ds")
    conf = {"to": [ANSWERED], "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID}
    manual = dag.test(run_conf=conf, logical_date=None)
    assert str(manual.state) == "failed"
    assert simulator.ledger() == []
    dated = dag.test(run_conf=conf)  # dag.test() gives its run a logical date: the pitfall hides
    assert str(dated.state) == "success"
    assert simulator.dials_to(ANSWERED) == 1


def test_the_escalation_example_pages_the_rota_after_a_failed_critical_task(simulator: KaleyraSimulator) -> None:
    result = run_dag("kaleyra_examples.py", "example_kaleyra_escalation")

    assert (result.task("load").state, result.task("publish").state) == ("failed", "success")
    page = result.task("page_on_call")
    assert page.state == "success"
    assert (page.xcom["answered_step"], page.xcom["answered_by"]) == (2, "+918830907002")
    assert [s["ended"] for s in page.xcom["steps"]] == ["unanswered", "answered"]
    dialled = ["+918830907191", "+918830907002", "+918830907003", "+918830907004"]
    assert [simulator.dials_to(n) for n in dialled] == [1, 1, 1, 0]
