"""KaleyraCallNotifier: templating, what is sent, failures both ways, the async path.

Kaleyra is faked at the transport: a requests adapter (sync) and an httpx mock
transport (async); everything above them (hooks, wire, validation) is the real code.
"""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import httpx
import pendulum
import pytest
import requests
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra._compat import AIRFLOW_RELEASE, HAS_DEADLINE_ALERTS, NOTIFIER_EXCEPTIONS_PROPAGATE
from airflow_provider_kaleyra.exceptions import (
    KaleyraInputError,
    KaleyraOutcomeUnknownError,
    KaleyraPermanentError,
    KaleyraTransientError,
)
from airflow_provider_kaleyra.notifications.kaleyra import (
    KaleyraCallNotifier,
    notification_correlation_token,
    send_kaleyra_call,
)

from .fakes import ACCEPTED, IVR_NOT_FOUND, SECRET_KEY, FakeKaleyra, answer

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.usefixtures("kaleyra_conn")

ON_CALL = "+918830907001"
FLOW = "SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb"
BRIDGE = "+6531651234"


def failure_context(task_id: str = "load", try_number: int = 1) -> dict[str, Any]:
    """What Airflow hands a task's on_failure_callback, as far as the notifier reads it."""
    dag = DAG(dag_id="nightly_billing", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
    ti = SimpleNamespace(
        dag_id="nightly_billing", run_id="manual__1", task_id=task_id, map_index=-1, try_number=try_number
    )
    return {"dag": dag, "ti": ti, "params": {"on_call": ON_CALL}}


def notifier(**overrides: Any) -> KaleyraCallNotifier:
    kwargs: dict[str, Any] = {
        "to": "{{ params.on_call }}",
        "flow_id": FLOW,
        "bridge": BRIDGE,
        "custom": "{{ dag.dag_id }} failed at {{ ti.task_id }}",
        **overrides,
    }
    return KaleyraCallNotifier(**kwargs)


@pytest.fixture
def kaleyra(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeKaleyra]:
    """Route every requests session to a FakeKaleyra scripted with the given answers."""

    def script(*answers: Any) -> FakeKaleyra:
        fake = FakeKaleyra(*answers)
        monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: fake)
        return fake

    return script


def all_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    if AIRFLOW_RELEASE < (3, 1):  # stdlib logging: caplog has each record, Airflow's console handler repeats it
        return caplog.text
    return caplog.text + captured.out + captured.err


def run_raising(instance: KaleyraCallNotifier, context: dict[str, Any]) -> None:
    """Run the notifier so that what ``raise_on_failure`` raises reaches the test.

    Airflow 3.1+ passes it on from the callback; 2.11 and 3.0 log it and carry on
    (``test_before_3_1_a_raised_failure_is_logged_by_airflow``), so there the test runs
    the callback's two steps itself.
    """
    if NOTIFIER_EXCEPTIONS_PROPAGATE:
        instance(context)
    else:
        instance.render_template_fields(context)
        instance.notify(context)


#: Airflow 3.1+ awaits a notifier (Deadline Alerts' AsyncCallback); 2.11 and 3.0 never do.
needs_async_callbacks = pytest.mark.skipif(
    not HAS_DEADLINE_ALERTS, reason="Airflow < 3.1 has no Deadline Alerts and never awaits a notifier"
)


# --------------------------------------------------------------------------- shape


def test_lowercase_alias_and_keyword_only_constructor() -> None:
    assert send_kaleyra_call is KaleyraCallNotifier
    with pytest.raises(TypeError):
        KaleyraCallNotifier(ON_CALL, FLOW, BRIDGE)  # type: ignore[misc]


def test_template_fields() -> None:
    assert set(KaleyraCallNotifier.template_fields) == {
        "to",
        "flow_id",
        "message",
        "language",
        "speed",
        "bridge",
        "custom",
        "prefix",
        "kaleyra_conn_id",
    }


# --------------------------------------------------------------------------- sync


