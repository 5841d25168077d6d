"""The campaign loop: what each try sends, stores and raises, with a scripted submit."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from airflow_provider_kaleyra import call_logs, validation, wire
from airflow_provider_kaleyra.batch_state import CAMPAIGN_KEY, MemoryStore, batch_key
from airflow_provider_kaleyra.campaign import Action, Campaign, campaign_record, decide_batch
from airflow_provider_kaleyra.exceptions import (
    KaleyraOutcomeUnknownError,
    KaleyraPermanentError,
    KaleyraTransientError,
)

LOG = logging.getLogger("test.campaign")


def calls_for(count: int, flow: str = "SG_flow") -> list[wire.OutboundCall]:
    numbers = [f"+9188{i:08d}" for i in range(count)]
    return validation.outbound_calls(to=numbers, bridge="+6531651234", flow_id=flow)[0]


class Kaleyra:
    """``submit`` that records what it was sent and fails batches as scripted (1-based)."""

    def __init__(self, failures: dict[int, Exception] | None = None) -> None:
        self.failures = failures or {}
        self.sent: list[tuple[str, ...]] = []
        self.lock = threading.Lock()
        self.calls = 0

    def submit(self, call: wire.OutboundCall) -> wire.Submission:
        with self.lock:
            self.calls += 1
            failure = self.failures.pop(self.calls, None)
            if failure is None:
                self.sent.append(call.to)
        if failure is not None:
            raise failure
        reply = wire.parse_reply(200, b'{"code": "RBC3007", "message": "Submitted Successfully"}')
        return wire.submission_from(call, reply)


def run(kaleyra: Kaleyra, calls: list[wire.OutboundCall], store: MemoryStore, **options: Any) -> Any:
    return Campaign(submit=kaleyra.submit, calls=calls, store=store, log=LOG, **options).run()


@pytest.mark.parametrize(
    ("entry", "redial", "action"),
    [
        (None, False, Action.SEND),
        ({"status": "accepted"}, True, Action.REUSE),
        ({"status": "rejected", "transient": True}, False, Action.SEND),
        ({"status": "rejected", "transient": False}, False, Action.SEND),
        ({"status": "sending"}, False, Action.UNKNOWN),
        ({"status": "sending"}, True, Action.SEND),
    ],
)
def test_decide_batch(entry: dict | None, redial: bool, action: Action) -> None:
    assert decide_batch(entry, redial_unknown=redial) is action


@pytest.mark.parametrize("in_flight", [1, 4])
def test_all_batches_sent_once_and_stored_accepted(in_flight: int) -> None:
    calls, store, kaleyra = calls_for(1050), MemoryStore(), Kaleyra()
    result = run(kaleyra, calls, store, max_active_requests=in_flight)
    assert sorted(kaleyra.sent) == sorted(c.to for c in calls)
    assert [store.get(batch_key(i))["status"] for i in range(11)] == ["accepted"] * 11
    assert store.get(CAMPAIGN_KEY)["batches"] == 11
    record = campaign_record(result, calls, duplicates=[], invalid_skipped=[])
    assert (record["numbers_count"], record["numbers_in_xcom"], record["numbers"]) == (1050, False, [])
    assert record["batches"][10] == {**record["batches"][10], "size": 50, "first": calls[10].to[0]}


def test_transient_rejection_is_resent_by_the_next_try_and_accepted_batches_are_not() -> None:
    calls, store = calls_for(300), MemoryStore()
    first = Kaleyra({2: KaleyraTransientError("busy", http_status=503)})
    with pytest.raises(KaleyraTransientError, match=r"1 of 3 batch\(es\) \(100 numbers\) are accepted"):
        run(first, calls, store)
    assert store.get(batch_key(1))["status"] == "rejected"
    assert store.get(batch_key(1))["transient"] is True
    assert store.get(batch_key(2)) is None  # never started after the failure
    second = Kaleyra()
    result = run(second, calls, store)
    assert second.sent == [calls[1].to, calls[2].to]
    assert (result.reused, result.sent) == (1, 2)


def test_unknown_outcome_fails_the_retry_without_resending_it_but_sends_the_rest() -> None:
    calls, store = calls_for(300), MemoryStore()
    with pytest.raises(KaleyraTransientError, match=r"Outcome unknown for batch 2/3 \(100 numbers"):
        run(Kaleyra({2: KaleyraOutcomeUnknownError("no answer")}), calls, store)
    assert store.get(batch_key(1))["status"] == "sending"
    retry = Kaleyra()
    with pytest.raises(KaleyraOutcomeUnknownError, match=r"Outcome unknown for batch 2/3") as info:
        run(retry, calls, store)
    assert isinstance(info.value, KaleyraPermanentError)  # no further Airflow retries
    assert retry.sent == [calls[2].to]
    redial = Kaleyra()
    run(redial, calls, store, redial_unknown=True)
    assert redial.sent == [calls[1].to]


def test_crash_after_marking_sending_leaves_the_batch_unknown() -> None:
    calls, store = calls_for(200), MemoryStore()

    class Crash(BaseException):
        pass

    def crash(call: wire.OutboundCall) -> wire.Submission:
        raise Crash  # the process "dies" during the POST

    with pytest.raises(Crash):
        Campaign(submit=crash, calls=calls, store=store, log=LOG).run()
    assert store.get(batch_key(0))["status"] == "sending"
    with pytest.raises(KaleyraOutcomeUnknownError, match="batch 1/2"):
        run(Kaleyra(), calls, store)


def test_permanent_rejection_stops_the_campaign_without_retry() -> None:
    calls, store = calls_for(300), MemoryStore()
    kaleyra = Kaleyra({1: KaleyraPermanentError("IVR not found", code="RBC3115")})
    with pytest.raises(KaleyraPermanentError, match="IVR not found -- 0 of 3"):
        run(kaleyra, calls, store)
    assert kaleyra.sent == []


def test_a_different_list_on_a_later_try_is_refused_once_something_was_sent() -> None:
    store = MemoryStore()
    run(Kaleyra(), calls_for(150), store)
    with pytest.raises(KaleyraPermanentError, match="different list of numbers"):
        run(Kaleyra(), calls_for(160), store)


def test_progress_is_logged_about_ten_times(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.campaign")
    run(Kaleyra(), calls_for(10_000), MemoryStore(), max_active_requests=3, clock=lambda: 0.0)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("batch ")]
    assert lines[-1] == "batch 100/100, 10,000 numbers accepted, 0 rejected"
    assert 10 <= len(lines) <= 12


@pytest.mark.parametrize("redial", [False, True])
def test_a_lost_answer_seen_in_the_call_log_is_reused(redial: bool) -> None:
    sending = {"status": "sending", "since": "2026-01-01T00:00:00+00:00"}
    assert decide_batch(sending, redial_unknown=redial, seen_in_call_log=True) is Action.REUSE
    # The call log never overrides what Kaleyra answered.
    assert decide_batch({"status": "rejected"}, redial_unknown=False, seen_in_call_log=True) is Action.SEND


def record(number: str, token: str | None, bridge: str | None = "+6531651234") -> call_logs.CallRecord:
    return call_logs.CallRecord(number=number, status="ANSWER", bridge=bridge, flow_id="SG_f", correlation_token=token)


def test_calls_of_batch_match_by_token_or_else_by_number_bridge_and_flow() -> None:
    call = wire.OutboundCall(
        to=("+918830907001", "+918830907002"), bridge="+6531651234", flow_id="SG_f", correlation_token="af-1"
    )
    assert wire.calls_of_batch(call, [record("+918830907001", "af-1")]) != []
    assert wire.calls_of_batch(call, [record("+918830907001", "af-other")]) == []  # another task's call
    assert wire.calls_of_batch(call, [record("+919999999999", "af-1")]) == []  # not this batch's number
    assert wire.calls_of_batch(call, [record("+918830907002", None)]) != []  # the log carries no token
    assert wire.calls_of_batch(call, [record("+918830907002", None, bridge="+13236789001")]) == []
