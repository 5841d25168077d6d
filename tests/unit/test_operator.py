from __future__ import annotations

import datetime as dt
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.exceptions import (
    KaleyraConnectionConfigError,
    KaleyraInputError,
    KaleyraPermanentError,
    KaleyraTransientError,
)
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator

from .fakes import ACCEPTED, IVR_NOT_FOUND, SECRET_KEY, FakeKaleyra, answer, install

pytestmark = pytest.mark.usefixtures("kaleyra_conn")
FLOW = "SG_flow-1"
BRIDGE = "+13236789001"


class FakeTaskStateStore:
    """The ``task_state_store`` accessor's get/set, in memory."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = json.loads(json.dumps(value))


def context(map_index: int = -1, store: FakeTaskStateStore | None = None) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="call", map_index=map_index, try_number=1)
    return {"ti": ti, "task_state_store": store if store is not None else FakeTaskStateStore()}


def hook_with(fake: FakeKaleyra) -> KaleyraHook:
    hook = KaleyraHook()
    install(hook, fake)
    return hook


def run(monkeypatch: pytest.MonkeyPatch, *answers: Any, **kwargs: Any) -> tuple[Any, FakeKaleyra]:
    fake = FakeKaleyra(*answers)

    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", lambda self: hook_with(fake))
    params = {"task_id": "call", "to": ["+918830907001"], "bridge": BRIDGE, "flow_id": FLOW, **kwargs}
    return KaleyraOutboundCallOperator(**params).execute(context()), fake


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
    form = {k: v[0] for k, v in fake.forms()[0].items()}
    assert json.loads(form["custom"])[wire.CORRELATION_KEY] == record["correlation_token"]


def test_more_than_100_numbers_go_as_consecutive_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = [f"+9188309{i:05d}" for i in range(205)]
    record, fake = run(monkeypatch, *[answer(200, ACCEPTED)] * 3, to=numbers)
    sent = [form["to"][0].split(",") for form in fake.forms()]
    assert [len(s) for s in sent] == [100, 100, 5]
    assert [n for s in sent for n in s] == numbers
    assert record["numbers"] == numbers
    assert [b["size"] for b in record["batches"]] == [100, 100, 5]


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
    fake = FakeKaleyra(answer(200, ACCEPTED))
    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", lambda self: hook_with(fake))
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
    ],
)
def test_broken_connection_fails_before_any_request(
    monkeypatch: pytest.MonkeyPatch, conn: dict, match: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps({"conn_type": "kaleyra", **conn}))
    fake = FakeKaleyra(answer(200, ACCEPTED))
    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", lambda self: hook_with(fake))
    op = KaleyraOutboundCallOperator(task_id="t", to="+918830907001", bridge=BRIDGE, flow_id=FLOW)
    with pytest.raises(KaleyraConnectionConfigError, match=match):
        op.execute(context())
    assert fake.requests == []


def test_refused_flow_fails_without_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_kaleyra._compat import AirflowFailException

    with pytest.raises(AirflowFailException, match="RBC3115 'IVR not found'"):
        run(monkeypatch, answer(400, IVR_NOT_FOUND))


def test_transient_failure_on_first_request_stays_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_kaleyra._compat import AirflowFailException

    with pytest.raises(KaleyraTransientError) as info:
        run(monkeypatch, answer(503, "busy"))
    assert not isinstance(info.value, AirflowFailException)


def test_transient_failure_after_accepted_batches_retries_only_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = [f"+9188309{i:05d}" for i in range(150)]
    store = FakeTaskStateStore()
    fake = FakeKaleyra(answer(200, ACCEPTED), answer(503, "busy"), answer(200, ACCEPTED))
    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", lambda self: hook_with(fake))
    op = KaleyraOutboundCallOperator(task_id="call", to=numbers, bridge=BRIDGE, flow_id=FLOW, max_active_requests=1)
    with pytest.raises(KaleyraTransientError, match=r"1 of 2 batch\(es\) \(100 numbers\) are accepted"):
        op.execute(context(store=store))
    record = op.execute(context(store=store))  # what Airflow's retry does, with the same stored state
    sent = [form["to"][0].split(",") for form in fake.forms()]
    assert [len(s) for s in sent] == [100, 50, 50]
    assert record["numbers"] == numbers
    assert record["batches_reused"] == 1


def test_api_key_never_in_logs_errors_or_xcom(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    record, _ = run(monkeypatch, answer(200, ACCEPTED))
    with pytest.raises(KaleyraPermanentError) as info:
        run(monkeypatch, answer(401, {"code": "RBC001", "message": "Incorrect SID or API Key", "data": []}))
    logs = all_logs(caplog, capsys)
    assert "Kaleyra accepted flow" in logs  # the logs were captured
    assert "batch 1/1, 1 numbers accepted, 0 rejected" in logs
    for text in (logs, json.dumps(record), str(info.value)):
        assert SECRET_KEY not in text


def test_template_fields_cover_the_dag_parameters() -> None:
    fields = set(KaleyraOutboundCallOperator.template_fields)
    assert {"to", "bridge", "flow_id", "custom", "callback", "dlrurl", "kaleyra_conn_id"} <= fields
