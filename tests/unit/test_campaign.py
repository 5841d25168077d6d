"""The campaign loop: what each try sends, stores and raises, with a scripted Kaleyra.

The errors the scripted ``send`` raises are built by ``exceptions.error_after_tries`` from
real answers, so they are the ones the hook raises for those answers.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest

from airflow_provider_kaleyra import call_logs, campaign, validation, wire
from airflow_provider_kaleyra.batch_state import CAMPAIGN_KEY, MemoryStore, batch_key
from airflow_provider_kaleyra.campaign import Action, BatchEntry, BatchStatus, Campaign, decide_batch
from airflow_provider_kaleyra.exceptions import (
    KaleyraConnectionConfigError,
    KaleyraError,
    KaleyraOutcomeUnknownError,
    KaleyraPermanentError,
    KaleyraTransientError,
    error_after_tries,
)

LOG = logging.getLogger("test.campaign")
BRIDGE = "+6531651234"
SINCE = "2026-01-01T10:00:00+00:00"


def calls_for(count: int, flow: str = "SG_flow", token: str | None = "af-1") -> list[wire.OutboundCall]:
    numbers = [f"+9188{i:08d}" for i in range(count)]
    return validation.outbound_calls(to=numbers, bridge=BRIDGE, flow_id=flow, correlation_token=token)[0]


def answered(status: int, body: Any) -> KaleyraError:
    """What the hook raises when the outbound POST's last answer is this one."""
    raw = body if isinstance(body, str) else json.dumps(body)
    return error_after_tries(
        False,
        wire.parse_reply(status, raw),
        None,
        action="trigger flow SG_flow",
        idempotent=False,
        base_url="https://api.ap.kaleyra.io/",
        tries=1,
        sent=None,
    )


UNKNOWN_CODE = answered(200, {"code": "RBC3008", "message": "Queued", "data": {}, "error": {}})
SERVER_ERROR = answered(503, "<html>Service Unavailable</html>")
IVR_NOT_FOUND = answered(400, {"code": "RBC3115", "message": "IVR not found", "data": [], "error": {}})
RATE_LIMITED = answered(429, {"code": "RBC3429", "message": "Too many requests"})
UNREACHABLE = error_after_tries(
    True, None, ConnectionRefusedError("refused"), action="x", idempotent=False, base_url="b", tries=4, sent=None
)
NO_ANSWER = error_after_tries(
    False, None, TimeoutError("read timed out"), action="x", idempotent=False, base_url="b", tries=1, sent=None
)


class Kaleyra:
    """``prepare`` and ``send`` for one try; failures are scripted per batch (1-based)."""

    def __init__(
        self,
        calls: list[wire.OutboundCall],
        failures: dict[int, BaseException] | None = None,
        prepare_failures: dict[int, Exception] | None = None,
        store: MemoryStore | None = None,
    ) -> None:
        self.batch_of = {call.to[0]: i for i, call in enumerate(calls, 1)}
        self.failures = failures or {}
        self.prepare_failures = prepare_failures or {}
        self.store = store
        self.sent: list[int] = []
        self.prepared_on: set[str] = set()
        self.sent_on: set[str] = set()
        self.stored_before_sending: list[Any] = []
        self.lock = threading.Lock()

    def prepare(self, call: wire.OutboundCall) -> wire.OutboundCall:
        self.prepared_on.add(threading.current_thread().name)
        batch = self.batch_of[call.to[0]]
        if batch in self.prepare_failures:
            raise self.prepare_failures[batch]
        return call

    def send(self, call: wire.OutboundCall) -> wire.Submission:
        batch = self.batch_of[call.to[0]]
        with self.lock:
            self.sent.append(batch)
            self.sent_on.add(threading.current_thread().name)
            if self.store is not None:
                self.stored_before_sending.append(self.store.get(batch_key(batch - 1)))
        failure = self.failures.get(batch)
        if failure is not None:
            raise failure
        reply = wire.parse_reply(200, b'{"code": "RBC3007", "message": "Submitted Successfully", "data": {"id": "x"}}')
        return wire.submission_from(call, reply)


