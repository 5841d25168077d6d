from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra._compat import AirflowFailException
from airflow_provider_kaleyra.exceptions import (
    KaleyraConnectionConfigError,
    KaleyraInputError,
    KaleyraOutcomeUnknownError,
    KaleyraPermanentError,
    KaleyraTransientError,
)
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator
from airflow_provider_kaleyra.triggers.kaleyra import KaleyraCallStatusTrigger

from .fakes import ACCEPTED, IVR_NOT_FOUND, SECRET_KEY, FakeKaleyra, FakeTaskStateStore, answer, install
from .waits import (
    RECORD,
    XComTI,
    ctx,
    hook_talking_to,
    listed,
    operator,
    result,
)

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined,unused-ignore]

pytestmark = pytest.mark.usefixtures("kaleyra_conn")
FLOW = "SG_flow-1"
BRIDGE = "+13236789001"


def context(map_index: int = -1, store: FakeTaskStateStore | None = None) -> dict[str, Any]:
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        dag_id="d", run_id="r", task_id="call", map_index=map_index, try_number=1, pushed=pushed,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )
    return {"ti": ti, "task_state_store": store if store is not None else FakeTaskStateStore()}


def hook_with(fake: FakeKaleyra) -> KaleyraHook:
    hook = KaleyraHook(sleep=lambda seconds: None)
    install(hook, fake)
    return hook


def talk_to(monkeypatch: pytest.MonkeyPatch, fake: FakeKaleyra) -> FakeKaleyra:
    """Every operator's hook talks to ``fake`` (a fresh hook per access, as after a restart)."""
    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", property(lambda self: hook_with(fake)))
    return fake


def run(monkeypatch: pytest.MonkeyPatch, *answers: Any, **kwargs: Any) -> tuple[Any, FakeKaleyra]:
    fake = talk_to(monkeypatch, FakeKaleyra(*answers))
    params = {"task_id": "call", "to": ["+918830907001"], "bridge": BRIDGE, "flow_id": FLOW, **kwargs}
    return KaleyraOutboundCallOperator(**params).execute(context()), fake


RATE_LIMITED = answer(429, {"code": "RBC3429", "message": "Too many requests"})


def test_record_is_json_and_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    record, fake = run(monkeypatch, answer(200, ACCEPTED), to="+918830907001,+918830907002")
    assert json.loads(json.dumps(record)) == record
    assert record["code"] == "RBC3007"
    assert record["message"] == "Submitted Successfully"
    assert record["numbers"] == ["+918830907001", "+918830907002"]
    assert record["bridge"] == BRIDGE
    assert record["flow_id"] == FLOW
    assert record["submitted_at"].endswith("+00:00")
    assert record["correlation_token"] == wire.correlation_token("d", "r", "call", -1)
    assert record["country_code"] is None
    assert record["numbers_in_xcom"] is True
    assert record["state_location"] == "task_state_store"
    form = {k: v[0] for k, v in fake.forms()[0].items()}
    assert json.loads(form["custom"])[wire.CORRELATION_KEY] == record["correlation_token"]


def test_national_numbers_go_out_whole_and_the_record_keeps_the_country_code(monkeypatch: pytest.MonkeyPatch) -> None:
    record, fake = run(monkeypatch, answer(200, ACCEPTED), to="8830907001,+918830907002", prefix="+91")
    form = fake.forms()[0]
    assert form["to"] == ["+918830907001,+918830907002"]
    assert "prefix" not in form
    assert record["numbers"] == ["+918830907001", "+918830907002"]
    assert record["country_code"] == "91"


def test_the_hook_is_made_once_per_operator() -> None:
    op = KaleyraOutboundCallOperator(task_id="t", to="+918830907001", bridge=BRIDGE, flow_id=FLOW)
    assert op.hook is op.hook
    assert op.hook.kaleyra_conn_id == "kaleyra_default"
    other = KaleyraOutboundCallOperator(task_id="u", to="+918830907001", bridge=BRIDGE, flow_id=FLOW)
    assert other.hook is not op.hook


