"""Simulated calls: their lifecycle, the scripted outcomes, and the call-logs endpoint."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_kaleyra import call_logs, wire
from airflow_provider_kaleyra.simulator import (
    DEFAULT_API_KEY,
    DEFAULT_FLOW_ID,
    DEFAULT_SID,
    SECOND_BRIDGE,
    SECOND_FLOW_ID,
)
from airflow_provider_kaleyra.simulator.call_log_style import LISTED
from airflow_provider_kaleyra.simulator.calls import CallScript, scripted_status
from airflow_provider_kaleyra.simulator.ledger import dials_for

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

pytest_plugins = ["airflow_provider_kaleyra.simulator.pytest_plugin"]
TIMEOUT = 10
HEADERS = {"api-key": DEFAULT_API_KEY}


def dial(sim: KaleyraSimulator, numbers: list[str], flow: str = DEFAULT_FLOW_ID, bridge: str = SECOND_BRIDGE) -> None:
    form = {"to": ",".join(numbers), "bridge": bridge, "target": wire.encode_target(flow)}
    response = requests.post(f"{sim.url}v1/{DEFAULT_SID}/voice/outbound", data=form, headers=HEADERS, timeout=TIMEOUT)
    assert response.json()["code"] == wire.OUTBOUND_ACCEPTED


def logs(sim: KaleyraSimulator, limit: int | None = None, **params: Any) -> dict[str, Any]:
    headers = {**HEADERS, **({"limit": str(limit)} if limit else {})}
    response = requests.get(
        f"{sim.url}v1/{DEFAULT_SID}/voice/call-logs", params=params, headers=headers, timeout=TIMEOUT
    )
    body = response.json()
    body["http_status"] = response.status_code
    return body


def settle(sim: KaleyraSimulator) -> None:
    time.sleep(sim.state.calls.queue_seconds + sim.state.calls.ring_seconds + 0.05)


@pytest.mark.parametrize(
    ("number", "status"),
    [
        ("+918830907001", "ANSWER"),
        ("+918830907090", "BUSY"),
        ("+918830907091", "NOANSWER"),
        ("+918830907092", "REJECTED"),
        ("+918830907093", "CANCEL"),
        ("+918830907094", "MAXUSE"),
        ("+918830907095", "QUEUE_TIMEOUT"),
        ("+918830907096", "FAILED"),
        ("+918830907097", "NOROUTE"),
        ("+918830907098", "BRIDGE_UNAVAILABLE"),
        ("+918830907099", None),
    ],
)
def test_the_documented_rule_on_the_last_two_digits(number: str, status: str | None) -> None:
    assert scripted_status(number, {}) == status


def test_a_mapping_beats_the_rule() -> None:
    assert scripted_status("918830907090", {"+918830907090": "ANSWER"}) == "ANSWER"


def test_lifecycle_queued_ringing_final() -> None:
    script = CallScript(queue_seconds=1, ring_seconds=2, flow_outcomes={"SG_paused": "FLOW_PAUSED"})
    accepted = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    [answered] = dials_for(sid="S", numbers=["+918830907001"], flow_id="SG_ok", bridge="+1", form={}, now=accepted)
    [paused] = dials_for(sid="S", numbers=["+918830907001"], flow_id="SG_paused", bridge="+1", form={}, now=accepted)
    at = [accepted + dt.timedelta(seconds=s) for s in (0.5, 1.5, 3.5)]
    assert [script.state(answered, t).status for t in at] == ["QUEUED", "RINGING", "ANSWER"]
    assert script.state(answered, at[2]).duration == 23
    assert [script.state(paused, t).status for t in at] == ["QUEUED", "RINGING", "FLOW_PAUSED"]


def test_call_logs_show_live_then_final_statuses(kaleyra_simulator: KaleyraSimulator) -> None:
    dial(kaleyra_simulator, ["+918830907001", "+918830907090"])
    body = logs(kaleyra_simulator)
    assert (body["http_status"], body["code"]) == (200, LISTED)
    assert {c["status"] for c in body["data"]["calls"]} <= {"QUEUED", "RINGING"}
    settle(kaleyra_simulator)
    calls = logs(kaleyra_simulator)["data"]["calls"]
    assert [(c["to"], c["status"]) for c in calls] == [("+918830907001", "ANSWER"), ("+918830907090", "BUSY")]
    ledger = kaleyra_simulator.ledger()
    assert [c["id"] for c in calls] == [d["call_id"] for d in ledger]


def test_call_logs_filter_by_bridge_status_call_id_and_time(kaleyra_simulator: KaleyraSimulator) -> None:
    dial(kaleyra_simulator, ["+918830907001", "+918830907090"])
    dial(kaleyra_simulator, ["+918830907002"], flow=SECOND_FLOW_ID, bridge="+13236789XXX")
    settle(kaleyra_simulator)
    assert logs(kaleyra_simulator, bridge=SECOND_BRIDGE)["data"]["total"] == 2
    assert [c["to"] for c in logs(kaleyra_simulator, status="BUSY")["data"]["calls"]] == ["+918830907090"]
    call_id = kaleyra_simulator.ledger()[2]["call_id"]
    assert [c["to"] for c in logs(kaleyra_simulator, call_id=call_id)["data"]["calls"]] == ["+918830907002"]
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)).isoformat()
    assert logs(kaleyra_simulator, start_time=later)["data"]["total"] == 0
    earlier = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat()
    assert logs(kaleyra_simulator, end_time=earlier)["data"]["total"] == 0
    assert logs(kaleyra_simulator, start_time=earlier)["data"]["total"] == 3


def test_call_logs_page_with_the_limit_header_page_and_offset(kaleyra_simulator: KaleyraSimulator) -> None:
    numbers = [f"+9188309070{i:02d}" for i in range(7)]
    dial(kaleyra_simulator, numbers)
    pages = [logs(kaleyra_simulator, limit=3, page=p)["data"] for p in (1, 2, 3)]
    assert [[c["to"] for c in p["calls"]] for p in pages] == [numbers[:3], numbers[3:6], numbers[6:]]
    assert {p["total"] for p in pages} == {7}
    assert [c["to"] for c in logs(kaleyra_simulator, limit=2, offset=5)["data"]["calls"]] == numbers[5:7]


@pytest.mark.parametrize(
    ("limit", "params", "field"),
    [(None, {"start_time": "yesterday"}, "start_time"), (None, {"page": "0"}, "page"), ("many", {}, "limit")],
)
def test_bad_call_log_parameters_are_rbc3001(
    kaleyra_simulator: KaleyraSimulator, limit: str | None, params: dict, field: str
) -> None:
    headers = {**HEADERS, **({"limit": limit} if limit else {})}
    response = requests.get(
        f"{kaleyra_simulator.url}v1/{DEFAULT_SID}/voice/call-logs", params=params, headers=headers, timeout=TIMEOUT
    )
    assert response.json()["code"] == wire.INVALID_PARAMETER
    assert field in response.json()["error"]


def test_call_logs_need_credentials(kaleyra_simulator: KaleyraSimulator) -> None:
    response = requests.get(
        f"{kaleyra_simulator.url}v1/{DEFAULT_SID}/voice/call-logs", headers={"api-key": "nope-nope"}, timeout=TIMEOUT
    )
    assert response.json()["code"] == wire.BAD_CREDENTIALS


def test_outcomes_scripted_over_the_admin_api_and_reset(kaleyra_simulator: KaleyraSimulator) -> None:
    url = f"{kaleyra_simulator.url}_simulator/outcomes"
    body = {"numbers": {"+918830907001": "noanswer"}, "flows": {DEFAULT_FLOW_ID: "FLOW_UNREACHABLE"}}
    script = requests.post(url, json=body, timeout=TIMEOUT).json()
    assert script["numbers"] == {"+918830907001": "NOANSWER"}
    assert script["flows"] == {DEFAULT_FLOW_ID: "FLOW_UNREACHABLE"}
    dial(kaleyra_simulator, ["+918830907001"])
    dial(kaleyra_simulator, ["+918830907001"], flow=SECOND_FLOW_ID)
    settle(kaleyra_simulator)
    calls = requests.get(f"{kaleyra_simulator.url}_simulator/calls", timeout=TIMEOUT).json()
    assert [c["status"] for c in calls] == ["FLOW_UNREACHABLE", "NOANSWER"]
    assert requests.post(url, json={"numbers": ["x"]}, timeout=TIMEOUT).status_code == 400
    kaleyra_simulator.reset()
    assert requests.get(url, timeout=TIMEOUT).json()["numbers"] == {}


def test_outcomes_given_at_start_up() -> None:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

    with KaleyraSimulator(outcomes={"+918830907001": "BUSY"}, queue_seconds=0, ring_seconds=0) as sim:
        dial(sim, ["+918830907001"])
        assert [c["status"] for c in sim.calls()] == ["BUSY"]


# ---------------------------------------------------------------- call-log request forms


def logs_with_body(
    sim: KaleyraSimulator, method: str, body: dict[str, str] | str, **params: str
) -> dict[str, Any]:
    response = requests.request(
        method,
        call_logs.call_logs_url(sim.url, DEFAULT_SID),
        params=params,
        data=body,
        headers={**HEADERS, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()


def dial_three(sim: KaleyraSimulator) -> None:
    dial(sim, ["+918830907001", "+918830907090"])
    dial(sim, ["+918830907002"], flow=SECOND_FLOW_ID, bridge="+13236789XXX")
    settle(sim)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_call_log_filters_from_a_form_body(kaleyra_simulator: KaleyraSimulator, method: str) -> None:
    dial_three(kaleyra_simulator)
    call_id = kaleyra_simulator.ledger()[2]["call_id"]

    by_bridge = logs_with_body(kaleyra_simulator, method, {"bridge": "+13236789XXX"})
    by_status = logs_with_body(kaleyra_simulator, method, {"status": "BUSY"})
    by_call_id = logs_with_body(kaleyra_simulator, method, {"call_id": call_id})
    second_page = logs_with_body(kaleyra_simulator, method, {"page": "2", "bridge": SECOND_BRIDGE[1:]})

    assert [c["to"] for c in by_bridge["data"]["calls"]] == ["+918830907002"]
    assert [c["to"] for c in by_status["data"]["calls"]] == ["+918830907090"]
    assert [c["id"] for c in by_call_id["data"]["calls"]] == [call_id]
    assert (second_page["data"]["page"], second_page["data"]["total"], second_page["data"]["calls"]) == (2, 2, [])


def test_call_log_form_body_keeps_a_literal_plus_in_the_bridge(kaleyra_simulator: KaleyraSimulator) -> None:
    dial_three(kaleyra_simulator)

    body = logs_with_body(kaleyra_simulator, "POST", f"bridge={SECOND_BRIDGE}")  # curl -d style: "+" unencoded

    assert body["data"]["total"] == 2


def test_call_log_query_string_wins_over_the_body(kaleyra_simulator: KaleyraSimulator) -> None:
    dial_three(kaleyra_simulator)

    body = logs_with_body(kaleyra_simulator, "POST", {"status": "BUSY", "bridge": SECOND_BRIDGE}, status="ANSWER")

    assert [c["to"] for c in body["data"]["calls"]] == ["+918830907001"]


def test_call_log_body_that_cannot_be_read_is_rbc3001(kaleyra_simulator: KaleyraSimulator) -> None:
    response = requests.post(
        call_logs.call_logs_url(kaleyra_simulator.url, DEFAULT_SID), data=b"\xff\xfe", headers=HEADERS, timeout=TIMEOUT
    )

    assert response.json()["code"] == wire.INVALID_PARAMETER
    assert "body" in response.json()["error"]


def test_call_log_times_as_epoch_seconds(kaleyra_simulator: KaleyraSimulator) -> None:
    dial_three(kaleyra_simulator)
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    earlier, later = str(int(now - 60)), str(int(now + 60))

    assert logs(kaleyra_simulator, start_time=earlier)["data"]["total"] == 3
    assert logs(kaleyra_simulator, start_time=later)["data"]["total"] == 0
    assert logs(kaleyra_simulator, end_time=earlier)["data"]["total"] == 0
    assert logs(kaleyra_simulator, start_time=f"{now - 60:.3f}", end_time=later)["data"]["total"] == 3
    assert logs_with_body(kaleyra_simulator, "POST", {"start_time": later})["data"]["total"] == 0


def test_call_log_times_without_offset_are_utc(kaleyra_simulator: KaleyraSimulator) -> None:
    dial_three(kaleyra_simulator)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

    def naive(minutes: int) -> str:
        return (now + dt.timedelta(minutes=minutes)).isoformat(timespec="seconds")

    assert logs(kaleyra_simulator, start_time=naive(-1))["data"]["total"] == 3
    assert logs(kaleyra_simulator, start_time=naive(1))["data"]["total"] == 0
    assert logs(kaleyra_simulator, end_time=naive(-1).replace("T", " "))["data"]["total"] == 0