class CallLog:
    """``call_logs(query)``: the records Kaleyra's call log shows, whatever the query."""

    def __init__(self, *records: call_logs.CallRecord, error: KaleyraError | None = None) -> None:
        self.records = list(records)
        self.error = error
        self.queries: list[call_logs.CallLogQuery] = []

    def __call__(self, query: call_logs.CallLogQuery) -> call_logs.CallLogListing:
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        return call_logs.CallLogListing(self.records)


def logged(call: wire.OutboundCall, token: str | None = None, number: str | None = None) -> call_logs.CallRecord:
    """A call-log record of ``call``'s first number, written the way Kaleyra may write it."""
    return call_logs.CallRecord(
        number=number or call.to[0].lstrip("+"), status="ANSWER", bridge=BRIDGE.lstrip("+"), correlation_token=token
    )


def run(
    kaleyra: Kaleyra, calls: list[wire.OutboundCall], store: MemoryStore, **options: Any
) -> campaign.CampaignResult:
    return Campaign(prepare=kaleyra.prepare, send=kaleyra.send, calls=calls, store=store, log=LOG, **options).run()


def status(store: MemoryStore, batch: int) -> str | None:
    stored = store.get(batch_key(batch - 1))
    return stored["status"] if stored else None


def entry(store: MemoryStore, batch: int) -> BatchEntry:
    found = BatchEntry.from_json(store.get(batch_key(batch - 1)))
    assert found is not None
    return found


# --------------------------------------------------------------------------- deciding


def stored(status: BatchStatus) -> BatchEntry:
    return BatchEntry(status=status, size=1, first="+918800000000", last="+918800000000", since=SINCE)


@pytest.mark.parametrize(
    ("state", "redial", "action"),
    [
        (None, False, Action.SEND),
        (BatchStatus.ACCEPTED, False, Action.REUSE),
        (BatchStatus.ACCEPTED, True, Action.REUSE),
        (BatchStatus.REFUSED, False, Action.SEND),
        (BatchStatus.NOT_SENT, False, Action.SEND),
        (BatchStatus.SENDING, False, Action.UNKNOWN),
        (BatchStatus.SENDING, True, Action.SEND),
        (BatchStatus.UNKNOWN, False, Action.UNKNOWN),
        (BatchStatus.UNKNOWN, True, Action.SEND),
    ],
)
def test_decide_batch(state: BatchStatus | None, redial: bool, action: Action) -> None:
    assert decide_batch(stored(state) if state else None, redial_unknown=redial) is action


def test_batch_entry_round_trips_through_json() -> None:
    original = BatchEntry(
        status=BatchStatus.UNKNOWN,
        size=2,
        first="+918800000000",
        last="+918800000001",
        since=SINCE,
        try_number=2,
        numbers="+918800000000,+918800000001",
        code="RBC3008",
        message="Queued",
        http_status=200,
        error="Kaleyra answered ...",
        submitted_at=SINCE,
        call_ids=("c1", "c2"),
    )
    assert BatchEntry.from_json(json.loads(json.dumps(original.to_json()))) == original


def test_batch_entry_json_leaves_out_what_is_empty() -> None:
    assert stored(BatchStatus.SENDING).to_json() == {
        "status": "sending",
        "size": 1,
        "first": "+918800000000",
        "last": "+918800000000",
        "since": SINCE,
        "try_number": None,
    }


@pytest.mark.parametrize("data", [None, "accepted", [], {"size": 1}])
def test_what_is_not_a_stored_entry_reads_as_none(data: object) -> None:
    assert BatchEntry.from_json(data) is None


def test_a_status_this_version_does_not_know_is_read_as_unknown() -> None:
    found = BatchEntry.from_json({"status": "exploded", "size": 3})
    assert found is not None
    assert found.status is BatchStatus.UNKNOWN