def test_more_than_100_numbers_go_as_consecutive_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = [f"+9188309{i:05d}" for i in range(205)]
    # One request in flight: the requests leave strictly in order.
    record, fake = run(monkeypatch, *[answer(200, ACCEPTED)] * 3, to=numbers, max_active_requests=1)
    sent = [form["to"][0].split(",") for form in fake.forms()]
    assert [len(s) for s in sent] == [100, 100, 5]
    assert [n for s in sent for n in s] == numbers
    assert record["numbers"] == numbers
    assert [b["size"] for b in record["batches"]] == [100, 100, 5]


def test_several_requests_in_flight_send_the_same_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = [f"+9188309{i:05d}" for i in range(205)]
    record, fake = run(monkeypatch, *[answer(200, ACCEPTED)] * 3, to=numbers, max_active_requests=3)
    sent = sorted((form["to"][0].split(",") for form in fake.forms()), key=lambda batch: batch[0])
    assert sent == [numbers[:100], numbers[100:200], numbers[200:]]
    assert record["numbers"] == numbers  # the record keeps the caller's order


def all_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    """Airflow logs through structlog (to the console) or stdlib logging, by version."""
    captured = capsys.readouterr()
    return caplog.text + captured.out + captured.err


def test_duplicates_dialled_once_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.WARNING)
    record, fake = run(monkeypatch, answer(200, ACCEPTED), to=["+918830907001", "+918830907001"])
    assert fake.forms()[0]["to"] == ["+918830907001"]
    assert record["duplicates_dropped"] == ["+918830907001"]
    assert "Dropped 1 duplicate number(s), each is dialled once: +918830907001" in all_logs(caplog, capsys)


