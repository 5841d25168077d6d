"""Faults over real HTTP: what the client is sent, and whether anybody was dialled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_kaleyra import call_logs, wire
from airflow_provider_kaleyra.simulator import DEFAULT_API_KEY, DEFAULT_FLOW_ID, DEFAULT_SID, SECOND_BRIDGE
from airflow_provider_kaleyra.simulator.faults import Fault

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

pytest_plugins = ["airflow_provider_kaleyra.simulator.pytest_plugin"]
TIMEOUT = 10
NUMBER = "+918830907001"
ECHO = {"to": NUMBER, "target": [{"ivr": [DEFAULT_FLOW_ID]}], "bridge": SECOND_BRIDGE}


def post_outbound(sim: KaleyraSimulator) -> requests.Response:
    return requests.post(
        wire.outbound_url(sim.url, DEFAULT_SID),
        data={"to": NUMBER, "bridge": SECOND_BRIDGE, "target": DEFAULT_FLOW_ID},
        headers={"api-key": DEFAULT_API_KEY},
        timeout=TIMEOUT,
    )


def check_error(response: requests.Response) -> None:
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"


def check_html(response: requests.Response) -> None:
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.text.startswith("<html>")


def check_empty(response: requests.Response) -> None:
    assert response.status_code == 502
    assert response.content == b""


def check_rate_limit(response: requests.Response) -> None:
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json()["code"] == wire.RATE_LIMITED


ANSWERS = {"error": check_error, "html": check_html, "empty": check_empty, "rate_limit": check_rate_limit}


@pytest.mark.parametrize("kind", sorted(ANSWERS))
def test_accepting_fault_dials_then_sends_its_own_answer(kaleyra_simulator: KaleyraSimulator, kind: str) -> None:
    kaleyra_simulator.inject_fault(kind, accept=True)

    response = post_outbound(kaleyra_simulator)

    ANSWERS[kind](response)
    assert kaleyra_simulator.dials_to(NUMBER) == 1
    assert kaleyra_simulator.faults.applied == {kind: 1}


@pytest.mark.parametrize("accept", [None, False], ids=["default", "accept=False"])
@pytest.mark.parametrize("kind", sorted(ANSWERS))
def test_refusing_fault_answers_instead_and_nobody_is_dialled(
    kaleyra_simulator: KaleyraSimulator, kind: str, accept: bool | None
) -> None:
    options: dict[str, Any] = {} if accept is None else {"accept": accept}
    kaleyra_simulator.inject_fault(kind, **options)

    response = post_outbound(kaleyra_simulator)

    ANSWERS[kind](response)
    assert kaleyra_simulator.dials_to(NUMBER) == 0


def test_unknown_code_dials_and_answers_200_with_an_undocumented_code(kaleyra_simulator: KaleyraSimulator) -> None:
    fault = kaleyra_simulator.inject_fault("unknown_code")

    response = post_outbound(kaleyra_simulator)

    assert fault.accept is True
    assert response.status_code == 200
    assert response.json() == {"code": "RBC3008", "message": "Request processed", "data": ECHO, "error": {}}
    assert "RBC3008" not in wire.KNOWN_CODES
    assert kaleyra_simulator.dials_to(NUMBER) == 1


def test_unknown_code_takes_its_code_and_status(kaleyra_simulator: KaleyraSimulator) -> None:
    kaleyra_simulator.inject_fault("unknown_code", code="RBC3999", status=202)

    response = post_outbound(kaleyra_simulator)

    assert (response.status_code, response.json()["code"]) == (202, "RBC3999")
    assert kaleyra_simulator.dials_to(NUMBER) == 1


def test_unknown_code_without_accept_dials_nobody(kaleyra_simulator: KaleyraSimulator) -> None:
    kaleyra_simulator.inject_fault("unknown_code", accept=False)

    response = post_outbound(kaleyra_simulator)

    assert response.json()["code"] == "RBC3008"
    assert response.json()["data"] == []
    assert kaleyra_simulator.dials_to(NUMBER) == 0


def test_unknown_code_through_the_admin_api(kaleyra_simulator: KaleyraSimulator) -> None:
    url = kaleyra_simulator.url + "_simulator/faults"
    added = requests.post(url, json={"kind": "unknown_code", "code": "RBC3777"}, timeout=TIMEOUT)
    assert added.json()["faults"][0]["code"] == "RBC3777"

    assert post_outbound(kaleyra_simulator).json()["code"] == "RBC3777"
    assert kaleyra_simulator.dials_to(NUMBER) == 1
    assert requests.post(url, json={"kind": "unknown_code", "code": 3008}, timeout=TIMEOUT).status_code == 400


def test_unknown_code_on_the_call_logs_keeps_the_listing(kaleyra_simulator: KaleyraSimulator) -> None:
    post_outbound(kaleyra_simulator)
    kaleyra_simulator.inject_fault("unknown_code", path="/voice/call-logs")

    response = requests.get(
        call_logs.call_logs_url(kaleyra_simulator.url, DEFAULT_SID),
        headers={"api-key": DEFAULT_API_KEY},
        timeout=TIMEOUT,
    )

    assert response.json()["code"] == "RBC3008"
    assert [call["to"] for call in response.json()["data"]["calls"]] == [NUMBER]


def test_slow_with_accept_still_sends_the_real_answer_late(kaleyra_simulator: KaleyraSimulator) -> None:
    kaleyra_simulator.inject_fault("slow", delay=0.2)

    response = post_outbound(kaleyra_simulator)

    assert response.elapsed.total_seconds() >= 0.2
    assert response.json()["code"] == wire.OUTBOUND_ACCEPTED
    assert kaleyra_simulator.dials_to(NUMBER) == 1


def test_drop_with_accept_dials_and_never_answers(kaleyra_simulator: KaleyraSimulator) -> None:
    kaleyra_simulator.inject_fault("drop")

    with pytest.raises(requests.ConnectionError):
        post_outbound(kaleyra_simulator)
    assert kaleyra_simulator.dials_to(NUMBER) == 1


def test_unknown_fault_kind_names_unknown_code() -> None:
    with pytest.raises(ValueError, match="unknown_code"):
        Fault("explode")