@pytest.mark.parametrize(
    ("old", "now"),
    [
        ({"transient": True}, BatchStatus.NOT_SENT),  # no answer fields: the connection never opened
        ({"transient": False}, BatchStatus.NOT_SENT),
        ({"code": "RBC3115", "http_status": 400}, BatchStatus.REFUSED),
        ({"code": "RBC001", "http_status": 401}, BatchStatus.REFUSED),
        ({"code": "E110", "http_status": 402}, BatchStatus.REFUSED),
        ({"http_status": 429, "transient": True}, BatchStatus.REFUSED),
        ({"code": "RBC3008", "http_status": 200}, BatchStatus.UNKNOWN),
        ({"http_status": 503, "transient": True}, BatchStatus.UNKNOWN),
        ({"code": "RBC4242"}, BatchStatus.UNKNOWN),
    ],
)
def test_an_old_rejected_entry_is_read_by_what_its_answer_proves(old: dict[str, Any], now: BatchStatus) -> None:
    found = BatchEntry.from_json({"status": "rejected", "size": 100, "first": "+1", "last": "+2", **old})
    assert found is not None
    assert found.status is now


def test_old_rejected_entries_are_resent_only_when_nothing_was_done() -> None:
    calls, store = calls_for(300), MemoryStore()
    store.set(CAMPAIGN_KEY, {"fingerprint": campaign.fingerprint(calls), "batches": 3})
    store.set(batch_key(0), {"status": "rejected", "code": "RBC3008", "http_status": 200, "submitted_at": SINCE})
    store.set(batch_key(1), {"status": "rejected", "code": "RBC3115", "http_status": 400})
    store.set(batch_key(2), {"status": "rejected", "transient": True})
    kaleyra = Kaleyra(calls)
    with pytest.raises(KaleyraOutcomeUnknownError, match=r"batch 1/3 .*RBC3008") as caught:
        run(kaleyra, calls, store)
    assert sorted(kaleyra.sent) == [2, 3]
    assert "batch 2/3" not in str(caught.value)
    assert (status(store, 1), status(store, 2), status(store, 3)) == ("rejected", "accepted", "accepted")


def test_fingerprint_is_stable_and_changes_with_what_is_dialled() -> None:
    calls = calls_for(150)
    assert campaign.fingerprint(calls) == campaign.fingerprint(calls_for(150))
    assert campaign.fingerprint(calls) != campaign.fingerprint(calls_for(150, flow="SG_other"))
    assert campaign.fingerprint(calls) != campaign.fingerprint(calls_for(151))
    assert campaign.fingerprint(calls) != campaign.fingerprint(list(reversed(calls)))
    # The correlation token is per task instance: it does not make another campaign.
    assert campaign.fingerprint(calls) == campaign.fingerprint(calls_for(150, token="af-2"))


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"code": "RBC3008", "message": "Queued", "http_status": 200}, "Kaleyra answered RBC3008 'Queued' (HTTP 200)"),
        ({"code": "RBC3008"}, "Kaleyra answered RBC3008"),
        ({"http_status": 503, "error": "..."}, "Kaleyra answered HTTP 503"),
        ({"error": "RuntimeError: boom"}, "RuntimeError: boom"),
        ({}, "no answer came back"),
    ],
)
def test_an_entry_says_what_kaleyra_answered(fields: dict[str, Any], text: str) -> None:
    assert BatchEntry(BatchStatus.UNKNOWN, 1, "+1", "+1", SINCE, **fields).answer() == text


# --------------------------------------------------------------------------- sending


@pytest.mark.parametrize("in_flight", [1, 4])
def test_all_batches_sent_once_and_stored_accepted(in_flight: int) -> None:
    calls, store = calls_for(1050), MemoryStore()
    kaleyra = Kaleyra(calls)
    result = run(kaleyra, calls, store, max_active_requests=in_flight, try_number=3)
    assert sorted(kaleyra.sent) == list(range(1, 12))
    assert [status(store, b) for b in range(1, 12)] == ["accepted"] * 11
    assert store.get(CAMPAIGN_KEY)["batches"] == 11
    assert (result.reused, result.sent, result.location) == (0, 11, "memory")
    last = result.entries[10]
    assert (last.size, last.first, last.last, last.try_number) == (50, calls[10].to[0], calls[10].to[-1], 3)
    assert last.numbers == ",".join(calls[10].to)
    assert last.code == "RBC3007"
    assert last.call_ids == ("x",)


