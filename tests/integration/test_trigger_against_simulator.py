"""KaleyraCallStatusTrigger's async loop over real HTTP against the simulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from typing import Any

import pytest

from airflow_provider_kaleyra import correlation, wire
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook
from airflow_provider_kaleyra.outcomes import OutcomePolicy
from airflow_provider_kaleyra.retry import RetryPolicy
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE, KaleyraSimulator
from airflow_provider_kaleyra.triggers.kaleyra import KaleyraCallStatusTrigger

ANSWERED = ["+918830907001", "+918830907002"]


def submit(numbers: list[str], token: str = "af-test") -> wire.Submission:
    [submission] = KaleyraHook().trigger_outbound_flow(numbers, SECOND_BRIDGE, DEFAULT_FLOW_ID, correlation_token=token)
    return submission


def trigger_for(submission: wire.Submission, seconds: float = 30, **policy: Any) -> KaleyraCallStatusTrigger:
    watch = correlation.watch_from_record(submission.as_dict())
    deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
    return KaleyraCallStatusTrigger(
        watch=watch.as_dict(),
        policy=OutcomePolicy.build(**policy).as_dict(),
        deadline=deadline.isoformat(),
        poll_interval=0.1,
        max_poll_failures=2,
    )


async def first_event(trigger: KaleyraCallStatusTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def run(trigger: KaleyraCallStatusTrigger) -> dict[str, Any]:
    return asyncio.run(first_event(trigger))


def test_all_answered(kaleyra_connection: KaleyraSimulator) -> None:
    event = run(trigger_for(submit(ANSWERED)))
    assert event["status"] == "done"
    rows = event["result"]["calls"]
    assert [(r["number"], r["status"], r["category"]) for r in rows] == [(n, "ANSWER", "success") for n in ANSWERED]
    ids = {c["to"]: c["id"] for c in kaleyra_connection.calls()}
    assert [r["call_id"] for r in rows] == [ids[n] for n in ANSWERED]
    assert all(r["duration"] > 0 for r in rows)


def test_calls_of_another_submission_are_not_mixed_in(kaleyra_connection: KaleyraSimulator) -> None:
    kaleyra_connection.script_outcomes({ANSWERED[0]: "BUSY"})
    submit([ANSWERED[0]], token="af-earlier")  # the same number, another task: ends BUSY
    kaleyra_connection.script_outcomes({ANSWERED[0]: "ANSWER"})
    event = run(trigger_for(submit([ANSWERED[0]], token="af-mine")))
    assert [r["status"] for r in event["result"]["calls"]] == ["ANSWER"]


def test_every_status_class_through_the_rule(kaleyra_connection: KaleyraSimulator) -> None:
    numbers = ["+918830907001", "+918830907090", "+918830907094", "+918830907097"]
    event = run(trigger_for(submit(numbers), max_failed=4))
    assert event["status"] == "done"
    assert [r["category"] for r in event["result"]["calls"]] == ["success", "callee", "capacity", "configuration"]


def test_paging_through_more_calls_than_one_page(kaleyra_connection: KaleyraSimulator) -> None:
    # The simulator serves at most 100 calls per page; every number ends in 01 (answered).
    numbers = [f"+9188{i:03d}07001" for i in range(150)]
    submit(numbers[:100])
    submit(numbers[100:])
    event = run(trigger_for(_both(numbers)))
    assert event["status"] == "done"
    assert event["result"]["counts"] == {"success": 150}


def _both(numbers: list[str]) -> wire.Submission:
    # Two requests of one task share the token, bridge and flow: watch them as one.
    return wire.Submission("RBC3007", "", numbers, SECOND_BRIDGE, DEFAULT_FLOW_ID, wire.utc_now_iso(), "af-test")


def test_timeout_lists_the_number_that_never_ends(kaleyra_connection: KaleyraSimulator) -> None:
    event = run(trigger_for(submit(["+918830907001", "+918830907099"]), seconds=1.5))
    assert event["status"] == "timeout"
    assert event["result"]["pending"] == ["+918830907099"]


def test_a_broken_flow_ends_the_wait_early(kaleyra_connection: KaleyraSimulator) -> None:
    kaleyra_connection.script_outcomes(flows={DEFAULT_FLOW_ID: "FLOW_NOT_PUBLISHED"})
    submit(["+918830907001", "+918830907099"])  # the flow outcome wins over "99 never ends"
    # A third number never reaches the logs; the broken flow still ends the wait at once.
    event = run(trigger_for(_both(["+918830907001", "+918830907099", "+918830907555"]), seconds=600))
    assert event["status"] == "done"
    assert [r["status"] for r in event["result"]["calls"]] == ["FLOW_NOT_PUBLISHED"] * 2 + ["PENDING"]


def test_wrong_key_is_a_permanent_error_event(
    kaleyra_connection: KaleyraSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    submission = submit(ANSWERED)
    conn = kaleyra_connection.connection_dict()
    conn["password"] = "not-the-key-123"
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps(conn))
    event = run(trigger_for(submission))
    assert event["status"] == "error"
    assert event["permanent"] is True
    assert "RBC001" in event["message"]
    assert "not-the-key-123" not in json.dumps(event)


def test_unreachable_kaleyra_ends_in_a_transient_error_event_after_bounded_polls(
    kaleyra_connection: KaleyraSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    submission = submit(ANSWERED)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    conn = kaleyra_connection.connection_dict()
    conn["extra"]["base_url"] = f"http://127.0.0.1:{free_port}/"
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps(conn))
    trigger = trigger_for(submission)
    # Each poll is itself tried 4 times by the hook; short backoffs keep the test quick.
    fast = RetryPolicy(initial_backoff=0.01, max_backoff=0.01)
    monkeypatch.setattr(trigger, "hook", KaleyraAsyncHook(retry_policy=fast))
    event = run(trigger)
    assert event["status"] == "error"
    assert event["permanent"] is False
    assert event["failed_polls"] == 2


def test_resumes_after_a_restart_from_its_serialized_kwargs(kaleyra_connection: KaleyraSimulator) -> None:
    submission = submit([*ANSWERED, "+918830907090"])
    original = trigger_for(submission, max_failed=1)

    async def interrupted() -> None:
        # The triggerer dies mid-wait: the task running the trigger is cancelled.
        task = asyncio.ensure_future(first_event(original))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    _classpath, kwargs = original.serialize()
    restarted = KaleyraCallStatusTrigger(**json.loads(json.dumps(kwargs)))
    event = run(restarted)
    assert event["status"] == "done"
    assert event["result"]["statuses"] == {"ANSWER": 2, "BUSY": 1}
