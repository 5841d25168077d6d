"""KaleyraCallStatusTrigger: serialisation and each event kind, with a scripted async hook."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import call_logs, correlation
from airflow_provider_kaleyra.exceptions import KaleyraPermanentError, KaleyraTransientError
from airflow_provider_kaleyra.outcomes import OutcomePolicy
from airflow_provider_kaleyra.triggers.kaleyra import KaleyraCallStatusTrigger

if TYPE_CHECKING:
    import pytest

NOW = dt.datetime.now(dt.timezone.utc)
WATCH = correlation.CallWatch(
    numbers=("+918830907001", "+918830907002"),
    bridge="+6531651234",
    start_time=NOW.isoformat(),
    flow_id="SG_f",
    correlation_token="af-1",
)


class ScriptedHook:
    """Answers each ``call_logs`` with the next scripted page (or raises it)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.queries: list[call_logs.CallLogQuery] = []
        self.max_pages: list[int] = []
        self.closed = False

    async def __aenter__(self) -> ScriptedHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed = True

    async def call_logs(self, query: call_logs.CallLogQuery, *, max_pages: int) -> call_logs.CallLogListing:
        self.queries.append(query)
        self.max_pages.append(max_pages)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def page(*statuses: str | None, **listing: Any) -> call_logs.CallLogListing:
    records = [
        call_logs.CallRecord(n, s, call_id=f"c{i}", correlation_token="af-1")
        for i, (n, s) in enumerate(zip(WATCH.numbers, statuses, strict=False))
    ]
    return call_logs.CallLogListing(records, **listing)


def trigger(deadline_seconds: float = 60, poll_interval: float = 0.01, **kwargs: Any) -> KaleyraCallStatusTrigger:
    return KaleyraCallStatusTrigger(
        watch=WATCH.as_dict(),
        policy=OutcomePolicy.build(**kwargs).as_dict(),
        deadline=(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=deadline_seconds)).isoformat(),
        poll_interval=poll_interval,
        max_poll_failures=3,
    )