def test_prepare_runs_on_this_thread_and_send_on_workers() -> None:
    calls = calls_for(300)
    kaleyra = Kaleyra(calls)
    run(kaleyra, calls, MemoryStore(), max_active_requests=2)
    assert kaleyra.prepared_on == {threading.current_thread().name}
    assert all(name.startswith("kaleyra-batch") for name in kaleyra.sent_on)


def test_the_sending_mark_is_stored_before_the_request_leaves() -> None:
    calls, store = calls_for(200), MemoryStore()
    kaleyra = Kaleyra(calls, store=store)
    run(kaleyra, calls, store)
    assert [e["status"] for e in kaleyra.stored_before_sending] == ["sending", "sending"]
    assert kaleyra.stored_before_sending[0]["numbers"] == ",".join(calls[0].to)


ACCEPTED_1_OF_3 = (
    r"Kaleyra accepted 100 number\(s\) \(1 of 3 batches\), never sent again by this task instance; "
    "200 were not dialled"
)


def test_a_refusal_that_proves_nothing_was_done_is_resent_by_the_next_try() -> None:
    calls, store = calls_for(300), MemoryStore()
    with pytest.raises(KaleyraTransientError, match=ACCEPTED_1_OF_3):
        run(Kaleyra(calls, {2: RATE_LIMITED}), calls, store)
    refused = entry(store, 2)
    assert (refused.status, refused.code, refused.http_status) == (BatchStatus.REFUSED, "RBC3429", 429)
    assert store.get(batch_key(2)) is None  # never started after the failure
    retry = Kaleyra(calls)
    result = run(retry, calls, store)
    assert retry.sent == [2, 3]
    assert (result.reused, result.sent) == (1, 2)


def test_a_connection_that_never_opened_is_not_sent_and_resent_by_the_next_try() -> None:
    calls, store = calls_for(200), MemoryStore()
    with pytest.raises(KaleyraTransientError, match="Could not reach Kaleyra"):
        run(Kaleyra(calls, {1: UNREACHABLE}), calls, store)
    assert entry(store, 1).status is BatchStatus.NOT_SENT
    retry = Kaleyra(calls)
    run(retry, calls, store)
    assert retry.sent == [1, 2]


def test_a_permanent_refusal_stops_the_campaign_without_retry() -> None:
    calls, store = calls_for(300), MemoryStore()
    kaleyra = Kaleyra(calls, {1: IVR_NOT_FOUND})
    with pytest.raises(KaleyraPermanentError, match=r"'IVR not found' \(HTTP 400; [^)]*\)\. ") as caught:
        run(kaleyra, calls, store)
    assert not isinstance(caught.value, KaleyraOutcomeUnknownError)
    assert kaleyra.sent == [1]
    assert entry(store, 1).status is BatchStatus.REFUSED


# --------------------------------------------------------------------------- outcome unknown


def test_an_unknown_code_and_a_503_leave_both_batches_unknown_and_never_resent() -> None:
    calls, store = calls_for(300), MemoryStore()
    first = Kaleyra(calls, {1: UNKNOWN_CODE, 2: SERVER_ERROR})
    with pytest.raises(KaleyraTransientError, match="Outcome unknown for batch 1/3") as caught:
        run(first, calls, store, max_active_requests=2)
    assert sorted(first.sent) == [1, 2]  # both were in flight before either answered
    one, two = entry(store, 1), entry(store, 2)
    assert (one.status, one.code, one.message, one.http_status) == (BatchStatus.UNKNOWN, "RBC3008", "Queued", 200)
    assert (two.status, two.code, two.http_status) == (BatchStatus.UNKNOWN, None, 503)
    assert "Kaleyra answered RBC3008 'Queued' (HTTP 200)" in str(caught.value)
    assert "batch 2/3 (100 numbers" in str(caught.value)
    assert "Kaleyra answered HTTP 503" in str(caught.value)
    assert store.get(batch_key(2)) is None

    # Airflow's retry: the call log does not show them (yet); only the batch never sent goes out.
    retry = Kaleyra(calls)
    with pytest.raises(KaleyraOutcomeUnknownError, match="set redial_unknown=True") as caught:
        run(retry, calls, store, call_logs=CallLog())
    assert retry.sent == [3]
    assert "batch 1/3" in str(caught.value)
    assert "batch 2/3" in str(caught.value)
    assert isinstance(caught.value, KaleyraPermanentError)  # no further Airflow retries

    # A clear and re-run of the task instance, with the same stored state: nothing is sent.
    rerun = Kaleyra(calls)
    with pytest.raises(KaleyraOutcomeUnknownError):
        run(rerun, calls, store, call_logs=CallLog())
    assert rerun.sent == []
    assert [status(store, b) for b in (1, 2, 3)] == ["unknown", "unknown", "accepted"]