@pytest.mark.parametrize(
    ("overrides", "parameter"),
    [
        ({"to": ["+918830907001", "12345"]}, "to"),
        ({"to": []}, "to"),
        ({"flow_id": ""}, "flow_id"),
        ({"flow_id": ["a", "b"]}, "flow_id"),
        ({"bridge": "3236789001"}, "bridge"),
        ({"callback": {"call_ringing": {"url": ["https://x.example"]}}}, "callback"),
        ({"callback": {"call_end": {"callback_profile": [str(i) for i in range(11)]}}}, "callback"),
        ({"time": dt.datetime(2026, 1, 1)}, "time"),
        ({"on_invalid_number": "ignore"}, "on_invalid_number"),
        ({"max_active_requests": 0}, "max_active_requests"),
    ],
)
def test_bad_input_fails_before_any_request(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(KaleyraInputError) as info:
        run(monkeypatch, **overrides)
    assert info.value.parameter == parameter
    assert f"{parameter}=" in str(info.value)


def test_bad_input_makes_no_request(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = talk_to(monkeypatch, FakeKaleyra(answer(200, ACCEPTED)))
    op = KaleyraOutboundCallOperator(task_id="t", to="+91", bridge=BRIDGE, flow_id=FLOW)
    with pytest.raises(KaleyraInputError):
        op.execute(context())
    assert fake.requests == []


@pytest.mark.parametrize(
    ("conn", "match"),
    [
        ({"login": "HXIN1", "password": ""}, "Connection 'kaleyra_default' has no API key"),
        ({"login": "", "password": "secret-key"}, "Connection 'kaleyra_default' has no Account SID"),
        ({"login": "HXIN1", "password": "secret-key", "extra": {"region": "MARS"}}, "region='MARS'"),
        ({"login": "HXIN1", "password": "secret key"}, r"API key \(password field\) holds a space"),
        ({"login": "HXIN1", "password": "secret-key", "extra": {"timezone": "Mars"}}, "timezone='Mars'"),
    ],
)
def test_broken_connection_fails_before_any_request(
    monkeypatch: pytest.MonkeyPatch, conn: dict, match: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps({"conn_type": "kaleyra", **conn}))
    fake = talk_to(monkeypatch, FakeKaleyra(answer(200, ACCEPTED)))
    op = KaleyraOutboundCallOperator(task_id="t", to="+918830907001", bridge=BRIDGE, flow_id=FLOW)
    with pytest.raises(KaleyraConnectionConfigError, match=match):
        op.execute(context())
    assert fake.requests == []


def test_refused_flow_fails_without_retry(monkeypatch: pytest.MonkeyPatch) -> None:

    with pytest.raises(AirflowFailException, match="RBC3115 'IVR not found'"):
        run(monkeypatch, answer(400, IVR_NOT_FOUND))


def test_a_rate_limited_request_stays_retryable(monkeypatch: pytest.MonkeyPatch) -> None:

    with pytest.raises(KaleyraTransientError, match="RBC3429") as info:
        run(monkeypatch, *[RATE_LIMITED] * 4)
    assert not isinstance(info.value, AirflowFailException)


def test_a_refusal_after_accepted_batches_retries_only_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = [f"+9188309{i:05d}" for i in range(150)]
    store = FakeTaskStateStore()
    fake = talk_to(monkeypatch, FakeKaleyra(answer(200, ACCEPTED), *[RATE_LIMITED] * 4, answer(200, ACCEPTED)))
    op = KaleyraOutboundCallOperator(task_id="call", to=numbers, bridge=BRIDGE, flow_id=FLOW, max_active_requests=1)
    accepted = r"Kaleyra accepted 100 number\(s\) \(1 of 2 batches\), never sent again by this task instance; 50 were"
    with pytest.raises(KaleyraTransientError, match=accepted):
        op.execute(context(store=store))
    record = op.execute(context(store=store))  # what Airflow's retry does, with the same stored state
    sent = [form["to"][0].split(",") for form in fake.forms()]
    assert [len(s) for s in sent] == [100, 50, 50, 50, 50, 50]
    assert sent[-1] == numbers[100:]
    assert record["numbers"] == numbers
    assert record["batches_reused"] == 1


def listing_of(numbers: list[str]) -> tuple[int, bytes, dict]:
    """Kaleyra's call log showing calls to ``numbers``, written without "+" and without the token."""
    calls = [
        {"id": f"c{i}", "callee": n.lstrip("+"), "caller": BRIDGE.lstrip("+"), "status": "ANSWER"}
        for i, n in enumerate(numbers)
    ]
    return answer(200, {"code": "RBC3200", "message": "ok", "data": calls, "error": {}})


def test_a_5xx_leaves_the_batch_unknown_and_the_retry_never_resends_it(monkeypatch: pytest.MonkeyPatch) -> None:

    numbers = [f"+9188309{i:05d}" for i in range(150)]
    store = FakeTaskStateStore()
    fake = talk_to(monkeypatch, FakeKaleyra(answer(200, ACCEPTED), answer(503, "<html>down</html>")))
    op = KaleyraOutboundCallOperator(task_id="call", to=numbers, bridge=BRIDGE, flow_id=FLOW, max_active_requests=1)
    with pytest.raises(KaleyraTransientError, match=r"Outcome unknown for batch 2/2 .*HTTP 503"):
        op.execute(context(store=store))
    fake.answers.append(listing_of([]))  # the retry reads the call log: the calls are not there
    with pytest.raises(KaleyraOutcomeUnknownError, match="batch 2/2") as info:
        op.execute(context(store=store))
    assert isinstance(info.value, AirflowFailException)
    assert [r.method for r in fake.requests] == ["POST", "POST", "GET"]


def test_a_lost_answer_is_settled_from_the_call_log_on_the_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = [f"+9188309{i:05d}" for i in range(150)]
    store = FakeTaskStateStore()
    unknown = answer(200, {"code": "RBC3008", "message": "Queued", "data": {}, "error": {}})
    fake = talk_to(monkeypatch, FakeKaleyra(answer(200, ACCEPTED), unknown))
    op = KaleyraOutboundCallOperator(task_id="call", to=numbers, bridge=BRIDGE, flow_id=FLOW, max_active_requests=1)
    with pytest.raises(KaleyraTransientError, match="RBC3008"):
        op.execute(context(store=store))
    fake.answers.append(listing_of(numbers[100:]))
    record = op.execute(context(store=store))
    assert [r.method for r in fake.requests] == ["POST", "POST", "GET"]  # nothing dialled twice
    assert record["batches_reused"] == 2
    assert record["numbers"] == numbers


def test_api_key_never_in_logs_errors_or_xcom(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    record, _ = run(monkeypatch, answer(200, ACCEPTED))
    with pytest.raises(KaleyraPermanentError) as info:
        run(monkeypatch, answer(401, {"code": "RBC001", "message": "Incorrect SID or API Key", "data": []}))
    logs = all_logs(caplog, capsys)
    assert "Kaleyra accepted flow" in logs  # the logs were captured
    assert "batch 1/1: numbers accepted 1, refused by Kaleyra 0, not sent 0, outcome unknown 0" in logs
    for text in (logs, json.dumps(record), str(info.value)):
        assert SECRET_KEY not in text


def test_template_fields_cover_the_dag_parameters() -> None:
    fields = set(KaleyraOutboundCallOperator.template_fields)
    assert {"to", "bridge", "flow_id", "custom", "callback", "dlrurl", "kaleyra_conn_id"} <= fields


def campaign_of(count: int, **options: Any) -> tuple[Any, list[wire.OutboundCall], Any]:
    from airflow_provider_kaleyra import validation
    from airflow_provider_kaleyra.campaign import BatchEntry, BatchStatus, CampaignResult

    calls, callees = validation.outbound_calls(
        to=[f"88{i:08d}" for i in range(count)], bridge=BRIDGE, flow_id=FLOW, prefix="+91", **options
    )
    entries = [
        BatchEntry(
            BatchStatus.ACCEPTED,
            len(call.to),
            call.to[0],
            call.to[-1],
            since=f"2026-01-01T10:00:{i:02d}+00:00",
            code="RBC3007",
            message="Submitted Successfully",
            submitted_at=f"2026-01-01T10:00:{i:02d}+00:00",
            call_ids=(f"c{i}",),
        )
        for i, call in enumerate(calls)
    ]
    return CampaignResult(entries, "task_state_store", reused=1, sent=len(calls) - 1), calls, callees


def test_the_record_summarises_every_batch() -> None:
    from airflow_provider_kaleyra.operators.kaleyra import submission_record

    result, calls, callees = campaign_of(250, correlation_token="af-1")
    record = submission_record(result, calls, callees)
    assert json.loads(json.dumps(record)) == record
    assert record["numbers"] == [n for call in calls for n in call.to]
    assert record["numbers"][0] == "+918800000000"
    assert (record["numbers_count"], record["numbers_in_xcom"], record["country_code"]) == (250, True, "91")
    assert record["call_ids"] == ["c0", "c1", "c2"]
    assert record["submitted_at"] == "2026-01-01T10:00:00+00:00"
    assert (record["batches_reused"], record["correlation_token"]) == (1, "af-1")
    assert record["batches"][2] == {
        "size": 50,
        "code": "RBC3007",
        "submitted_at": "2026-01-01T10:00:02+00:00",
        "first": "+918800000200",
        "last": "+918800000249",
    }


def test_a_large_campaign_keeps_its_numbers_out_of_xcom() -> None:
    from airflow_provider_kaleyra.operators.kaleyra import XCOM_NUMBERS_LIMIT, submission_record

    result, calls, callees = campaign_of(XCOM_NUMBERS_LIMIT + 50)
    record = submission_record(result, calls, callees)
    assert (record["numbers_count"], record["numbers_in_xcom"]) == (XCOM_NUMBERS_LIMIT + 50, False)
    assert record["numbers"] == record["call_ids"] == []
    assert record["batches"][-1]["last"] == calls[-1].to[-1]
    assert submission_record(result, calls, callees, xcom_numbers_limit=2000)["numbers_in_xcom"] is True


def refused_connection() -> requests.ConnectionError:
    """What requests raises for a refused connection: the OS error wrapped four times."""
    refused = ConnectionRefusedError(111, "Connection refused")
    opening = NewConnectionError(None, f"Failed to establish a new connection: {refused}")  # type: ignore[arg-type]
    opening.__cause__ = refused
    out_of_retries = MaxRetryError(None, "/v1/HXIN169510844XXX/voice/outbound", reason=opening)  # type: ignore[arg-type]
    out_of_retries.__cause__ = opening
    error = requests.ConnectionError(out_of_retries)
    error.__context__ = out_of_retries
    return error


def test_a_refused_connection_is_one_line_that_says_nobody_was_dialled(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(KaleyraTransientError) as caught:
        run(monkeypatch, *[refused_connection() for _ in range(4)], to="+918830907001,+918830907002")
    error = caught.value
    # Before: "batch 1/1, 0 numbers accepted, 2 rejected", then five chained tracebacks
    # (ConnectionRefusedError, NewConnectionError, MaxRetryError, ConnectionError, and
    # the same KaleyraTransientError twice) ending in "Accepted so far: 0 of 1 batch(es), 0 numbers".
    assert str(error) == (
        f"Could not reach Kaleyra at https://api.ap.kaleyra.io/ to trigger flow {FLOW} after 4 tries "
        "(ConnectionRefusedError: [Errno 111] Connection refused); check the connection's region or base_url "
        "and the network. Nobody was dialled; a retry sends only what Kaleyra did not accept "
        f"[sent: to=[+918830907001, +918830907002] bridge={BRIDGE} flow={FLOW}]"
    )
    printed = "".join(traceback.format_exception(error))
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert "urllib3" not in printed
    assert "The above exception" not in printed
    assert "During handling" not in printed
    logs = capsys.readouterr().out
    assert "refused by Kaleyra 0, not sent 2" in logs
    assert "try 1 of 4 failed (ConnectionRefusedError: [Errno 111] Connection refused)" in logs


# ---------------------------------------- waiting for how the calls ended


def test_operator_submits_pushes_the_record_then_defers(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKaleyra(answer(200, ACCEPTED))
    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", property(lambda self: hook_talking_to(fake)))
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
    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", property(lambda self: hook_talking_to(fake)))
    ti = XComTI(dag_id="d", run_id="r", task_id="call", map_index=-1, try_number=1, pushed={})
    op = KaleyraOutboundCallOperator(task_id="call", to="+918830907001", bridge="+13236789001", flow_id="SG_flow")
    value = op.execute({"ti": ti, "task_state_store": FakeTaskStateStore()})
    assert (value["code"], value["outcomes"]) == ("RBC3007", None)  # the same shape as after a wait
    assert ti.pushed == {"submission": {k: v for k, v in value.items() if k != "outcomes"}}


@pytest.mark.parametrize("parameter", ["poll_interval", "wait_timeout"])
def test_bad_wait_times_fail_when_the_operator_is_built(parameter: str) -> None:
    with pytest.raises(KaleyraInputError, match=parameter):
        operator(**{parameter: 0})


def test_operator_waits_on_the_worker_without_deferring(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKaleyra(answer(200, ACCEPTED), listed("ANSWER", "FLOW_ANSWER", token=""))
    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", property(lambda self: hook_talking_to(fake)))
    ti = XComTI(dag_id="d", run_id="r", task_id="call", map_index=-1, try_number=1, pushed={})
    result = operator(deferrable=False).execute({"ti": ti, "task_state_store": FakeTaskStateStore()})
    assert result["outcomes"]["counts"] == {"success": 2}
    assert ti.pushed["submission"]["numbers"] == result["numbers"] == RECORD["numbers"]
    assert ti.pushed["outcomes"] == result["outcomes"]
    assert [r.method for r in fake.requests] == ["POST", "GET"]


def test_a_task_deferred_before_the_record_was_handed_over_reads_it_from_xcom() -> None:
    r = result("ANSWER", "ANSWER")
    value = operator().execute_complete(ctx(submission=RECORD), {"status": "done", "result": r})
    assert value == {**RECORD, "outcomes": r}
