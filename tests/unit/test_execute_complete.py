"""execute_complete of the operator and the sensor, with every event kind; deferral itself."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_kaleyra import call_logs, correlation, outcomes, wire
from airflow_provider_kaleyra._compat import AirflowFailException
from airflow_provider_kaleyra.exceptions import KaleyraInputError, KaleyraPermanentError, KaleyraTransientError
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator
from airflow_provider_kaleyra.sensors.kaleyra import KaleyraCallStatusSensor
from airflow_provider_kaleyra.triggers.kaleyra import KaleyraCallStatusTrigger

from .fakes import ACCEPTED, FakeKaleyra, FakeTaskStateStore, answer, install

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined,unused-ignore]

pytestmark = pytest.mark.usefixtures("kaleyra_conn")
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


@pytest.mark.parametrize("build", BUILDERS)
def test_done_all_answered_returns_the_table(build: Any, capfd: pytest.CaptureFixture[str]) -> None:
    r = result("ANSWER", "FLOW_ANSWER")
    assert finish(build(), {"status": "done", "result": r}) == r
    out = capfd.readouterr().out
    assert "Kaleyra call outcomes:" in out
    assert "2 call(s) -- success: 2" in out


@pytest.mark.parametrize("build", BUILDERS)
def test_done_with_a_broken_flow_fails_without_retry(build: Any, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(AirflowFailException, match=r"FLOW_NOT_PUBLISHED.*not published") as caught:
        finish(build(), {"status": "done", "result": result("FLOW_NOT_PUBLISHED", None)})
    assert "SG_flow" in str(caught.value)
    assert "+918830907001  FLOW_NOT_PUBLISHED  configuration" in capfd.readouterr().out  # table logged first


@pytest.mark.parametrize("build", BUILDERS)
def test_done_with_too_many_failures_fails_retryably(build: Any) -> None:
    with pytest.raises(outcomes.KaleyraCallsFailedError) as caught:
        finish(build(), {"status": "done", "result": result("ANSWER", "BUSY")})
    assert not isinstance(caught.value, AirflowFailException)


@pytest.mark.parametrize("build", BUILDERS)
def test_done_within_the_policy_succeeds(build: Any) -> None:
    r = result("ANSWER", "BUSY")
    assert finish(build(max_failed=1), {"status": "done", "result": r})["counts"] == {
        "success": 1,
        "callee": 1,
    }


@pytest.mark.parametrize("build", BUILDERS)
def test_timeout_lists_pending_numbers(build: Any) -> None:
    with pytest.raises(outcomes.KaleyraCallsTimeoutError, match=r"1 of 2 numbers .*\+918830907002"):
        finish(build(), {"status": "timeout", "result": result("ANSWER", None)})


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(("permanent", "expected"), [(True, KaleyraPermanentError), (False, KaleyraTransientError)])
def test_error_event(build: Any, permanent: bool, expected: type[Exception]) -> None:
    event = {"status": "error", "message": "HTTP 503", "permanent": permanent, "failed_polls": 5}
    with pytest.raises(expected, match="5 failed poll"):
        finish(build(), event)


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("event", [None, {}, {"status": "mystery"}])
def test_unexpected_event_fails_without_retry(build: Any, event: Any) -> None:
    with pytest.raises(KaleyraPermanentError, match="Unexpected event"):
        finish(build(), event)


def test_operator_submits_pushes_the_record_then_defers(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKaleyra(answer(200, ACCEPTED))
    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", property(lambda self: _hook(fake)))
    ti = XComTI(dag_id="d", run_id="r", task_id="call", map_index=-1, try_number=1, pushed={})
    with pytest.raises(TaskDeferred) as caught:
        operator(deferrable=True, poll_interval=5, wait_timeout=600, min_success_ratio=0.5).execute(
            {"ti": ti, "task_state_store": FakeTaskStateStore()}
        )
    assert len(fake.requests) == 1  # submitted once, before waiting
    record = ti.pushed["submission"]
    assert record["numbers"] == RECORD["numbers"]
    deferred = caught.value
    assert deferred.method_name == "execute_complete"
    assert deferred.kwargs == {"record": record}  # handed back on resume, outside the trigger's kwargs
    trigger = deferred.trigger
    assert isinstance(trigger, KaleyraCallStatusTrigger)
    _, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs["watch"]["correlation_token"] == record["correlation_token"]
    assert kwargs["poll_interval"] == 5
    assert kwargs["policy"]["min_success_ratio"] == 0.5
    deadline = dt.datetime.fromisoformat(kwargs["deadline"]) - dt.datetime.fromisoformat(record["submitted_at"])
    assert deadline == dt.timedelta(seconds=600)


def test_operator_without_wait_returns_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKaleyra(answer(200, ACCEPTED))
    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", property(lambda self: _hook(fake)))
    ti = XComTI(dag_id="d", run_id="r", task_id="call", map_index=-1, try_number=1, pushed={})
    op = KaleyraOutboundCallOperator(task_id="call", to="+918830907001", bridge="+13236789001", flow_id="SG_flow")
    value = op.execute({"ti": ti, "task_state_store": FakeTaskStateStore()})
    assert (value["code"], value["outcomes"]) == ("RBC3007", None)  # the same shape as after a wait
    assert ti.pushed == {"submission": {k: v for k, v in value.items() if k != "outcomes"}}


def _hook(fake: FakeKaleyra) -> KaleyraHook:
    hook = KaleyraHook(sleep=lambda seconds: None)
    install(hook, fake)
    return hook


def test_sensor_defers_with_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TaskDeferred) as caught:
        sensor(deferrable=True, poke_interval=7, timeout=120).execute({})
    _, kwargs = caught.value.trigger.serialize()
    assert kwargs["watch"] == WATCH.as_dict()
    assert kwargs["poll_interval"] == 7
    assert kwargs["deadline"] == (dt.datetime.fromisoformat(SUBMITTED) + dt.timedelta(seconds=120)).isoformat()


def test_sensor_takes_deferrable_default_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "true")
    from airflow_provider_kaleyra._compat import default_deferrable

    if not default_deferrable():
        pytest.skip("this Airflow caches its configuration; the default cannot be changed in-process")
    assert sensor().deferrable is True
    assert sensor(deferrable=False).deferrable is False


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize(
    ("kwargs", "parameter"), [({"min_success_ratio": 2}, "min_success_ratio"), ({"max_failed": -1}, "max_failed")]
)
def test_bad_policy_fails_when_the_task_is_built(build: Any, kwargs: dict, parameter: str) -> None:
    with pytest.raises(KaleyraInputError) as caught:
        build(**kwargs)
    assert caught.value.parameter == parameter


@pytest.mark.parametrize("parameter", ["poll_interval", "wait_timeout"])
def test_bad_wait_times_fail_when_the_operator_is_built(parameter: str) -> None:
    with pytest.raises(KaleyraInputError, match=parameter):
        operator(**{parameter: 0})


def listed(*statuses: str, token: str = "af-1", numbers: tuple[str, ...] = WATCH.numbers) -> tuple[int, bytes, dict]:
    calls = [
        {"id": f"c{i}", "to": n, "status": s, "custom": json.dumps({wire.CORRELATION_KEY: token})}
        for i, (n, s) in enumerate(zip(numbers, statuses, strict=True))
    ]
    body = {"code": "RBC3200", "message": "ok", "data": {"calls": calls, "total": len(calls)}, "error": {}}
    return answer(200, body)


def test_sensor_poke_waits_then_returns_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKaleyra(listed("ANSWER", "RINGING"), listed("ANSWER", "BUSY"))
    monkeypatch.setattr("airflow_provider_kaleyra.hooks.kaleyra.KaleyraHook.session", _session_with(fake))
    poking = sensor(mode="reschedule", max_failed=1)
    context = ctx()
    assert poking.poke(context) is False
    done = poking.poke(context)
    assert done.is_done  # type: ignore[union-attr]
    assert done.xcom_value["counts"] == {"success": 1, "callee": 1}  # type: ignore[union-attr]
    assert context["ti"].pushed == {"outcomes": done.xcom_value}  # type: ignore[union-attr]
    assert len(fake.requests) == 2


def test_sensor_poke_fails_on_a_broken_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKaleyra(listed("FLOW_PAUSED", "RINGING"))
    monkeypatch.setattr("airflow_provider_kaleyra.hooks.kaleyra.KaleyraHook.session", _session_with(fake))
    context = ctx()
    with pytest.raises(AirflowFailException, match="FLOW_PAUSED"):
        sensor().poke(context)
    assert context["ti"].pushed["outcomes"]["statuses"] == {"FLOW_PAUSED": 1, "RINGING": 1}


def _session_with(fake: FakeKaleyra) -> Any:
    import requests

    session = requests.Session()
    session.mount("https://", fake)
    session.mount("http://", fake)
    return session


def test_sensor_applies_the_prefix_to_national_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    poking = KaleyraCallStatusSensor(
        task_id="wait", numbers="8830907001,8830907002", prefix="+91", start_time=SUBMITTED, bridge="+13236789001"
    )
    wait = poking._wait()
    assert wait.watch.numbers == WATCH.numbers
    assert wait.watch.country_code == "91"
    # Kaleyra's log may drop the country code: those records still count.
    national = tuple(n.removeprefix("+91") for n in WATCH.numbers)
    fake = FakeKaleyra(listed("ANSWER", "ANSWER", numbers=national))
    monkeypatch.setattr("airflow_provider_kaleyra.hooks.kaleyra.KaleyraHook.session", _session_with(fake))
    done = poking.poke(ctx())
    assert done.xcom_value["counts"] == {"success": 2}  # type: ignore[union-attr]
    assert "prefix" in KaleyraCallStatusSensor.template_fields


def test_sensor_poke_reads_at_most_the_page_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def listing(self: KaleyraHook, query: call_logs.CallLogQuery, **kwargs: Any) -> call_logs.CallLogListing:
        seen.append(kwargs)
        return call_logs.CallLogListing([])

    monkeypatch.setattr(KaleyraHook, "call_logs", listing)
    assert sensor().poke({}) is False
    assert seen == [{"max_pages": WATCH.page_budget()}]


def test_operator_waits_on_the_worker_without_deferring(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKaleyra(answer(200, ACCEPTED), listed("ANSWER", "FLOW_ANSWER", token=""))
    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", property(lambda self: _hook(fake)))
    ti = XComTI(dag_id="d", run_id="r", task_id="call", map_index=-1, try_number=1, pushed={})
    result = operator(deferrable=False).execute({"ti": ti, "task_state_store": FakeTaskStateStore()})
    assert result["outcomes"]["counts"] == {"success": 2}
    assert ti.pushed["submission"]["numbers"] == result["numbers"] == RECORD["numbers"]
    assert ti.pushed["outcomes"] == result["outcomes"]
    assert [r.method for r in fake.requests] == ["POST", "GET"]


@pytest.mark.parametrize(
    ("statuses", "raises"),
    [(("ANSWER", "NOANSWER"), outcomes.KaleyraCallsFailedError), (("ANSWER", None), outcomes.KaleyraCallsTimeoutError)],
)
@pytest.mark.parametrize("build", BUILDERS)
def test_the_outcome_table_is_in_xcom_when_the_policy_fails_the_task(
    build: Any, statuses: tuple[str | None, ...], raises: type[Exception]
) -> None:
    context = ctx()
    kind = "timeout" if None in statuses else "done"
    with pytest.raises(raises):
        finish(build(), {"status": kind, "result": result(*statuses)}, context)
    table = context["ti"].pushed["outcomes"]
    assert [(row["number"], row["status"]) for row in table["calls"]] == [
        (WATCH.numbers[0], "ANSWER"),
        (WATCH.numbers[1], statuses[1] or "PENDING"),
    ]


def test_a_task_deferred_before_the_record_was_handed_over_reads_it_from_xcom() -> None:
    r = result("ANSWER", "ANSWER")
    value = operator().execute_complete(ctx(submission=RECORD), {"status": "done", "result": r})
    assert value == {**RECORD, "outcomes": r}
