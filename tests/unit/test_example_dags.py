"""The example DAGs parse cleanly, without touching the database or a connection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.engine import Engine

from airflow_provider_kaleyra._compat import HAS_DEADLINE_ALERTS

if TYPE_CHECKING:
    import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"


def dagbag(folder: Path):  # type: ignore[no-untyped-def]
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    # Example DAGs are off (AIRFLOW__CORE__LOAD_EXAMPLES in tests/conftest.py).
    return DagBag(dag_folder=str(folder))


def test_example_dags_parse_without_db_queries_or_connection_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.common.compat.sdk import BaseHook

    queries: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        queries.append(statement)

    def no_lookup(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was looked up while parsing")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(no_lookup))
    event.listen(Engine, "before_cursor_execute", record)
    try:
        bag = dagbag(EXAMPLES)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    expected = {
        "example_kaleyra_outbound_call",
        "example_kaleyra_call_on_failure",
        "example_kaleyra_redial_unanswered",
        "example_kaleyra_call_status_sensor",
        "example_kaleyra_escalation",
    }
    if HAS_DEADLINE_ALERTS:
        assert bag.import_errors == {}
        expected.add("example_kaleyra_deadline_alert")
    else:  # Deadline Alerts are Airflow 3.1+: that one example cannot be built before
        assert list(bag.import_errors) == [str(EXAMPLES / "example_kaleyra_deadline_alert.py")]
        assert "deadline" in next(iter(bag.import_errors.values()))
    assert expected <= set(bag.dag_ids)
    assert queries == []


def test_example_dag_shape() -> None:
    dag = dagbag(EXAMPLES).dags["example_kaleyra_outbound_call"]
    task = dag.get_task("place_calls")
    assert task.task_type == "KaleyraOutboundCallOperator"
    assert set(dag.params) == {"to", "bridge", "flow_id"}


def test_call_on_failure_example_shape() -> None:
    from airflow_provider_kaleyra.notifications.kaleyra import KaleyraCallNotifier

    dag = dagbag(EXAMPLES).dags["example_kaleyra_call_on_failure"]
    callbacks = dag.get_task("load").on_failure_callback
    # Airflow 2.11 keeps the one callback it was given; 3.x makes it a list.
    [callback] = callbacks if isinstance(callbacks, list) else [callbacks]
    assert isinstance(callback, KaleyraCallNotifier)
    assert callback.to == "+918830907001"
    assert callback.flow_id is None  # spoken: no Flow Builder flow needed
    assert callback.message == "Airflow alert. {{ dag.dag_id }} failed at task {{ ti.task_id }}, run {{ run_id }}."


def test_redial_example_shape() -> None:
    dag = dagbag(EXAMPLES).dags["example_kaleyra_redial_unanswered"]
    first, pick, redial = (dag.get_task(t) for t in ("call_customers", "unanswered", "redial"))
    assert first.wait_for_completion is True
    assert pick.trigger_rule == "all_done"  # runs after a failed wait too
    assert pick.upstream_task_ids == {"call_customers"}
    assert redial.upstream_task_ids == {"unanswered"}
    assert redial.task_type == "KaleyraOutboundCallOperator"
    assert redial.expand_input.value["to"] is not None  # mapped over the numbers to call again


def test_escalation_example_shape() -> None:
    dag = dagbag(EXAMPLES).dags["example_kaleyra_escalation"]
    page = dag.get_task("page_on_call")
    assert page.task_type == "KaleyraEscalationOperator"
    assert page.trigger_rule == "one_failed"
    assert page.upstream_task_ids == {"load", "publish"}
    assert page.deferrable is True
