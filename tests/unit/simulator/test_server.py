"""The simulator over real HTTP: Kaleyra's own samples first, then every refusal."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.simulator import (
    DEFAULT_API_KEY,
    DEFAULT_BRIDGE,
    DEFAULT_FLOW_ID,
    DEFAULT_SID,
    SECOND_BRIDGE,
    SECOND_FLOW_ID,
    KaleyraSimulator,
    SubscribedNumber,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest_plugins = ["airflow_provider_kaleyra.simulator.pytest_plugin"]

REPO_ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 10

# ---------------------------------------------------------------- the seed, verbatim

SEED_PATH = f"v1/{DEFAULT_SID}/voice/outbound"
SEED_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "api-key": DEFAULT_API_KEY}
# curl -d joins its fields with "&" and leaves "+" unencoded: this is the byte-exact body.
SEED_BODY = "to=+18830907XXX&bridge=+13236789XXX&target=SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb"
SEED_SUCCESS = {
    "code": "RBC3007",
    "message": "Submitted Successfully",
    "data": {
        "to": "+18830907XXX",
        "target": [{"ivr": ["SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb"]}],
        "bridge": "+13236789XXX",
    },
    "error": {},
}
SEED_FAILURE = {
    "code": "RBC3115",
    "message": "IVR not found",
    "data": [
        {
            "to": "+18830907XXX",
            "target": [{"ivr": ["SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb"]}],
            "bridge": "+13236789XXX",
        }
    ],
    "error": {"scalar": "IVR not found"},
}


def status_of(code: str) -> int:
    return wire.KNOWN_CODES[code].http_status


def post_outbound(
    sim: KaleyraSimulator,
    data: Any,
    *,
    sid: str = DEFAULT_SID,
    api_key: str | None = DEFAULT_API_KEY,
    **kwargs: Any,
) -> requests.Response:
    headers = {"api-key": api_key} if api_key is not None else {}
    return requests.post(
        wire.outbound_url(sim.url, sid), data=data, headers=headers, timeout=TIMEOUT, **kwargs
    )


def form(**fields: str) -> dict[str, str]:
    return {"to": "+18830907XXX", "bridge": DEFAULT_BRIDGE, "target": DEFAULT_FLOW_ID, **fields}


# ---------------------------------------------------------------- Kaleyra's samples


def test_seed_sample_request_gets_the_seed_success_response(kaleyra_simulator: KaleyraSimulator) -> None:
    response = requests.post(
        kaleyra_simulator.url + SEED_PATH, data=SEED_BODY, headers=SEED_HEADERS, timeout=TIMEOUT
    )

    assert response.status_code == 200
    body = response.json()
    assert body == SEED_SUCCESS
    assert list(body) == list(SEED_SUCCESS)
    assert list(body["data"]) == list(SEED_SUCCESS["data"])
    assert wire.parse_reply(response.status_code, response.content).ok


def test_seed_sample_request_is_one_dial_in_the_ledger(kaleyra_simulator: KaleyraSimulator) -> None:
    requests.post(kaleyra_simulator.url + SEED_PATH, data=SEED_BODY, headers=SEED_HEADERS, timeout=TIMEOUT)

    [dial] = kaleyra_simulator.ledger()
    assert dial["number"] == "+18830907XXX"
    assert dial["flow_id"] == DEFAULT_FLOW_ID
    assert dial["bridge"] == DEFAULT_BRIDGE
    assert dial["sid"] == DEFAULT_SID
    assert dial["time"].endswith("+00:00")
    assert dial["custom"] is None
    assert dial["callback"] is None
    assert dial["dlrurl"] is None
    assert dial["prefix"] is None
    assert kaleyra_simulator.dials_to("+18830907XXX") == 1


def test_unpublished_flow_gets_the_seed_failure_response(kaleyra_simulator: KaleyraSimulator) -> None:
    kaleyra_simulator.unpublish_flow(DEFAULT_FLOW_ID)

    response = requests.post(
        kaleyra_simulator.url + SEED_PATH, data=SEED_BODY, headers=SEED_HEADERS, timeout=TIMEOUT
    )

    assert response.status_code == status_of(wire.IVR_NOT_FOUND)
    assert response.json() == SEED_FAILURE
    assert list(response.json()) == list(SEED_FAILURE)
    assert wire.parse_reply(response.status_code, response.content).disposition is wire.Disposition.PERMANENT
    assert kaleyra_simulator.ledger() == []


def test_flow_unknown_to_the_account_is_ivr_not_found(kaleyra_simulator: KaleyraSimulator) -> None:
    flow = "SG_00000000-0000-0000-0000-000000000000"

    response = post_outbound(kaleyra_simulator, form(target=flow))

    assert response.status_code == status_of(wire.IVR_NOT_FOUND)
    assert response.json() == {
        "code": "RBC3115",
        "message": "IVR not found",
        "data": [{"to": "+18830907XXX", "target": [{"ivr": [flow]}], "bridge": DEFAULT_BRIDGE}],
        "error": {"scalar": "IVR not found"},
    }
    assert kaleyra_simulator.ledger() == []


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(DEFAULT_FLOW_ID, id="bare-id"),
        pytest.param(f'[{{"ivr":["{DEFAULT_FLOW_ID}"]}}]', id="array"),
        pytest.param(f'[ {{"ivr": ["{DEFAULT_FLOW_ID}"]}} ]', id="array-with-spaces"),
        pytest.param(wire.encode_target(DEFAULT_FLOW_ID), id="wire-encoding"),
    ],
)
def test_every_spelling_of_target_is_accepted(kaleyra_simulator: KaleyraSimulator, target: str) -> None:
    response = post_outbound(kaleyra_simulator, form(target=target))

    assert response.status_code == 200
    assert response.json()["data"]["target"] == [{"ivr": [DEFAULT_FLOW_ID]}]


def test_form_the_provider_encodes_is_accepted_and_recorded(kaleyra_simulator: KaleyraSimulator) -> None:
    callback = {"call_end": {"url": ["https://example.com/end?id={id}"]}}
    call = wire.OutboundCall(
        to=("+18830907001", "+18830907002"),
        bridge=SECOND_BRIDGE,
        flow_id=SECOND_FLOW_ID,
        retry=2,
        time=dt.datetime(2030, 1, 1, 10, 0, tzinfo=dt.timezone.utc),
        timeout=30,
        custom={"order": 42},
        dlrurl="https://example.com/dlr?id={id}&status={status}",
        callback=callback,
        correlation_token="af-0123456789abcdef0123",
    )
    sent = wire.encode_outbound_form(call)

    response = post_outbound(kaleyra_simulator, sent)

    assert response.status_code == 200
    assert response.json()["data"] == {
        "to": "+18830907001,+18830907002",
        "target": [{"ivr": [SECOND_FLOW_ID]}],
        "bridge": SECOND_BRIDGE,
    }
    first, second = kaleyra_simulator.ledger()
    assert [first["number"], second["number"]] == ["+18830907001", "+18830907002"]
    assert first["request_id"] == second["request_id"]
    assert first["call_id"] != second["call_id"]
    assert first["custom"] == sent["custom"]
    assert json.loads(first["custom"])["order"] == 42
    assert first["correlation_token"] == "af-0123456789abcdef0123"
    token = "airflow_correlation_token=af-0123456789abcdef0123"
    assert json.loads(first["callback"]) == {"call_end": {"url": [f"https://example.com/end?id={{id}}&{token}"]}}
    assert first["dlrurl"] == f"https://example.com/dlr?id={{id}}&status={{status}}&{token}"
    assert first["retry"] == "2"
    assert first["timeout"] == "30"
    assert first["scheduled_time"] == "2030-01-01T10:00:00+00:00"


def test_prefix_lets_numbers_omit_the_country_code(kaleyra_simulator: KaleyraSimulator) -> None:
    response = post_outbound(kaleyra_simulator, form(to="9876543210,+18830907XXX", prefix="+91"))

    assert response.status_code == 200
    assert [d["number"] for d in kaleyra_simulator.ledger()] == ["+919876543210", "+18830907XXX"]
    assert kaleyra_simulator.ledger()[0]["prefix"] == "+91"


def test_json_body_is_accepted(kaleyra_simulator: KaleyraSimulator) -> None:
    body = {"to": ["+18830907001", "+18830907002"], "bridge": DEFAULT_BRIDGE, "target": [{"ivr": [DEFAULT_FLOW_ID]}]}

    response = post_outbound(kaleyra_simulator, None, json=body)

    assert response.status_code == 200
    assert response.json()["data"]["to"] == "+18830907001,+18830907002"
    assert len(kaleyra_simulator.ledger()) == 2


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("sid", "api_key"),
    [
        pytest.param(DEFAULT_SID, "wrong-key", id="wrong-key"),
        pytest.param("HXIN000000000XXX", DEFAULT_API_KEY, id="wrong-sid"),
        pytest.param(DEFAULT_SID, None, id="no-key"),
    ],
)
def test_bad_credentials_are_rbc001(kaleyra_simulator: KaleyraSimulator, sid: str, api_key: str | None) -> None:
    response = post_outbound(kaleyra_simulator, form(), sid=sid, api_key=api_key)

    assert response.status_code == status_of(wire.BAD_CREDENTIALS)
    body = response.json()
    assert body["code"] == "RBC001"
    assert body["message"] == "Incorrect SID or API Key"
    assert body["data"] == []
    assert body["error"]
    assert kaleyra_simulator.ledger() == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param(form(to=",".join(f"+1883090{i:04d}" for i in range(101))), "to", id="101-numbers"),
        pytest.param(form(to=""), "to", id="empty-to"),
        pytest.param({"bridge": DEFAULT_BRIDGE, "target": DEFAULT_FLOW_ID}, "to", id="missing-to"),
        pytest.param(form(to="+1883"), "to", id="too-short"),
        pytest.param(form(to="18830907001"), "to", id="no-plus-without-prefix"),
        pytest.param(form(to="+18830907001,,+18830907002"), "to", id="empty-number"),
        pytest.param({"to": "+18830907XXX", "target": DEFAULT_FLOW_ID}, "bridge", id="missing-bridge"),
        pytest.param(form(bridge="+13230000000"), "bridge", id="unsubscribed-bridge"),
        pytest.param(form(bridge="bridge-one"), "bridge", id="malformed-bridge"),
        pytest.param(
            form(target=f'[{{"ivr":["{DEFAULT_FLOW_ID}","{SECOND_FLOW_ID}"]}}]'), "target", id="two-flows"
        ),
        pytest.param(
            form(target=f'[{{"ivr":["{DEFAULT_FLOW_ID}"]}},{{"ivr":["{SECOND_FLOW_ID}"]}}]'),
            "target",
            id="two-ivr-objects",
        ),
        pytest.param(form(target="[]"), "target", id="no-flow"),
        pytest.param(form(target="[{"), "target", id="broken-json"),
        pytest.param({"to": "+18830907XXX", "bridge": DEFAULT_BRIDGE}, "target", id="missing-target"),
        pytest.param(form(prefix="country"), "prefix", id="bad-prefix"),
        pytest.param(form(callback="not json"), "callback", id="callback-not-json"),
        pytest.param(form(callback='{"call_ring": {"url": ["https://x"]}}'), "callback", id="callback-event"),
        pytest.param(
            form(callback=json.dumps({"call_end": {"url": [f"https://x/{i}" for i in range(11)]}})),
            "callback",
            id="callback-11-urls",
        ),
    ],
)
def test_invalid_field_is_rbc3001_naming_it(
    kaleyra_simulator: KaleyraSimulator, fields: dict[str, str], field: str
) -> None:
    response = post_outbound(kaleyra_simulator, fields)

    assert response.status_code == status_of(wire.INVALID_PARAMETER)
    body = response.json()
    assert body["code"] == wire.INVALID_PARAMETER
    assert field in body["message"]
    assert list(body["error"]) == [field]
    assert kaleyra_simulator.ledger() == []


def test_hundred_numbers_are_a_hundred_dials(kaleyra_simulator: KaleyraSimulator) -> None:
    numbers = [f"+1883090{i:04d}" for i in range(wire.MAX_NUMBERS_PER_REQUEST)]

    response = post_outbound(kaleyra_simulator, form(to=",".join(numbers)))

    assert response.status_code == 200
    ledger = kaleyra_simulator.ledger()
    assert [d["number"] for d in ledger] == numbers
    assert len({d["request_id"] for d in ledger}) == 1
    assert kaleyra_simulator.dials_to(numbers[7]) == 1


def test_inactive_number_is_listed_but_cannot_bridge() -> None:
    inactive = SubscribedNumber("+13236789001", status="Inactive")
    with KaleyraSimulator(numbers=[DEFAULT_BRIDGE, inactive]) as sim:
        response = post_outbound(sim, form(bridge=inactive.number))

        assert response.json()["code"] == wire.INVALID_PARAMETER
        assert "bridge" in response.json()["error"]


# ---------------------------------------------------------------- ledger


def test_ledger_counts_every_dial_under_concurrency(kaleyra_simulator: KaleyraSimulator) -> None:
    def dial(i: int) -> int:
        return post_outbound(kaleyra_simulator, form(to=f"+1883090{i:04d},+18830907XXX")).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(dial, range(40)))

    assert statuses == [200] * 40
    assert len(kaleyra_simulator.ledger()) == 80
    assert kaleyra_simulator.dials_to("+18830907XXX") == 40


def test_a_hundred_clients_connecting_at_once_are_all_served(kaleyra_simulator: KaleyraSimulator) -> None:
    # Like a triggerer whose waits each open a connection in the same instant. With too
    # short a listen backlog the kernel drops the extra handshakes and each client waits
    # a second for its retry: the connect timeout is shorter than that.
    start = threading.Barrier(100)

    def connect(i: int) -> int:
        with requests.Session() as session:
            start.wait(timeout=TIMEOUT)
            return session.get(kaleyra_simulator.url + "_simulator/flows", timeout=(0.9, TIMEOUT)).status_code

    with ThreadPoolExecutor(max_workers=100) as pool:
        statuses = list(pool.map(connect, range(100)))
    assert statuses == [200] * 100


def test_ledger_is_a_copy(kaleyra_simulator: KaleyraSimulator) -> None:
    post_outbound(kaleyra_simulator, form())

    copy = kaleyra_simulator.ledger()
    copy[0]["number"] = "+10000000000"
    copy.clear()

    assert kaleyra_simulator.ledger()[0]["number"] == "+18830907XXX"


def test_reset_forgets_dials_and_restores_flows(kaleyra_simulator: KaleyraSimulator) -> None:
    post_outbound(kaleyra_simulator, form())
    kaleyra_simulator.unpublish_flow(DEFAULT_FLOW_ID)
    kaleyra_simulator.publish_flow("SG_extra")

    kaleyra_simulator.reset()

    assert kaleyra_simulator.ledger() == []
    assert DEFAULT_FLOW_ID in kaleyra_simulator.flows
    assert "SG_extra" not in kaleyra_simulator.flows


def test_flow_published_at_run_time_can_be_triggered(kaleyra_simulator: KaleyraSimulator) -> None:
    flow = "SG_11111111-2222-3333-4444-555555555555"
    assert post_outbound(kaleyra_simulator, form(target=flow)).json()["code"] == wire.IVR_NOT_FOUND

    kaleyra_simulator.publish_flow(flow)

    assert post_outbound(kaleyra_simulator, form(target=flow)).json()["code"] == wire.OUTBOUND_ACCEPTED


# ---------------------------------------------------------------- subscriptions


def test_subscriptions_list_the_bridges(kaleyra_simulator: KaleyraSimulator) -> None:
    response = requests.get(
        wire.subscriptions_url(kaleyra_simulator.url, DEFAULT_SID),
        headers={"api-key": DEFAULT_API_KEY},
        timeout=TIMEOUT,
    )

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["code", "message", "data", "error"]
    assert body["code"] == wire.SUBSCRIPTIONS_LISTED
    assert body["error"] == {}
    assert body["data"] == [
        {"number": DEFAULT_BRIDGE, "capabilities": ["voice_out"], "number_status": "Active"},
        {"number": SECOND_BRIDGE, "capabilities": ["voice_out"], "number_status": "Active"},
    ]
    assert [n["number"] for n in wire.subscriptions_summary(body["data"])] == [DEFAULT_BRIDGE, SECOND_BRIDGE]


def test_subscriptions_need_credentials(kaleyra_simulator: KaleyraSimulator) -> None:
    response = requests.get(
        wire.subscriptions_url(kaleyra_simulator.url, DEFAULT_SID), headers={"api-key": "nope"}, timeout=TIMEOUT
    )

    assert response.status_code == status_of(wire.BAD_CREDENTIALS)
    assert response.json()["code"] == wire.BAD_CREDENTIALS


# ---------------------------------------------------------------- admin and routing


def test_admin_ledger_matches_the_python_ledger(kaleyra_simulator: KaleyraSimulator) -> None:
    post_outbound(kaleyra_simulator, form(to="+18830907001,+18830907002"))

    response = requests.get(kaleyra_simulator.url + "_simulator/ledger", timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json() == kaleyra_simulator.ledger()
    assert len(response.json()) == 2


def test_requests_are_counted_per_endpoint_faulted_ones_too(kaleyra_simulator: KaleyraSimulator) -> None:
    logs = wire.api_url(kaleyra_simulator.url, f"v1/{DEFAULT_SID}/voice/call-logs")
    headers = {"api-key": DEFAULT_API_KEY}
    post_outbound(kaleyra_simulator, form())
    kaleyra_simulator.inject_fault("error", path="/voice/call-logs")
    assert requests.get(logs, headers=headers, timeout=TIMEOUT).status_code == 503
    assert requests.post(logs + "/", headers=headers, timeout=TIMEOUT).status_code == 200
    requests.get(kaleyra_simulator.url + "_simulator/ledger", timeout=TIMEOUT)  # admin: not counted

    assert kaleyra_simulator.request_count("voice/call-logs") == 2
    assert kaleyra_simulator.request_count("voice/outbound") == 1
    assert kaleyra_simulator.request_count() == 3
    response = requests.get(kaleyra_simulator.url + "_simulator/requests", timeout=TIMEOUT)
    assert response.json() == {"voice/call-logs": 2, "voice/outbound": 1}

    kaleyra_simulator.reset()
    assert kaleyra_simulator.request_count() == 0


def test_admin_reset(kaleyra_simulator: KaleyraSimulator) -> None:
    post_outbound(kaleyra_simulator, form())

    response = requests.post(kaleyra_simulator.url + "_simulator/reset", timeout=TIMEOUT)

    assert response.status_code == 200
    assert kaleyra_simulator.ledger() == []


def test_admin_flows_publish_and_unpublish(kaleyra_simulator: KaleyraSimulator) -> None:
    flows_url = kaleyra_simulator.url + "_simulator/flows"

    response = requests.post(
        flows_url, json={"publish": ["SG_new"], "unpublish": DEFAULT_FLOW_ID}, timeout=TIMEOUT
    )

    assert response.status_code == 200
    assert response.json() == {"flows": sorted({SECOND_FLOW_ID, "SG_new"})}
    assert requests.get(flows_url, timeout=TIMEOUT).json() == response.json()
    assert post_outbound(kaleyra_simulator, form()).json()["code"] == wire.IVR_NOT_FOUND
    assert post_outbound(kaleyra_simulator, form(target="SG_new")).json()["code"] == wire.OUTBOUND_ACCEPTED


@pytest.mark.parametrize("body", ['{"publish": 3}', '{"retire": ["x"]}', "[]", "not json"])
def test_admin_flows_refuses_bad_bodies(kaleyra_simulator: KaleyraSimulator, body: str) -> None:
    response = requests.post(kaleyra_simulator.url + "_simulator/flows", data=body, timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert kaleyra_simulator.flows == {DEFAULT_FLOW_ID, SECOND_FLOW_ID}


@pytest.mark.parametrize("path", ["nope", "v1/HXIN169510844XXX/voice", "_simulator/", "v2/x/voice/outbound"])
def test_unknown_path_is_404_json(kaleyra_simulator: KaleyraSimulator, path: str) -> None:
    response = requests.get(kaleyra_simulator.url + path, timeout=TIMEOUT)

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == "NOT_FOUND"


def test_wrong_method_is_405_json(kaleyra_simulator: KaleyraSimulator) -> None:
    response = requests.get(kaleyra_simulator.url + SEED_PATH, timeout=TIMEOUT)

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


# ---------------------------------------------------------------- lifecycle and Airflow connection


def test_start_stop_and_url() -> None:
    sim = KaleyraSimulator()
    with sim:
        assert sim.running
        assert sim.url == f"http://127.0.0.1:{sim.port}/"
        url = sim.url
        assert requests.get(url + "_simulator/ledger", timeout=TIMEOUT).json() == []
    assert not sim.running
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "_simulator/ledger", timeout=TIMEOUT)


def test_custom_account_flows_and_numbers() -> None:
    with KaleyraSimulator(accounts={"HXEU1": "key-1"}, flows={"EU_flow"}, numbers=["+4930123456"]) as sim:
        ok = post_outbound(
            sim, {"to": "+4915112345678", "bridge": "+4930123456", "target": "EU_flow"}, sid="HXEU1", api_key="key-1"
        )
        refused = post_outbound(sim, form())

    assert ok.json()["code"] == wire.OUTBOUND_ACCEPTED
    assert refused.json()["code"] == wire.BAD_CREDENTIALS


def test_connection_json_and_uri(kaleyra_simulator: KaleyraSimulator) -> None:
    expected = {
        "conn_type": "kaleyra",
        "login": DEFAULT_SID,
        "password": DEFAULT_API_KEY,
        "extra": {"region": "SG", "base_url": kaleyra_simulator.url},
    }
    assert json.loads(kaleyra_simulator.airflow_connection_json()) == expected
    assert kaleyra_simulator.connection_env("kaleyra_sim") == {
        "AIRFLOW_CONN_KALEYRA_SIM": kaleyra_simulator.airflow_connection_json()
    }

    from airflow.models.connection import Connection

    for conn in (
        Connection.from_json(kaleyra_simulator.airflow_connection_json(), conn_id="kaleyra_default"),
        Connection(conn_id="kaleyra_default", uri=kaleyra_simulator.connection_uri()),
    ):
        assert (conn.conn_type, conn.login, conn.password) == ("kaleyra", DEFAULT_SID, DEFAULT_API_KEY)
        assert conn.extra_dejson == expected["extra"]


def test_kaleyra_connection_fixture_sets_the_environment(kaleyra_connection: KaleyraSimulator) -> None:
    value = os.environ["AIRFLOW_CONN_KALEYRA_DEFAULT"]

    assert value == kaleyra_connection.airflow_connection_json()
    assert json.loads(value)["extra"]["base_url"] == kaleyra_connection.url


def test_simulator_imports_no_airflow() -> None:
    code = (
        "import sys, airflow_provider_kaleyra.simulator.__main__, airflow_provider_kaleyra.simulator.server;"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )

    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- CLI


@pytest.fixture
def cli() -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_kaleyra.simulator",
            "--port",
            "0",
            "--flow",
            "SG_cli_flow",
            "--bridge",
            "+13236789001",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read_stdout() -> None:
        for line in process.stdout or []:
            lines.put(line)

    # A reader thread, so a silent process fails the test instead of hanging it.
    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)
        reader.join(timeout=TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(cli: tuple[subprocess.Popen[str], queue.Queue[str]], sig: int) -> None:
    process, lines = cli

    first = lines.get(timeout=TIMEOUT).rstrip("\n")
    second = lines.get(timeout=TIMEOUT).rstrip("\n")

    prefix = "Kaleyra simulator listening on "
    assert first.startswith(prefix)
    url = first[len(prefix) :]
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/")
    name, _, value = second.partition("=")
    assert name == "AIRFLOW_CONN_KALEYRA_DEFAULT"
    conn = json.loads(value)
    assert conn["extra"]["base_url"] == url
    response = requests.post(
        wire.outbound_url(url, conn["login"]),
        data={"to": "+18830907XXX", "bridge": "+13236789001", "target": "SG_cli_flow"},
        headers={"api-key": conn["password"]},
        timeout=TIMEOUT,
    )
    assert response.json()["code"] == wire.OUTBOUND_ACCEPTED
    assert len(requests.get(url + "_simulator/ledger", timeout=TIMEOUT).json()) == 1

    process.send_signal(sig)

    assert process.wait(timeout=TIMEOUT) == 0
