"""Each simulator fault over real HTTP, seen through KaleyraHook and the admin API."""

from __future__ import annotations

import json

import pytest
import requests

from airflow_provider_kaleyra.exceptions import KaleyraOutcomeUnknownError
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
from airflow_provider_kaleyra.retry import RetryPolicy
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE, KaleyraSimulator

NUMBER = "+918830907001"


def hook(**retry: float) -> KaleyraHook:
    policy = RetryPolicy(**retry) if retry else RetryPolicy(max_attempts=1)
    return KaleyraHook(retry_policy=policy, sleep=lambda _: None)


def trigger(h: KaleyraHook) -> object:
    return h.trigger_outbound_flow(NUMBER, SECOND_BRIDGE, DEFAULT_FLOW_ID)


def test_drop_dials_and_never_answers(kaleyra_connection: KaleyraSimulator) -> None:
    kaleyra_connection.inject_fault("drop")
    with pytest.raises(KaleyraOutcomeUnknownError, match="No answer from Kaleyra"):
        trigger(hook())
    assert kaleyra_connection.dials_to(NUMBER) == 1  # the ledger saw it, the client did not
    trigger(hook())  # the fault was for one request only
    assert kaleyra_connection.dials_to(NUMBER) == 2


def test_slow_answer_beyond_the_read_timeout_dials(
    kaleyra_connection: KaleyraSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = kaleyra_connection.connection_dict()
    conn["extra"]["timeout"] = "0.5"
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps(conn))
    kaleyra_connection.inject_fault("slow", delay=2)
    with pytest.raises(KaleyraOutcomeUnknownError):
        trigger(hook())
    assert kaleyra_connection.dials_to(NUMBER) == 1


@pytest.mark.parametrize(
    ("kind", "status", "shown"),
    [("error", 503, "HTTP 503"), ("error", 500, "HTTP 500"), ("html", 502, "<html>"), ("empty", 503, "HTTP 503")],
)
def test_answers_that_do_not_say_are_unknown_outcomes(
    kaleyra_connection: KaleyraSimulator, kind: str, status: int, shown: str
) -> None:
    kaleyra_connection.inject_fault(kind, status=status)
    with pytest.raises(KaleyraOutcomeUnknownError, match="does not say whether it dialled") as info:
        trigger(hook())
    assert info.value.http_status == status
    assert shown in str(info.value)
    assert kaleyra_connection.dials_to(NUMBER) == 0


def test_rate_limit_sends_retry_after_and_the_hook_waits_for_it(kaleyra_connection: KaleyraSimulator) -> None:
    waits: list[float] = []
    kaleyra_connection.inject_fault("rate_limit", retry_after=7, times=2)
    h = KaleyraHook(sleep=waits.append)
    trigger(h)
    assert waits == [7.0, 7.0]
    assert kaleyra_connection.dials_to(NUMBER) == 1
    assert kaleyra_connection.faults.applied == {"rate_limit": 2}


def test_per_run_fault_applies_until_cleared(kaleyra_connection: KaleyraSimulator) -> None:
    kaleyra_connection.inject_fault("error", status=502, times=None)
    for _ in range(3):
        with pytest.raises(KaleyraOutcomeUnknownError, match="HTTP 502"):
            trigger(hook())
    kaleyra_connection.clear_faults()
    trigger(hook())
    assert kaleyra_connection.dials_to(NUMBER) == 1


def test_admin_api_sets_lists_and_clears_faults(kaleyra_simulator: KaleyraSimulator) -> None:
    url = kaleyra_simulator.url + "_simulator/faults"
    added = requests.post(url, json=[{"kind": "error", "status": 503, "after": 1}, {"kind": "drop"}], timeout=10)
    assert added.status_code == 200
    assert [f["kind"] for f in added.json()["faults"]] == ["error", "drop"]
    refused = requests.post(url, json={"kind": "explode"}, timeout=10)
    assert refused.status_code == 400
    assert "unknown fault 'explode'" in refused.json()["message"]
    # Admin requests are never faulted, so the ledger stays readable.
    assert requests.get(kaleyra_simulator.url + "_simulator/ledger", timeout=10).json() == []
    assert requests.delete(url, timeout=10).json() == {"faults": [], "applied": {}}
