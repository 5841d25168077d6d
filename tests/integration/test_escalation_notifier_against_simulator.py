"""KaleyraEscalationNotifier over real HTTP: awaited as a Deadline Alert runs it, and as a sync callback."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_kaleyra._compat import HAS_DEADLINE_ALERTS
from airflow_provider_kaleyra.exceptions import KaleyraNobodyAnsweredError
from airflow_provider_kaleyra.notifications.escalation import KaleyraEscalationNotifier
from airflow_provider_kaleyra.simulator import SECOND_BRIDGE

from .test_notifier_async_against_simulator import DEADLINE_CONTEXT, airflow_callback_trigger, trigger_events

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

PRIMARY_NO_ANSWER, SECONDARY, MANAGER = "+918830907191", "+918830907002", "+918830907003"
NOTIFIER = "airflow_provider_kaleyra.notifications.escalation.KaleyraEscalationNotifier"
KWARGS: dict[str, Any] = {
    "chain": [PRIMARY_NO_ANSWER, SECONDARY, MANAGER],
    "bridge": SECOND_BRIDGE,
    "message": "{{ dag_run.dag_id }} missed its deadline",
    "answer_window": 30,
    "poll_interval": 0.2,
}

#: The escalating path is the one Airflow awaits in the triggerer: Deadline Alerts, 3.1+.
needs_deadline_alerts = pytest.mark.skipif(
    not HAS_DEADLINE_ALERTS, reason="Airflow < 3.1 has no Deadline Alerts and never awaits a notifier"
)


@needs_deadline_alerts
def test_escalate_calls_the_next_step_only_after_the_first_went_unanswered(
    kaleyra_connection: KaleyraSimulator,
) -> None:
    notifier = KaleyraEscalationNotifier(**KWARGS)
    notifier.render_template_fields(dict(DEADLINE_CONTEXT))  # type: ignore[arg-type]
    result = asyncio.run(notifier.escalate(DEADLINE_CONTEXT))

    assert (result["answered_by"], result["answered_step"]) == (SECONDARY, 2)
    assert [s["ended"] for s in result["steps"]] == ["unanswered", "answered"]
    assert [kaleyra_connection.dials_to(n) for n in (PRIMARY_NO_ANSWER, SECONDARY, MANAGER)] == [1, 1, 0]
    first, second = kaleyra_connection.ledger()
    assert first["spoken"]["text"] == "nightly_billing missed its deadline"
    assert first["time"] < second["time"]


@needs_deadline_alerts
def test_nobody_answering_is_raised_only_when_asked(kaleyra_connection: KaleyraSimulator) -> None:
    chain = {"chain": [PRIMARY_NO_ANSWER]}
    asyncio.run(awaited(KaleyraEscalationNotifier(**{**KWARGS, **chain}, context=DEADLINE_CONTEXT)))  # logged
    loud = KaleyraEscalationNotifier(**{**KWARGS, **chain}, raise_on_failure=True, context=DEADLINE_CONTEXT)
    with pytest.raises(KaleyraNobodyAnsweredError, match="Nobody answered any of the 1 escalation step"):
        asyncio.run(awaited(loud))
    assert kaleyra_connection.dials_to(PRIMARY_NO_ANSWER) == 2  # once per notification


async def awaited(notifier: KaleyraEscalationNotifier) -> None:
    await notifier


@needs_deadline_alerts
def test_airflows_deadline_trigger_runs_the_whole_chain(kaleyra_connection: KaleyraSimulator) -> None:
    from airflow.sdk.definitions.deadline import AsyncCallback

    AsyncCallback(KaleyraEscalationNotifier, kwargs=KWARGS)  # accepted as a Deadline Alert callback
    events = asyncio.run(trigger_events(airflow_callback_trigger(KWARGS, NOTIFIER)))
    assert [getattr(e["state"], "value", e["state"]) for e in events] == ["running", "success"], events
    assert [kaleyra_connection.dials_to(n) for n in (PRIMARY_NO_ANSWER, SECONDARY, MANAGER)] == [1, 1, 0]


def test_a_sync_callback_calls_the_first_step_only_and_says_why(
    kaleyra_connection: KaleyraSimulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    notifier = KaleyraEscalationNotifier(**{**KWARGS, "message": "{{ ti.task_id }} failed"})
    with caplog.at_level(logging.WARNING):
        # Airflow 2.11 renders a callback's templates with the context's DAG; 3.x need none.
        dag = DAG(dag_id="d", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
        notifier({"dag": dag, "ti": type("TI", (), {"task_id": "load", "dag_id": "d", "run_id": "r"})()})
    assert [kaleyra_connection.dials_to(n) for n in (PRIMARY_NO_ANSWER, SECONDARY, MANAGER)] == [1, 0, 0]
    assert kaleyra_connection.ledger()[0]["spoken"]["text"] == "load failed"
    logs = caplog.text + capfd.readouterr().out
    assert "cannot wait for answers without blocking" in logs
    assert "KaleyraEscalationOperator" in logs
