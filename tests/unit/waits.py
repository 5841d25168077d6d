"""What the operator's and the sensor's tests share: a submission record, tasks that wait for it, their ends."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_kaleyra import call_logs, correlation, outcomes, wire
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator
from airflow_provider_kaleyra.sensors.kaleyra import KaleyraCallStatusSensor

from .fakes import FakeKaleyra, answer, install

SUBMITTED = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
RECORD = {
    "numbers": ["+918830907001", "+918830907002"],
    "bridge": "+13236789001",
    "flow_id": "SG_flow",
    "submitted_at": SUBMITTED,
    "correlation_token": "af-1",
}
WATCH = correlation.watch_from_record(RECORD)


def result(*statuses: str | None) -> dict[str, Any]:
    found = [
        correlation.CallOutcome(n, s, call_logs.status_category(s))
        for n, s in zip(WATCH.numbers, statuses, strict=True)
    ]
    return outcomes.result_of(WATCH, found)


def operator(**kwargs: Any) -> KaleyraOutboundCallOperator:
    return KaleyraOutboundCallOperator(
        task_id="call",
        to=RECORD["numbers"],
        bridge="+13236789001",
        flow_id="SG_flow",
        wait_for_completion=True,
        **kwargs,
    )


def sensor(**kwargs: Any) -> KaleyraCallStatusSensor:
    return KaleyraCallStatusSensor(task_id="wait", record=RECORD, **kwargs)


BUILDERS = [pytest.param(operator, id="operator"), pytest.param(sensor, id="sensor")]


class XComTI(SimpleNamespace):
    """A task instance that keeps what is pushed to XCom and gives it back."""

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = json.loads(json.dumps(value))

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
        assert (task_ids, map_indexes) == (self.task_id, self.map_index)
        return self.pushed.get(key)


def ctx(**pushed: Any) -> dict[str, Any]:
    return {"ti": XComTI(dag_id="d", run_id="r", task_id="call", map_index=-1, try_number=1, pushed=dict(pushed))}


def finish(task: Any, event: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a wait ends with: the sensor's table, or the operator's record with ``outcomes``."""
    context = context if context is not None else ctx()
    if isinstance(task, KaleyraOutboundCallOperator):
        value = task.execute_complete(context, event, record=RECORD)
        assert {k: v for k, v in value.items() if k != "outcomes"} == RECORD
        return value["outcomes"]
    return task.execute_complete(context, event)


def hook_talking_to(fake: FakeKaleyra) -> KaleyraHook:
    hook = KaleyraHook(sleep=lambda seconds: None)
    install(hook, fake)
    return hook


def listed(*statuses: str, token: str = "af-1", numbers: tuple[str, ...] = WATCH.numbers) -> tuple[int, bytes, dict]:
    calls = [
        {"id": f"c{i}", "to": n, "status": s, "custom": json.dumps({wire.CORRELATION_KEY: token})}
        for i, (n, s) in enumerate(zip(numbers, statuses, strict=True))
    ]
    body = {"code": "RBC3200", "message": "ok", "data": {"calls": calls, "total": len(calls)}, "error": {}}
    return answer(200, body)


def session_with(fake: FakeKaleyra) -> Any:
    import requests

    session = requests.Session()
    session.mount("https://", fake)
    session.mount("http://", fake)
    return session
