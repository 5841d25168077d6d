"""KaleyraCallNotifier's async path over real HTTP, as a Deadline Alert runs it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra._compat import HAS_DEADLINE_ALERTS
from airflow_provider_kaleyra.exceptions import KaleyraPermanentError
from airflow_provider_kaleyra.notifications.kaleyra import KaleyraCallNotifier
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE, KaleyraSimulator

pytestmark = pytest.mark.skipif(
    not HAS_DEADLINE_ALERTS, reason="Airflow < 3.1 has no Deadline Alerts and never awaits a notifier"
)

ON_CALL = "+918830907001"
NOTIFIER = "airflow_provider_kaleyra.notifications.kaleyra.KaleyraCallNotifier"
KWARGS = {
    "to": ON_CALL,
    "bridge": SECOND_BRIDGE,
    "flow_id": DEFAULT_FLOW_ID,
    "custom": "{{ dag_run.dag_id }} missed its deadline",
}
#: What the scheduler hands a Deadline Alert callback (3.1 and 3.3 alike).
DEADLINE_CONTEXT = {
    "dag_run": {"dag_id": "nightly_billing", "run_id": "scheduled__2026-01-01T00:00:00+00:00"},
    "deadline": {"id": "0199c1d2-7f1c", "deadline_time": "2026-01-01T02:00:00+00:00"},
}


async def awaited(notifier: KaleyraCallNotifier) -> None:
    await notifier


def test_await_places_one_call_with_the_rendered_custom(kaleyra_connection: KaleyraSimulator) -> None:
    asyncio.run(awaited(KaleyraCallNotifier(**KWARGS, context=DEADLINE_CONTEXT)))
    [dial] = kaleyra_connection.ledger()
    assert dial["number"] == ON_CALL
    assert json.loads(dial["custom"])["text"] == "nightly_billing missed its deadline"


def test_refusal_over_http_is_raised_only_when_asked(kaleyra_connection: KaleyraSimulator) -> None:
    quiet = KaleyraCallNotifier(**{**KWARGS, "flow_id": "SG_unpublished"}, context=DEADLINE_CONTEXT)
    asyncio.run(awaited(quiet))  # logged, not raised
    loud = KaleyraCallNotifier(
        **{**KWARGS, "flow_id": "SG_unpublished"}, raise_on_failure=True, context=DEADLINE_CONTEXT
    )
    with pytest.raises(KaleyraPermanentError, match="RBC3115"):
        asyncio.run(awaited(loud))
    assert kaleyra_connection.ledger() == []


def airflow_callback_trigger(kwargs: dict[str, Any], notifier: str = NOTIFIER) -> Any:
    """The trigger Airflow's triggerer runs for a Deadline Alert's AsyncCallback."""
    try:  # Airflow 3.2+: callbacks have their own trigger, which passes context only if accepted
        from airflow.triggers.callback import CallbackTrigger
    except ImportError:  # Airflow 3.1: always passes context to the callable
        from airflow.triggers.deadline import DeadlineCallbackTrigger as CallbackTrigger  # type: ignore[no-redef]
    return CallbackTrigger(callback_path=notifier, callback_kwargs={**kwargs, "context": DEADLINE_CONTEXT})


async def trigger_events(trigger: Any) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def test_airflows_deadline_trigger_runs_it(kaleyra_connection: KaleyraSimulator) -> None:
    from airflow.sdk.definitions.deadline import AsyncCallback

    AsyncCallback(KaleyraCallNotifier, kwargs=KWARGS)  # accepted as a Deadline Alert callback
    events = asyncio.run(trigger_events(airflow_callback_trigger(KWARGS)))
    assert [getattr(e["state"], "value", e["state"]) for e in events] == ["running", "success"], events
    [dial] = kaleyra_connection.ledger()
    custom = json.loads(dial["custom"])
    assert custom["text"] == "nightly_billing missed its deadline"
    assert custom[wire.CORRELATION_KEY] == dial["correlation_token"]
