"""KaleyraCallStatusSensor: poke, deferral, and how a wait ends (each end also run on the operator)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_kaleyra import call_logs, outcomes
from airflow_provider_kaleyra._compat import AirflowFailException
from airflow_provider_kaleyra.exceptions import KaleyraInputError, KaleyraPermanentError, KaleyraTransientError
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
from airflow_provider_kaleyra.sensors.kaleyra import KaleyraCallStatusSensor

from .fakes import FakeKaleyra
from .waits import BUILDERS, SUBMITTED, WATCH, ctx, finish, listed, result, sensor, session_with

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined,unused-ignore]

pytestmark = pytest.mark.usefixtures("kaleyra_conn")


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


def test_sensor_poke_waits_then_returns_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKaleyra(listed("ANSWER", "RINGING"), listed("ANSWER", "BUSY"))
    monkeypatch.setattr("airflow_provider_kaleyra.hooks.kaleyra.KaleyraHook.session", session_with(fake))
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
    monkeypatch.setattr("airflow_provider_kaleyra.hooks.kaleyra.KaleyraHook.session", session_with(fake))
    context = ctx()
    with pytest.raises(AirflowFailException, match="FLOW_PAUSED"):
        sensor().poke(context)
    assert context["ti"].pushed["outcomes"]["statuses"] == {"FLOW_PAUSED": 1, "RINGING": 1}


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
    monkeypatch.setattr("airflow_provider_kaleyra.hooks.kaleyra.KaleyraHook.session", session_with(fake))
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