def test_sends_the_rendered_fields_once(kaleyra: Callable[..., FakeKaleyra]) -> None:
    fake = kaleyra(answer(200, ACCEPTED))
    context = failure_context()
    notifier(retry=2)(context)
    [form] = fake.forms()
    assert form["to"] == [ON_CALL]
    assert form["bridge"] == [BRIDGE]
    assert json.loads(form["target"][0]) == [{"ivr": [FLOW]}]
    assert form["retry"] == ["2"]
    assert json.loads(form["custom"][0]) == {
        "text": "nightly_billing failed at load",
        wire.CORRELATION_KEY: notification_correlation_token(context),
    }
    [request] = fake.requests
    assert request.url == "https://api.ap.kaleyra.io/v1/HXIN169510844XXX/voice/outbound"
    assert request.headers["api-key"] == SECRET_KEY


def test_a_mapping_custom_is_rendered_value_by_value(kaleyra: Callable[..., FakeKaleyra]) -> None:
    fake = kaleyra(answer(200, ACCEPTED))
    notifier(custom={"dag": "{{ dag.dag_id }}", "task": "{{ ti.task_id }}"})(failure_context())
    custom = json.loads(fake.forms()[0]["custom"][0])
    assert (custom["dag"], custom["task"]) == ("nightly_billing", "load")


def test_one_notifier_renders_afresh_for_every_callback(kaleyra: Callable[..., FakeKaleyra]) -> None:
    """Rendering is in place, and default_args share one notifier between tasks."""
    fake = kaleyra(answer(200, ACCEPTED), answer(200, ACCEPTED))
    shared = notifier(kaleyra_conn_id="{{ params.conn }}")
    first, second = failure_context("extract"), failure_context("load")
    first["params"]["conn"] = second["params"]["conn"] = "kaleyra_default"
    shared(first)
    shared(second)
    texts = [json.loads(form["custom"][0])["text"] for form in fake.forms()]
    assert texts == ["nightly_billing failed at extract", "nightly_billing failed at load"]
    assert shared.kaleyra_conn_id == "kaleyra_default"