def events(t: KaleyraCallStatusTrigger, hook: ScriptedHook, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setattr(t, "hook", hook)

    async def collect() -> list[dict]:
        return [event.payload async for event in t.run()]

    found = asyncio.run(collect())
    assert hook.closed
    return found


def test_serialize_round_trip_is_json_and_rebuilds_the_same_trigger() -> None:
    original = trigger(max_failed=1)
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_provider_kaleyra.triggers.kaleyra.KaleyraCallStatusTrigger"
    rebuilt = KaleyraCallStatusTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["watch"]["numbers"] == list(WATCH.numbers)
    assert kwargs["policy"]["max_failed"] == 1


def test_done_once_every_call_is_final(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = ScriptedHook(page(None, None), page("ANSWER", "RINGING"), page("ANSWER", "BUSY"))
    [event] = events(trigger(), hook, monkeypatch)
    assert event["status"] == "done"
    assert [row["status"] for row in event["result"]["calls"]] == ["ANSWER", "BUSY"]
    assert len(hook.queries) == 3  # one listing per poll for the whole submission
    assert hook.queries[0] == WATCH.query()
    assert hook.max_pages == [WATCH.page_budget()] * 3


def test_done_early_when_the_flow_is_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    [event] = events(trigger(), ScriptedHook(page("FLOW_PAUSED", None)), monkeypatch)
    assert event["status"] == "done"
    assert event["result"]["pending"] == [WATCH.numbers[1]]


def test_timeout_after_the_deadline_with_pending_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    [event] = events(trigger(deadline_seconds=-1), ScriptedHook(page("ANSWER", "RINGING")), monkeypatch)
    assert event["status"] == "timeout"
    assert event["result"]["pending"] == [WATCH.numbers[1]]


def test_transient_failures_are_retried_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = KaleyraTransientError("Kaleyra said 503")
    hook = ScriptedHook(failing, failing, page("ANSWER", "ANSWER"))
    [event] = events(trigger(), hook, monkeypatch)
    assert event["status"] == "done"
    assert len(hook.queries) == 3


def test_too_many_consecutive_failures_end_in_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = ScriptedHook(OSError("connection refused"))
    [event] = events(trigger(), hook, monkeypatch)
    assert event == {"status": "error", "message": "connection refused", "permanent": False, "failed_polls": 3}
    assert len(hook.queries) == 3


def test_a_permanent_error_ends_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = ScriptedHook(KaleyraPermanentError("Kaleyra refused to list call logs: RBC001"))
    [event] = events(trigger(), hook, monkeypatch)
    assert event["status"] == "error"
    assert event["permanent"] is True
    assert "RBC001" in event["message"]
    assert len(hook.queries) == 1


def test_a_timeout_reports_what_the_listing_could_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    listing = page(
        "ANSWER", None, problems=["a call-log entry is not an object: 'junk'"], cut_off="stopped after 100 pages"
    )
    [event] = events(trigger(deadline_seconds=-1), ScriptedHook(listing), monkeypatch)
    assert event["status"] == "timeout"
    assert event["result"]["unreadable_entries"] == ["a call-log entry is not an object: 'junk'"]
    assert event["result"]["unreadable_count"] == 1
    assert event["result"]["listing_cut_off"] == "stopped after 100 pages"
    assert json.loads(json.dumps(event)) == event


def test_progress_lines_while_the_trigger_waits(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    hook = ScriptedHook(page(None, None), page("ANSWER", "RINGING"), page("ANSWER", "RINGING"), page("ANSWER", "BUSY"))
    [event] = events(trigger(max_failed=1), hook, monkeypatch)
    assert event["status"] == "done"
    # Airflow's logging writes the trigger's lines to stdout here (the task log in a triggerer).
    out = capfd.readouterr().out
    assert out.count("Kaleyra calls: ") == 2  # one per change while waiting; the table is the task's
    assert "Kaleyra calls: 0 of 2 calls ended; 2 pending: +918830907001, +918830907002" in out
    assert "Kaleyra calls: 1 of 2 calls ended (ANSWER 1); 1 pending: +918830907002" in out


def test_a_cut_off_listing_is_said_in_the_triggers_own_log(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    hook = ScriptedHook(page("ANSWER", "ANSWER", cut_off="stopped after 100 pages"))
    events(trigger(), hook, monkeypatch)
    assert "Kaleyra's call-log listing was cut off: stopped after 100 pages" in capfd.readouterr().out


def test_triggers_on_one_loop_share_one_hook_and_one_listing_per_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every trigger watches the same two numbers here; what matters is who reads.
    triggers = [trigger(poll_interval=0.2) for _ in range(20)]
    hooks = [ScriptedHook(page("ANSWER", "RINGING"), page("ANSWER", "ANSWER")) for _ in triggers]
    for t, own in zip(triggers, hooks, strict=True):
        monkeypatch.setattr(t, "hook", own)

    async def collect() -> list[dict]:
        async def first(t: KaleyraCallStatusTrigger) -> dict:
            async for event in t.run():
                return event.payload
            raise AssertionError("no event")

        return list(await asyncio.gather(*(first(t) for t in triggers)))

    found = asyncio.run(collect())
    assert [e["status"] for e in found] == ["done"] * 20
    # Only the first trigger's hook reads; the others are never opened.
    [hook] = [h for h in hooks if h.queries]
    assert hook is hooks[0]
    # Two polls each: the reads do not grow with the triggers (two, or three when the
    # loop woke a late trigger after the second read had already ended).
    assert 2 <= len(hook.queries) <= 3
    assert hook.closed


def test_unshared_triggers_read_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KaleyraCallStatusTrigger, "shared_reads", False)
    triggers = [trigger() for _ in range(3)]
    hooks = [ScriptedHook(page("ANSWER", "ANSWER")) for _ in triggers]
    for t, own in zip(triggers, hooks, strict=True):
        monkeypatch.setattr(t, "hook", own)

    async def collect() -> None:
        await asyncio.gather(*(anext(t.run()) for t in triggers))

    asyncio.run(collect())
    assert [len(h.queries) for h in hooks] == [1, 1, 1]
