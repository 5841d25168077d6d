"""Many KaleyraCallStatusTriggers on one asyncio loop, as in a triggerer, against the simulator.

The simulator counts the call-log requests it serves: that count, not a mock, shows
that waits on one bridge share their reads.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_kaleyra import correlation, reader, wire
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook
from airflow_provider_kaleyra.outcomes import OutcomePolicy
from airflow_provider_kaleyra.retry import RetryPolicy
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE, KaleyraSimulator
from airflow_provider_kaleyra.simulator.request_count import CALL_LOGS
from airflow_provider_kaleyra.triggers.kaleyra import KaleyraCallStatusTrigger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

#: The hook retries each page this often; short pauses keep the tests quick.
FAST_RETRY = RetryPolicy(initial_backoff=0.01, max_backoff=0.01)


def submit(wait: int, numbers: int = 2, ending: str = "01") -> wire.Submission:
    # Numbers ending in 01 are answered, 90 busy, 99 ring forever (the simulator's rule).
    to = [f"+9177{wait:04d}{n:02d}{ending}" for n in range(numbers)]
    hook = KaleyraHook()
    try:
        [submission] = hook.trigger_outbound_flow(
            to, SECOND_BRIDGE, DEFAULT_FLOW_ID, correlation_token=wire.correlation_token("shared", wait)
        )
    finally:
        hook.close()
    return submission


def trigger_for(submission: wire.Submission, seconds: float = 30, **options: Any) -> KaleyraCallStatusTrigger:
    deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
    trigger = KaleyraCallStatusTrigger(
        watch=correlation.watch_from_record(submission.as_dict()).as_dict(),
        policy=OutcomePolicy.build().as_dict(),
        deadline=deadline.isoformat(),
        poll_interval=options.pop("poll_interval", 0.2),
        **options,
    )
    trigger.hook = KaleyraAsyncHook(retry_policy=FAST_RETRY)
    return trigger


async def first_event(trigger: KaleyraCallStatusTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


@pytest.fixture
def polls(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[int]:
    """How many listings each wait asked its reader for (one per poll)."""
    counted: collections.Counter[int] = collections.Counter()
    original = reader.Listings.next

    async def counting(self: reader.Listings) -> Any:
        counted[id(self.member)] += 1
        return await original(self)

    monkeypatch.setattr(reader.Listings, "next", counting)
    return counted


async def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def run(coroutine: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coroutine())


@pytest.mark.parametrize("waits", [1, 10, 40])
def test_reads_do_not_grow_with_the_waits_on_one_bridge(
    kaleyra_connection: KaleyraSimulator, polls: collections.Counter[int], waits: int
) -> None:
    triggers = [trigger_for(submit(w)) for w in range(waits)]  # 2 calls each: one page for all
    served_before = kaleyra_connection.request_count(CALL_LOGS)

    async def wait_all() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(first_event(t) for t in triggers)))

    events = run(wait_all)
    assert [e["status"] for e in events] == ["done"] * waits
    assert all(e["result"]["counts"] == {"success": 2} for e in events)
    requests = kaleyra_connection.request_count(CALL_LOGS) - served_before
    cycles = max(polls.values())
    # One listing (one page) per poll cycle, however many waits share it; without sharing
    # it would be one per wait and cycle. The reader gathers the waits it served before
    # reading again, so they do not drift into cohorts that cost a read each.
    assert requests <= cycles + 1, (requests, dict(polls))
    assert sum(polls.values()) >= waits * cycles - waits  # every wait polled every cycle, or nearly


def test_each_wait_reading_alone_costs_a_listing_per_wait(
    kaleyra_connection: KaleyraSimulator, polls: collections.Counter[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The comparison: the same waits without sharing send one listing per wait and poll.
    monkeypatch.setattr(KaleyraCallStatusTrigger, "shared_reads", False)
    triggers = [trigger_for(submit(w)) for w in range(10)]

    async def wait_all() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(first_event(t) for t in triggers)))

    assert [e["status"] for e in run(wait_all)] == ["done"] * 10
    assert kaleyra_connection.request_count(CALL_LOGS) == sum(polls.values()) >= 10


def test_a_trigger_cancelled_mid_wait_leaves_the_others_waiting(
    kaleyra_connection: KaleyraSimulator, polls: collections.Counter[int]
) -> None:
    stays = [trigger_for(submit(w)) for w in range(3)]
    goes = trigger_for(submit(9, ending="99"))  # rings forever: only a cancel ends it

    async def scenario() -> list[dict[str, Any]]:
        leaving = asyncio.ensure_future(first_event(goes))
        await until(lambda: len(polls) >= 1)  # it has asked its reader once
        staying = [asyncio.ensure_future(first_event(t)) for t in stays]
        await until(lambda: len(polls) == 4)
        leaving.cancel()  # as the triggerer does when the task is cleared or times out
        await asyncio.wait({leaving})
        [shared] = reader.readers().values()
        assert len(shared.members) == 3
        events = list(await asyncio.gather(*staying))
        assert reader.readers() == {}  # the last one out stopped the reader
        return events

    events = run(scenario)
    assert [e["status"] for e in events] == ["done"] * 3
    assert [r["status"] for e in events for r in e["result"]["calls"]] == ["ANSWER"] * 6


def test_a_failed_read_reaches_every_waiting_trigger_then_the_next_read_serves_them(
    kaleyra_connection: KaleyraSimulator, polls: collections.Counter[int], capfd: pytest.CaptureFixture[str]
) -> None:
    triggers = [trigger_for(submit(w)) for w in range(5)]
    # Every try of the first read's page fails (the hook tries each page 4 times).
    kaleyra_connection.inject_fault("error", path="/voice/call-logs", times=FAST_RETRY.max_attempts)

    async def wait_all() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(first_event(t) for t in triggers)))

    events = run(wait_all)
    assert [e["status"] for e in events] == ["done"] * 5
    assert kaleyra_connection.faults.applied == {"error": FAST_RETRY.max_attempts}
    out = capfd.readouterr().out
    assert out.count("Polling Kaleyra call logs failed (1 in a row)") == 5  # each trigger counted it


def test_reads_that_keep_failing_end_every_wait_with_an_error_event(
    kaleyra_connection: KaleyraSimulator, polls: collections.Counter[int]
) -> None:
    triggers = [trigger_for(submit(w), max_poll_failures=2) for w in range(5)]
    kaleyra_connection.inject_fault("error", path="/voice/call-logs", times=None)

    async def wait_all() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(first_event(t) for t in triggers)))

    events = run(wait_all)
    assert [(e["status"], e["failed_polls"], e["permanent"]) for e in events] == [("error", 2, False)] * 5
    # Two failed reads for all five waits, each page tried by the hook: not five times that.
    assert kaleyra_connection.request_count(CALL_LOGS) == 2 * FAST_RETRY.max_attempts