def test_refusal_is_logged_with_code_and_message_and_not_raised(
    kaleyra: Callable[..., FakeKaleyra], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = kaleyra(answer(400, IVR_NOT_FOUND))
    notifier()(failure_context())  # returns: the callback machinery carries on
    assert len(fake.requests) == 1
    logs = all_logs(caplog, capsys)
    line = next(line for line in logs.splitlines() if "was not placed" in line)
    # Kaleyra's code, message and HTTP status, each said once.
    assert "was not placed: Kaleyra refused to trigger flow" in line
    assert "RBC3115 'IVR not found' (HTTP 400; " in line
    assert line.count("IVR not found") == 1
    assert "scalar" not in line
    assert SECRET_KEY not in logs


def test_refusal_is_raised_when_asked(kaleyra: Callable[..., FakeKaleyra]) -> None:
    kaleyra(answer(400, IVR_NOT_FOUND))
    with pytest.raises(KaleyraPermanentError, match="RBC3115") as raised:
        run_raising(notifier(raise_on_failure=True), failure_context())
    assert raised.value.code == wire.IVR_NOT_FOUND
    assert SECRET_KEY not in str(raised.value)


@pytest.mark.skipif(NOTIFIER_EXCEPTIONS_PROPAGATE, reason="Airflow 3.1+ passes the exception on")
def test_before_3_1_a_raised_failure_is_logged_by_airflow(
    kaleyra: Callable[..., FakeKaleyra], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = kaleyra(answer(400, IVR_NOT_FOUND))
    notifier(raise_on_failure=True)(failure_context())  # Airflow's BaseNotifier catches it
    assert len(fake.requests) == 1
    logs = all_logs(caplog, capsys)
    assert f"was not placed: Kaleyra refused to trigger flow {FLOW}: RBC3115 'IVR not found'" in logs
    assert "Failed to send notification" in logs


def test_bad_input_is_reported_before_anything_is_sent(
    kaleyra: Callable[..., FakeKaleyra], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = kaleyra()
    bad = notifier(to="12345")
    bad(failure_context())
    assert "to='12345': not a phone number" in all_logs(caplog, capsys)
    with pytest.raises(KaleyraInputError, match="to='12345'"):
        run_raising(notifier(to="12345", raise_on_failure=True), failure_context())
    assert fake.requests == []


def test_unreachable_kaleyra_is_a_transient_failure(
    kaleyra: Callable[..., FakeKaleyra], monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib3.exceptions import NewConnectionError

    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

    monkeypatch.setattr(  # the backoff between tries is not waited for here
        KaleyraCallNotifier, "hook", property(lambda self: KaleyraHook(self.kaleyra_conn_id, sleep=lambda s: None))
    )
    refused = requests.ConnectionError(NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    fake = kaleyra(*[refused] * 4)
    with pytest.raises(KaleyraTransientError, match="Could not reach Kaleyra") as raised:
        run_raising(notifier(raise_on_failure=True), failure_context())
    assert not isinstance(raised.value, KaleyraOutcomeUnknownError)
    assert len(fake.requests) == 4


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(answer(503, "<html>down</html>"), id="503"),
        pytest.param(answer(200, {"code": "RBC3008", "message": "Queued", "data": {}, "error": {}}), id="200-RBC3008"),
    ],
)
def test_an_answer_that_does_not_say_is_an_unknown_outcome_sent_once(
    kaleyra: Callable[..., FakeKaleyra], reply: tuple[int, bytes, dict]
) -> None:
    fake = kaleyra(reply, answer(200, ACCEPTED))
    with pytest.raises(KaleyraOutcomeUnknownError):
        run_raising(notifier(raise_on_failure=True), failure_context())
    assert len(fake.requests) == 1  # the on-call person is not rung twice


def test_an_unknown_outcome_is_not_logged_as_a_call_not_placed(
    kaleyra: Callable[..., FakeKaleyra], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    kaleyra(answer(200, {"code": "RBC3008", "message": "Queued", "data": {}, "error": {}}))
    notifier()(failure_context())
    logs = all_logs(caplog, capsys)
    assert f"Kaleyra call notification to {ON_CALL} may have been placed" in logs
    assert "RBC3008 'Queued' (HTTP 200; " in logs
    assert "was not placed" not in logs


def test_a_missing_connection_is_logged_not_raised(
    kaleyra: Callable[..., FakeKaleyra], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = kaleyra()
    notifier(kaleyra_conn_id="no_such_connection")(failure_context())
    # The look-up error itself differs by Airflow version and process (task, DAG processor).
    assert f"Kaleyra call notification to {ON_CALL} was not placed" in all_logs(caplog, capsys)
    assert fake.requests == []


def test_tokens_differ_between_tries_tasks_and_deadlines() -> None:
    tokens = {
        notification_correlation_token(failure_context("load", 1)),
        notification_correlation_token(failure_context("load", 2)),
        notification_correlation_token(failure_context("extract", 1)),
        notification_correlation_token({"dag_run": {"dag_id": "d", "run_id": "r"}, "deadline": {"id": "1"}}),
        notification_correlation_token({"dag": SimpleNamespace(dag_id="d"), "run_id": "r1"}),
        notification_correlation_token({"dag": SimpleNamespace(dag_id="d"), "run_id": "r2"}),
    }
    assert len(tokens) == 6


# --------------------------------------------------------------------------- async


@pytest.fixture
def kaleyra_async(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[httpx.Request]]:
    """Give every httpx.AsyncClient a mock transport answering with the scripted replies."""

    def script(*replies: tuple[int, dict[str, Any]]) -> list[httpx.Request]:
        seen: list[httpx.Request] = []
        queue = list(replies)

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            status, body = queue.pop(0)
            return httpx.Response(status, json=body)

        original = httpx.AsyncClient.__init__

        def init(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
            original(self, *args, transport=httpx.MockTransport(handler), **kwargs)

        monkeypatch.setattr(httpx.AsyncClient, "__init__", init)
        return seen

    return script


async def awaited(instance: KaleyraCallNotifier) -> None:
    await instance


def deadline_context() -> dict[str, Any]:
    """The context a Deadline Alert callback gets: the dag run as a dict and the deadline."""
    return {
        "dag_run": {"dag_id": "nightly_billing", "run_id": "scheduled__2026-01-01"},
        "deadline": {"id": "7f1c", "deadline_time": "2026-01-01T02:00:00+00:00"},
    }


@needs_async_callbacks
def test_async_sends_the_rendered_fields(kaleyra_async: Callable[..., list[httpx.Request]]) -> None:
    seen = kaleyra_async((200, ACCEPTED))
    instance = notifier(
        to=ON_CALL,
        custom="{{ dag_run.dag_id }} missed its deadline",
        context=deadline_context(),
    )
    asyncio.run(awaited(instance))
    [request] = seen
    form = parse_qs(request.content.decode())
    assert form["to"] == [ON_CALL]
    assert json.loads(form["custom"][0]) == {
        "text": "nightly_billing missed its deadline",
        wire.CORRELATION_KEY: notification_correlation_token(deadline_context()),
    }
    assert request.headers["api-key"] == SECRET_KEY


@needs_async_callbacks
def test_async_and_sync_send_the_same_form(
    kaleyra: Callable[..., FakeKaleyra], kaleyra_async: Callable[..., list[httpx.Request]]
) -> None:
    fake = kaleyra(answer(200, ACCEPTED))
    seen = kaleyra_async((200, ACCEPTED))
    notifier()(failure_context())
    async_instance = notifier(context=failure_context())
    asyncio.run(awaited(async_instance))
    assert parse_qs(seen[0].content.decode()) == fake.forms()[0]


@needs_async_callbacks
def test_async_refusal_logged_not_raised(
    kaleyra_async: Callable[..., list[httpx.Request]],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kaleyra_async((400, IVR_NOT_FOUND))
    asyncio.run(awaited(notifier(to=ON_CALL, custom=None, context=deadline_context())))
    logs = all_logs(caplog, capsys)
    assert "RBC3115 'IVR not found' (HTTP 400; " in logs
    assert SECRET_KEY not in logs


@needs_async_callbacks
def test_async_refusal_raised_when_asked(kaleyra_async: Callable[..., list[httpx.Request]]) -> None:
    kaleyra_async((400, IVR_NOT_FOUND))
    instance = notifier(to=ON_CALL, custom=None, raise_on_failure=True, context=deadline_context())
    with pytest.raises(KaleyraPermanentError, match="RBC3115"):
        asyncio.run(awaited(instance))


@needs_async_callbacks
def test_accepted_as_a_deadline_alert_callback_and_serialised() -> None:
    import datetime as dt

    from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference

    try:  # Airflow 3.3
        from airflow.serialization.serialized_objects import DagSerialization as Serializer
    except ImportError:  # Airflow 3.1
        from airflow.serialization.serialized_objects import SerializedDAG as Serializer  # type: ignore[no-redef]

    kwargs = {"to": ON_CALL, "bridge": BRIDGE, "flow_id": FLOW, "custom": "{{ dag_run.dag_id }} is late"}
    dag = DAG(
        dag_id="late",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=dt.timedelta(hours=2),
            callback=AsyncCallback(KaleyraCallNotifier, kwargs=kwargs),
        ),
    )
    serialised = json.dumps(Serializer.to_dict(dag))
    assert "airflow_provider_kaleyra.notifications.kaleyra.KaleyraCallNotifier" in serialised
    assert "{{ dag_run.dag_id }} is late" in serialised


def test_wrong_credentials_are_logged_in_one_line_that_says_kaleyras_words_once(
    kaleyra: Callable[..., FakeKaleyra], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    words = "Incorrect SID or API Key"
    kaleyra(answer(401, {"code": "RBC001", "message": words, "data": [], "error": {"scalar": words}}))
    notifier()(failure_context())
    [line] = [line for line in all_logs(caplog, capsys).splitlines() if "was not placed" in line]
    # Before: "code=RBC001 message=Incorrect SID or API Key http_status=401: Kaleyra refused to trigger
    # flow ...: RBC001 'Incorrect SID or API Key' (HTTP 401; incorrect SID or API key): scalar: Incorrect
    # SID or API Key"
    assert f"was not placed: Kaleyra refused to trigger flow {FLOW}: RBC001 '{words}' (HTTP 401) [sent: " in line
    assert line.casefold().count(words.casefold()) == 1