def test_unknown_batches_are_settled_from_the_call_log_when_it_shows_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls, store = calls_for(300), MemoryStore()
    with pytest.raises(KaleyraTransientError):
        run(Kaleyra(calls, {1: UNKNOWN_CODE, 2: SERVER_ERROR}), calls, store, max_active_requests=2)
    since = entry(store, 1).since
    caplog.set_level(logging.INFO, logger=LOG.name)
    # Kaleyra's log writes numbers without "+" and echoes no token.
    log = CallLog(logged(calls[0]), logged(calls[1], number=calls[1].to[-1]))
    retry = Kaleyra(calls)
    result = run(retry, calls, store, call_logs=log)
    assert retry.sent == [3]
    assert (result.reused, result.sent) == (2, 1)
    settled = entry(store, 1)
    assert settled.status is BatchStatus.ACCEPTED
    assert settled.message == "outcome was unknown; its calls are in Kaleyra's call log"
    assert settled.submitted_at == since
    assert settled.code == "RBC3008"  # what Kaleyra answered is kept
    assert [q.bridge for q in log.queries] == [BRIDGE, BRIDGE]
    assert "Batch 1/3: its outcome was unknown" in caplog.text


def test_a_call_of_another_task_does_not_settle_a_batch() -> None:
    calls, store = calls_for(100), MemoryStore()
    with pytest.raises(KaleyraTransientError):
        run(Kaleyra(calls, {1: SERVER_ERROR}), calls, store)
    with pytest.raises(KaleyraOutcomeUnknownError):
        run(Kaleyra(calls), calls, store, call_logs=CallLog(logged(calls[0], token="af-someone-else")))
    assert entry(store, 1).status is BatchStatus.UNKNOWN


def test_national_numbers_in_the_call_log_settle_with_the_country_code() -> None:
    calls, store = calls_for(100), MemoryStore()
    with pytest.raises(KaleyraTransientError):
        run(Kaleyra(calls, {1: NO_ANSWER}), calls, store)
    national = calls[0].to[0].removeprefix("+91")
    log = CallLog(logged(calls[0], number=national))
    with pytest.raises(KaleyraOutcomeUnknownError):
        run(Kaleyra(calls), calls, store, call_logs=log)  # without the country code: no match
    run(Kaleyra(calls), calls, store, call_logs=log, country_code="91")
    assert entry(store, 1).status is BatchStatus.ACCEPTED


def test_a_call_log_that_cannot_be_read_leaves_the_batch_unknown(caplog: pytest.LogCaptureFixture) -> None:
    calls, store = calls_for(100), MemoryStore()
    with pytest.raises(KaleyraTransientError):
        run(Kaleyra(calls, {1: SERVER_ERROR}), calls, store)
    caplog.set_level(logging.WARNING, logger=LOG.name)
    failing = CallLog(error=KaleyraTransientError("HTTP 503"))
    retry = Kaleyra(calls)
    with pytest.raises(KaleyraOutcomeUnknownError):
        run(retry, calls, store, call_logs=failing)
    assert retry.sent == []
    assert "Could not read Kaleyra's call log to settle batch 1: HTTP 503" in caplog.text


