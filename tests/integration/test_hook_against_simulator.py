"""KaleyraHook over real HTTP against the local simulator."""

from __future__ import annotations

import json

import pytest

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.exceptions import KaleyraInputError, KaleyraPermanentError
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
from airflow_provider_kaleyra.simulator import (
    DEFAULT_FLOW_ID,
    SECOND_BRIDGE,
    KaleyraSimulator,
)


def test_trigger_is_accepted_and_dials_each_number_once(kaleyra_connection: KaleyraSimulator) -> None:
    hook = KaleyraHook()
    [result] = hook.trigger_outbound_flow(
        ["+918830907001", "+918830907002"], SECOND_BRIDGE, DEFAULT_FLOW_ID, custom="hello", correlation_token="af-1"
    )
    assert (result.code, result.message) == (wire.OUTBOUND_ACCEPTED, "Submitted Successfully")
    ledger = kaleyra_connection.ledger()
    assert [d["number"] for d in ledger] == ["+918830907001", "+918830907002"]
    assert {d["flow_id"] for d in ledger} == {DEFAULT_FLOW_ID}
    assert json.loads(ledger[0]["custom"]) == {"text": "hello", wire.CORRELATION_KEY: "af-1"}
    assert ledger[0]["correlation_token"] == "af-1"


def test_unknown_flow_is_rbc3115_and_nobody_is_dialled(kaleyra_connection: KaleyraSimulator) -> None:
    with pytest.raises(KaleyraPermanentError) as info:
        KaleyraHook().trigger_outbound_flow("+918830907001", SECOND_BRIDGE, "SG_not-a-flow")
    assert info.value.code == wire.IVR_NOT_FOUND
    assert "SG_not-a-flow" in str(info.value)
    assert kaleyra_connection.ledger() == []


def test_wrong_key_is_rbc001(kaleyra_simulator: KaleyraSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = kaleyra_simulator.connection_dict()
    conn["password"] = "not-the-right-key"
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps(conn))
    with pytest.raises(KaleyraPermanentError) as info:
        KaleyraHook().trigger_outbound_flow("+918830907001", SECOND_BRIDGE, DEFAULT_FLOW_ID)
    assert info.value.code == wire.BAD_CREDENTIALS
    assert "not-the-right-key" not in str(info.value)
    ok, message = KaleyraHook().test_connection()
    assert not ok
    assert "RBC001" in message
    assert kaleyra_simulator.ledger() == []


def test_bad_input_reaches_nobody(kaleyra_connection: KaleyraSimulator) -> None:
    with pytest.raises(KaleyraInputError, match="to='0044 20'"):
        KaleyraHook().trigger_outbound_flow(["+918830907001", "0044 20"], SECOND_BRIDGE, DEFAULT_FLOW_ID)
    assert kaleyra_connection.ledger() == []


def test_more_than_100_numbers_in_consecutive_requests(kaleyra_connection: KaleyraSimulator) -> None:
    numbers = [f"+9188309{i:05d}" for i in range(230)]
    results = KaleyraHook().trigger_outbound_flow(numbers, SECOND_BRIDGE, DEFAULT_FLOW_ID)
    assert [len(r.numbers) for r in results] == [100, 100, 30]
    ledger = kaleyra_connection.ledger()
    assert [d["number"] for d in ledger] == numbers
    assert len({d["request_id"] for d in ledger}) == 3


def test_test_connection_lists_numbers_and_places_no_call(kaleyra_connection: KaleyraSimulator) -> None:
    ok, message = KaleyraHook().test_connection()
    assert ok, message
    assert "can place calls" in message
    assert SECOND_BRIDGE in message
    assert kaleyra_connection.ledger() == []


def test_unreachable_kaleyra_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_kaleyra.exceptions import KaleyraTransientError
    from airflow_provider_kaleyra.retry import RetryPolicy

    with KaleyraSimulator() as gone:
        conn = gone.connection_dict()
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps(conn))  # nothing listens there now
    hook = KaleyraHook(retry_policy=RetryPolicy(max_attempts=2, initial_backoff=0.01))
    with pytest.raises(KaleyraTransientError, match=r"Could not reach Kaleyra .* after 2 tries"):
        hook.trigger_outbound_flow("+918830907001", SECOND_BRIDGE, DEFAULT_FLOW_ID)
