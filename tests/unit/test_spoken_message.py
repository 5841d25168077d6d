"""Text-to-speech calls: exactly one of a flow and a spoken message, checked before sending."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from airflow_provider_kaleyra import campaign, validation, wire
from airflow_provider_kaleyra.exceptions import KaleyraInputError
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
from airflow_provider_kaleyra.notifications.kaleyra import KaleyraCallNotifier
from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator
from airflow_provider_kaleyra.simulator import DEFAULT_API_KEY, DEFAULT_BRIDGE, DEFAULT_SID, KaleyraSimulator

from .fakes import ACCEPTED, FakeKaleyra, FakeTaskStateStore, answer, install

pytest_plugins = ["airflow_provider_kaleyra.simulator.pytest_plugin"]

BRIDGE = "+13236789001"
TEXT = "nightly_billing failed at load"


def spoken_calls(**kwargs: Any) -> list[wire.OutboundCall]:
    params = {"to": "+918830907001", "bridge": BRIDGE, "message": TEXT, **kwargs}
    return validation.outbound_calls(**params)[0]


# --------------------------------------------------------------------------- validation


def test_a_message_makes_a_spoken_call_with_the_defaults() -> None:
    [call] = spoken_calls()
    assert call.flow_id == ""
    assert call.message == wire.SpokenMessage(TEXT, "en-US", "medium")


def test_language_and_speed_are_normalised() -> None:
    [call] = spoken_calls(language="hi_in", speed=" Slow ")
    assert call.message == wire.SpokenMessage(TEXT, "hi-IN", "slow")


@pytest.mark.parametrize(
    ("overrides", "parameter", "problem"),
    [
        ({"message": None}, "flow_id", "a Flow ID from Flow Builder is required, or a message to speak"),
        ({"flow_id": "SG_flow"}, "flow_id", "not both"),
        ({"message": ""}, "message", "the text to speak is empty"),
        ({"message": "   \n "}, "message", "the text to speak is empty"),
        ({"message": 42}, "message", "the text to speak, as a string"),
        ({"message": "x" * (wire.MAX_SPOKEN_TEXT_CHARS + 1)}, "message", "1001 characters; at most 1000"),
        ({"speed": "warp"}, "speed", "expected one of slow, medium, fast"),
        ({"language": "english"}, "language", "a language and region such as en-US"),
        ({"language": "en"}, "language", "a language and region such as en-US"),
        ({"language": 7}, "language", "a language and region"),
    ],
)
def test_bad_spoken_input_is_named(overrides: dict[str, Any], parameter: str, problem: str) -> None:
    with pytest.raises(KaleyraInputError) as info:
        spoken_calls(**overrides)
    assert info.value.parameter == parameter
    assert problem in str(info.value)
    assert f"{parameter}=" in str(info.value)


def test_the_longest_text_is_accepted() -> None:
    [call] = spoken_calls(message="x" * wire.MAX_SPOKEN_TEXT_CHARS)
    assert call.message is not None
    assert len(call.message.text) == wire.MAX_SPOKEN_TEXT_CHARS


def test_an_empty_message_beside_a_flow_is_a_flow_call() -> None:
    # A templated message that renders empty while the flow is set: the flow is meant.
    [call] = spoken_calls(flow_id="SG_flow", message="")
    assert (call.flow_id, call.message) == ("SG_flow", None)


# --------------------------------------------------------------------------- the wire


def test_the_form_carries_the_message_target() -> None:
    [call] = spoken_calls(language="en-IN", speed="fast")
    form = wire.encode_outbound_form(call)
    assert json.loads(form["target"]) == [{"message": {"text": TEXT, "language": "en-IN", "speed": "fast"}}]
    assert wire.decode_message_target(form["target"]) == call.message
    assert wire.redacted_summary(form) == f"to=[+918830907001] bridge={BRIDGE} message='nightly_billing failed at load'"


def test_a_flow_target_is_not_a_message() -> None:
    assert wire.decode_message_target(wire.encode_target("SG_flow")) is None
    assert wire.decode_message_target("SG_flow") is None


def test_long_texts_are_shortened_in_descriptions() -> None:
    [call] = spoken_calls(message="a" * 100)
    assert wire.describe_target(call) == f"spoken message '{'a' * 37}...'"


def test_the_campaign_fingerprint_includes_the_message() -> None:
    one, other = spoken_calls(), spoken_calls(message="something else")
    slower = spoken_calls(speed="slow")
    assert len({campaign.fingerprint(one), campaign.fingerprint(other), campaign.fingerprint(slower)}) == 3
    flow = validation.outbound_calls(to="+918830907001", bridge=BRIDGE, flow_id="SG_flow")[0]
    assert campaign.fingerprint(flow) != campaign.fingerprint(one)


# --------------------------------------------------------------------------- operator and notifier


def context() -> dict[str, Any]:
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        dag_id="d",
        run_id="r",
        task_id="call",
        map_index=-1,
        try_number=1,
        pushed=pushed,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )
    return {"ti": ti, "task_state_store": FakeTaskStateStore()}


def test_the_operator_sends_the_message_and_records_it(monkeypatch: pytest.MonkeyPatch, kaleyra_conn: str) -> None:
    fake = FakeKaleyra(answer(200, ACCEPTED))

    def hook(self: Any) -> KaleyraHook:
        made = KaleyraHook(sleep=lambda seconds: None)
        install(made, fake)
        return made

    monkeypatch.setattr(KaleyraOutboundCallOperator, "hook", property(hook))
    operator = KaleyraOutboundCallOperator(task_id="call", to="+918830907001", bridge=BRIDGE, message=TEXT)
    record = operator.execute(context())
    assert record["flow_id"] == ""
    assert record["spoken"] == {"text": TEXT, "language": "en-US", "speed": "medium"}
    [form] = fake.forms()
    assert json.loads(form["target"][0]) == [{"message": record["spoken"]}]


@pytest.mark.parametrize("cls", [KaleyraOutboundCallOperator, KaleyraCallNotifier])
def test_neither_or_both_fail_when_the_dag_is_parsed(cls: Any) -> None:
    extra = {"task_id": "t"} if cls is KaleyraOutboundCallOperator else {}
    with pytest.raises(KaleyraInputError, match="flow_id=None"):
        cls(to="+918830907001", bridge=BRIDGE, **extra)
    with pytest.raises(KaleyraInputError, match="not both"):
        cls(to="+918830907001", bridge=BRIDGE, flow_id="SG_flow", message=TEXT, **extra)


def test_operator_and_notifier_template_the_message() -> None:
    for cls in (KaleyraOutboundCallOperator, KaleyraCallNotifier):
        assert {"message", "language", "speed"} <= set(cls.template_fields)


# --------------------------------------------------------------------------- the simulator


def post(sim: KaleyraSimulator, target: str) -> requests.Response:
    return requests.post(
        wire.outbound_url(sim.url, DEFAULT_SID),
        data={"to": "+918830907001", "bridge": DEFAULT_BRIDGE, "target": target},
        headers={"api-key": DEFAULT_API_KEY},
        timeout=10,
    )


def test_the_simulator_accepts_and_records_a_spoken_message(kaleyra_simulator: KaleyraSimulator) -> None:
    spoken = wire.SpokenMessage(TEXT, "en-US", "slow")
    response = post(kaleyra_simulator, wire.encode_message_target(spoken))
    assert response.json()["code"] == wire.OUTBOUND_ACCEPTED
    assert response.json()["data"]["target"] == [{"message": spoken.as_dict()}]
    [dial] = kaleyra_simulator.ledger()
    assert dial["spoken"] == spoken.as_dict()
    assert dial["flow_id"] == ""


@pytest.mark.parametrize(
    ("spoken", "problem"),
    [
        ({"text": " "}, "the message text is empty"),
        ({"text": "hi", "speed": "warp"}, "unknown message speed 'warp'"),
        ({"text": "hi", "language": "klingon"}, "unknown message language 'klingon'"),
        ({"text": "x" * 1001}, "at most 1000"),
    ],
)
def test_the_simulator_refuses_a_bad_message(
    kaleyra_simulator: KaleyraSimulator, spoken: dict[str, str], problem: str
) -> None:
    response = post(kaleyra_simulator, json.dumps([{"message": spoken}]))
    assert response.json()["code"] == wire.INVALID_PARAMETER
    assert problem in response.json()["error"]["target"]
    assert kaleyra_simulator.ledger() == []


def test_a_failed_spoken_call_is_named_as_such() -> None:
    from airflow_provider_kaleyra import outcomes

    result = {"flow_id": "", "bridge": BRIDGE, "calls": [{"number": "+918830907001", "status": "NOANSWER"}]}
    error = outcomes.failure_for(result, outcomes.OutcomePolicy.build())
    assert error is not None
    assert f"1 of 1 calls of the spoken message from bridge {BRIDGE} failed" in str(error)