@pytest.mark.parametrize(
    "failure",
    [NO_ANSWER, RuntimeError("boom"), ValueError("odd")],
    ids=["no-answer", "runtime-error", "value-error"],
)
def test_an_error_after_the_request_was_handed_over_is_an_unknown_outcome(failure: Exception) -> None:
    calls, store = calls_for(200), MemoryStore()
    with pytest.raises(KaleyraTransientError, match="Outcome unknown for batch 1/2"):
        run(Kaleyra(calls, {1: failure}), calls, store)
    unknown = entry(store, 1)
    assert unknown.status is BatchStatus.UNKNOWN
    assert unknown.error is not None
    # An answer that never came is said briefly; any other error keeps its own words.
    assert (str(failure) if not isinstance(failure, KaleyraError) else "no answer came back") in unknown.error
    retry = Kaleyra(calls)
    with pytest.raises(KaleyraOutcomeUnknownError):
        run(retry, calls, store)
    assert retry.sent == [2]


def test_redial_unknown_sends_unknown_batches_again() -> None:
    calls, store = calls_for(300), MemoryStore()
    with pytest.raises(KaleyraTransientError):
        run(Kaleyra(calls, {1: UNKNOWN_CODE, 2: SERVER_ERROR}), calls, store, max_active_requests=2)
    redial = Kaleyra(calls)
    result = run(redial, calls, store, redial_unknown=True, call_logs=CallLog())
    assert sorted(redial.sent) == [1, 2, 3]
    assert [status(store, b) for b in (1, 2, 3)] == ["accepted"] * 3
    assert result.reused == 0


def test_crash_after_marking_sending_leaves_the_batch_unsettled() -> None:
    calls, store = calls_for(200), MemoryStore()

    class Crash(BaseException):
        pass

    with pytest.raises(Crash):
        run(Kaleyra(calls, {1: Crash()}), calls, store)  # the process "dies" during the POST
    assert status(store, 1) == "sending"
    retry = Kaleyra(calls)
    with pytest.raises(KaleyraOutcomeUnknownError, match=r"batch 1/2 .*no answer came back"):
        run(retry, calls, store)
    assert retry.sent == [2]
    redial = Kaleyra(calls)
    run(redial, calls, store, redial_unknown=True)
    assert redial.sent == [1]


def test_a_sending_batch_seen_in_the_call_log_is_accepted() -> None:
    calls, store = calls_for(100), MemoryStore()
    store.set(CAMPAIGN_KEY, {"fingerprint": campaign.fingerprint(calls), "batches": 1})
    store.set(batch_key(0), BatchEntry.sending(calls[0], 1).to_json())
    kaleyra = Kaleyra(calls)
    run(kaleyra, calls, store, call_logs=CallLog(logged(calls[0], token="af-1")))
    assert kaleyra.sent == []
    assert status(store, 1) == "accepted"


# --------------------------------------------------------------------------- building fails


@pytest.mark.parametrize("in_flight", [1, 2])
def test_prepare_raising_stores_nothing_for_that_batch_and_a_later_try_sends_it(in_flight: int) -> None:
    calls, store = calls_for(300), MemoryStore()
    first = Kaleyra(calls, prepare_failures={2: TypeError("cannot build")})
    with pytest.raises(TypeError, match="cannot build"):
        run(first, calls, store, max_active_requests=in_flight)
    assert first.sent == [1]
    assert status(store, 1) == "accepted"  # the batch in flight still settles
    assert store.get(batch_key(1)) is None  # no stranded "sending"
    assert store.get(batch_key(2)) is None
    retry = Kaleyra(calls)
    result = run(retry, calls, store)
    assert retry.sent == [2, 3]
    assert result.reused == 1


def test_prepare_raising_on_the_first_batch_leaves_only_the_header() -> None:
    calls, store = calls_for(100), MemoryStore()
    with pytest.raises(TypeError):
        run(Kaleyra(calls, prepare_failures={1: TypeError("bad")}), calls, store)
    assert set(store.values) == {CAMPAIGN_KEY}
    retry = Kaleyra(calls)
    run(retry, calls, store)
    assert retry.sent == [1]


def test_a_connection_error_while_preparing_fails_permanently_and_sends_nothing() -> None:
    calls, store = calls_for(100), MemoryStore()
    kaleyra = Kaleyra(calls, prepare_failures={1: KaleyraConnectionConfigError("Connection 'k' has no API key")})
    with pytest.raises(KaleyraPermanentError, match="has no API key"):
        run(kaleyra, calls, store)
    assert kaleyra.sent == []
    assert store.get(batch_key(0)) is None


# --------------------------------------------------------------------------- another campaign, progress


def test_a_different_list_on_a_later_try_is_refused_once_something_was_sent() -> None:
    store = MemoryStore()
    calls = calls_for(150)
    run(Kaleyra(calls), calls, store)
    other = calls_for(160)
    with pytest.raises(KaleyraPermanentError, match="different list of numbers"):
        run(Kaleyra(other), other, store)


def test_a_different_list_is_allowed_when_nothing_was_done() -> None:
    store = MemoryStore()
    calls = calls_for(100)
    with pytest.raises(KaleyraPermanentError):
        run(Kaleyra(calls, {1: IVR_NOT_FOUND}), calls, store)
    other = calls_for(100, flow="SG_fixed")
    kaleyra = Kaleyra(other)
    run(kaleyra, other, store)
    assert kaleyra.sent == [1]
    assert store.get(CAMPAIGN_KEY)["fingerprint"] == campaign.fingerprint(other)


def test_progress_is_logged_about_ten_times(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOG.name)
    calls = calls_for(10_000)
    run(Kaleyra(calls), calls, MemoryStore(), max_active_requests=3, clock=lambda: 0.0)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("batch ")]
    assert lines[-1] == (
        "batch 100/100: numbers accepted 10,000, refused by Kaleyra 0, not sent 0, outcome unknown 0"
    )
    assert 10 <= len(lines) <= 12


def test_progress_counts_every_state(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOG.name)
    calls = calls_for(250)
    with pytest.raises(KaleyraTransientError):
        run(Kaleyra(calls, {2: SERVER_ERROR, 3: RATE_LIMITED}), calls, MemoryStore(), max_active_requests=3)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("batch ")]
    assert lines[-1] == "batch 3/3: numbers accepted 100, refused by Kaleyra 50, not sent 0, outcome unknown 100"


# --------------------------------------------------------------------------- what a failure says


def test_a_refused_batch_is_said_once_with_kaleyras_answer_kept_and_no_chained_copy() -> None:
    calls, store = calls_for(300), MemoryStore()
    with pytest.raises(KaleyraPermanentError) as caught:
        run(Kaleyra(calls, {2: IVR_NOT_FOUND}), calls, store)
    error = caught.value
    # Before: the same long message twice, the second chained to the first.
    assert str(error).count("IVR not found") == 1
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert (error.code, error.kaleyra_message, error.http_status) == ("RBC3115", "IVR not found", 400)
    assert str(error).endswith(
        "Kaleyra accepted 100 number(s) (1 of 3 batches), never sent again by this task instance; "
        "200 were not dialled; the task fails without retry"
    )


def test_a_refused_single_batch_says_nobody_was_dialled() -> None:
    calls, store = calls_for(2), MemoryStore()
    with pytest.raises(KaleyraPermanentError) as caught:
        run(Kaleyra(calls, {1: IVR_NOT_FOUND}), calls, store)
    # Before: "Accepted so far: 0 of 1 batch(es), 0 numbers; they are never sent again ..."
    assert str(caught.value).endswith(". Nobody was dialled; the task fails without retry")
    assert "0 of 1" not in str(caught.value)


def lost_answer() -> KaleyraOutcomeUnknownError:
    """What the hook raises when no answer came: its own error, the transport's as its hidden context."""
    timed_out = OSError("HTTPSConnectionPool(host='api.ap.kaleyra.io', port=443): Read timed out.")
    timed_out.__cause__ = TimeoutError("timed out")
    try:
        raise timed_out
    except OSError:
        try:
            raise error_after_tries(
                False, None, timed_out, action="x", idempotent=False, base_url="b", tries=1, sent=None
            ) from None
        except KaleyraOutcomeUnknownError as lost:
            return lost
    raise AssertionError("unreachable")


def test_a_lost_answer_is_stored_as_what_the_network_said_in_a_few_words() -> None:
    calls, store = calls_for(100), MemoryStore()
    with pytest.raises(KaleyraTransientError, match=r"no answer came back \(TimeoutError: timed out\)"):
        run(Kaleyra(calls, {1: lost_answer()}), calls, store)
    assert entry(store, 1).error == "no answer came back (TimeoutError: timed out)"
