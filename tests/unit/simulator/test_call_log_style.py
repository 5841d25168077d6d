"""Call-log styles: the simulator answering its call-log listing the way the real Kaleyra may."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_kaleyra import call_logs, wire
from airflow_provider_kaleyra.simulator import (
    DEFAULT_API_KEY,
    DEFAULT_FLOW_ID,
    DEFAULT_SID,
    REAL_WORLD,
    SECOND_BRIDGE,
    SECOND_FLOW_ID,
    CallLogStyle,
    KaleyraSimulator,
    numeric_flow_id,
)
from airflow_provider_kaleyra.simulator.call_log_style import LISTED

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO_ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 10
HEADERS = {"api-key": DEFAULT_API_KEY}
OTHER_BRIDGE = "+13236789XXX"
CUSTOM = json.dumps({wire.CORRELATION_KEY: "token-1"})
ANSWERED = "+918830907001"  # ends ANSWER after 20 + 3 * 1 seconds of talk
RINGS_FOREVER = "+918830907099"


@pytest.fixture
def sim() -> Iterator[KaleyraSimulator]:
    """Calls reach their final status at once, so every record is complete."""
    with KaleyraSimulator(queue_seconds=0, ring_seconds=0) as simulator:
        yield simulator


def dial(sim: KaleyraSimulator, numbers: list[str], bridge: str = SECOND_BRIDGE, flow: str = DEFAULT_FLOW_ID) -> None:
    form = {"to": ",".join(numbers), "bridge": bridge, "target": flow, "custom": CUSTOM}
    response = requests.post(wire.outbound_url(sim.url, DEFAULT_SID), data=form, headers=HEADERS, timeout=TIMEOUT)
    assert response.json()["code"] == wire.OUTBOUND_ACCEPTED


def listing(sim: KaleyraSimulator, limit: int | None = None, **params: str) -> dict[str, Any]:
    headers = {**HEADERS, **({"limit": str(limit)} if limit else {})}
    url = call_logs.call_logs_url(sim.url, DEFAULT_SID)
    response = requests.get(url, params=params, headers=headers, timeout=TIMEOUT)
    assert response.status_code == 200
    return response.json()


def calls_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body["data"]
    return data if isinstance(data, list) else data["calls"]


def only_call(sim: KaleyraSimulator) -> dict[str, Any]:
    [call] = calls_of(listing(sim))
    return call


def accepted_at(sim: KaleyraSimulator) -> dt.datetime:
    return dt.datetime.fromisoformat(sim.ledger()[0]["time"])


# ---------------------------------------------------------------- the default is today's form


def test_default_style_is_the_simulators_own_form(sim: KaleyraSimulator) -> None:
    dial(sim, [ANSWERED])
    ledger = sim.ledger()[0]

    body = listing(sim)

    assert body == {
        "code": LISTED,
        "message": "Call logs fetched successfully",
        "data": {
            "calls": [
                {
                    "id": ledger["call_id"],
                    "to": ANSWERED,
                    "bridge": SECOND_BRIDGE,
                    "flow_id": DEFAULT_FLOW_ID,
                    "status": "ANSWER",
                    "start_time": ledger["time"],
                    "duration": 23,
                    "custom": CUSTOM,
                }
            ],
            "total": 1,
            "page": 1,
            "limit": 25,
        },
        "error": {},
    }
    assert list(body) == ["code", "message", "data", "error"]
    assert sim.call_log_style == CallLogStyle()


# ---------------------------------------------------------------- one field at a time


@pytest.mark.parametrize("code", ["RBC3000", ""])
def test_code_is_the_listings_success_code(sim: KaleyraSimulator, code: str) -> None:
    dial(sim, [ANSWERED])
    sim.set_call_log_style(code=code)

    body = listing(sim)

    assert body["code"] == code
    assert [c["to"] for c in calls_of(body)] == [ANSWERED]


def test_omit_error_leaves_the_error_key_out(sim: KaleyraSimulator) -> None:
    assert listing(sim)["error"] == {}
    sim.set_call_log_style(omit_error=True)

    assert "error" not in listing(sim)


def test_plus_false_sends_bare_digits_for_callee_and_bridge(sim: KaleyraSimulator) -> None:
    dial(sim, [ANSWERED])
    sim.set_call_log_style(plus=False)

    call = only_call(sim)

    assert (call["to"], call["bridge"]) == (ANSWERED[1:], SECOND_BRIDGE[1:])


@pytest.mark.parametrize("timezone", ["Asia/Kolkata", 330, "+05:30"])
def test_iso_naive_times_are_written_without_offset_in_the_timezone(sim: KaleyraSimulator, timezone: str | int) -> None:
    dial(sim, [ANSWERED])
    sim.set_call_log_style(times="iso_naive", timezone=timezone)

    started = only_call(sim)["start_time"]

    in_india = accepted_at(sim).astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert started == in_india.strftime("%Y-%m-%d %H:%M:%S")


def test_iso_naive_defaults_to_utc(sim: KaleyraSimulator) -> None:
    dial(sim, [ANSWERED])
    sim.set_call_log_style(times="iso_naive")

    assert only_call(sim)["start_time"] == accepted_at(sim).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ("epoch", lambda t: int(t.timestamp())),
        ("epoch_ms", lambda t: int(t.timestamp() * 1000)),
        ("epoch_string", lambda t: str(int(t.timestamp()))),
    ],
)
def test_epoch_times(sim: KaleyraSimulator, times: str, expected: Any) -> None:
    dial(sim, [ANSWERED])
    sim.set_call_log_style(times=times)

    started = only_call(sim)["start_time"]

    assert started == expected(accepted_at(sim))
    assert type(started) is type(expected(accepted_at(sim)))


def test_placeholder_fields_are_kaleyras_dlrurl_names(sim: KaleyraSimulator) -> None:
    dial(sim, [ANSWERED])
    ledger = sim.ledger()[0]
    sim.set_call_log_style(fields="placeholders")

    call = only_call(sim)

    ended = accepted_at(sim) + dt.timedelta(seconds=23)  # no queue, no ringing, 23 s of talk
    assert call == {
        "id": ledger["call_id"],
        "callee": ANSWERED,
        "caller": SECOND_BRIDGE,
        "bridge": SECOND_BRIDGE,
        "status": "ANSWER",
        "starttime": ledger["time"],
        "endtime": ended.isoformat(timespec="milliseconds"),
        "billsec": 23,
        "flow_id": DEFAULT_FLOW_ID,
        "custom": CUSTOM,
    }


def test_placeholder_endtime_is_empty_until_the_call_ends(sim: KaleyraSimulator) -> None:
    dial(sim, [RINGS_FOREVER])
    sim.set_call_log_style(fields="placeholders", times="epoch")

    call = only_call(sim)

    assert (call["status"], call["endtime"], call["billsec"]) == ("RINGING", None, 0)
    assert call["starttime"] == int(accepted_at(sim).timestamp())


def test_numeric_flow_id_is_a_stable_integer_per_flow(sim: KaleyraSimulator) -> None:
    dial(sim, [ANSWERED])
    dial(sim, ["+918830907002"], flow=SECOND_FLOW_ID)
    sim.set_call_log_style(numeric_flow_id=True)

    flows = [call["flow_id"] for call in calls_of(listing(sim))]

    assert flows == [numeric_flow_id(DEFAULT_FLOW_ID), numeric_flow_id(SECOND_FLOW_ID)]
    assert all(isinstance(flow, int) for flow in flows)
    assert flows[0] != flows[1]
    # Derived from the id alone: the same number in every process and run.
    assert numeric_flow_id(DEFAULT_FLOW_ID) == 320871436


def test_ignore_filters_returns_every_call_still_paged(sim: KaleyraSimulator) -> None:
    dial(sim, [ANSWERED, "+918830907090"])
    dial(sim, ["+918830907002"], bridge=OTHER_BRIDGE)
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    filters = {"bridge": OTHER_BRIDGE, "status": "BUSY", "start_time": later, "call_id": "nope"}
    assert listing(sim, **filters)["data"]["total"] == 0
    sim.set_call_log_style(ignore_filters=True)

    assert listing(sim, **filters)["data"]["total"] == 3
    assert listing(sim, start_time="yesterday")["data"]["total"] == 3  # unread, so not refused
    pages = [listing(sim, limit=2, page=str(p), **filters)["data"] for p in (1, 2)]
    assert [[c["to"] for c in p["calls"]] for p in pages] == [[ANSWERED, "+918830907090"], ["+918830907002"]]


def test_echo_custom_false_drops_custom_and_its_token(sim: KaleyraSimulator) -> None:
    dial(sim, [ANSWERED])
    assert call_logs.token_in_custom(only_call(sim)["custom"]) == "token-1"
    sim.set_call_log_style(echo_custom=False)

    call = only_call(sim)

    assert "custom" not in call
    parsed = call_logs.parse_call_record(call)
    assert isinstance(parsed, call_logs.CallRecord)
    assert parsed.correlation_token is None


def test_list_shape_is_a_bare_list_without_total(sim: KaleyraSimulator) -> None:
    dial(sim, [ANSWERED, "+918830907002", "+918830907003"])
    sim.set_call_log_style(shape="list")

    body = listing(sim, limit=2)

    assert isinstance(body["data"], list)
    assert [c["to"] for c in body["data"]] == [ANSWERED, "+918830907002"]


# ---------------------------------------------------------------- the preset and setting a style


def test_real_world_preset(sim: KaleyraSimulator) -> None:
    expected = CallLogStyle(
        code="RBC3000", plus=False, times="epoch", fields="placeholders", numeric_flow_id=True, echo_custom=False
    )
    assert expected == REAL_WORLD
    dial(sim, [ANSWERED])
    sim.set_call_log_style(REAL_WORLD)

    body = listing(sim)

    [call] = calls_of(body)
    assert body["code"] == "RBC3000"
    assert call["callee"] == ANSWERED[1:]
    assert call["caller"] == SECOND_BRIDGE[1:]
    assert call["starttime"] == int(accepted_at(sim).timestamp())
    assert call["flow_id"] == numeric_flow_id(DEFAULT_FLOW_ID)
    assert "custom" not in call


@pytest.mark.parametrize("style", [REAL_WORLD, "real"])
def test_style_given_at_start_up_is_restored_by_reset(style: CallLogStyle | str) -> None:
    with KaleyraSimulator(call_log_style=style) as sim:
        assert sim.call_log_style == REAL_WORLD
        assert listing(sim)["code"] == "RBC3000"
        sim.set_call_log_style(code="RBC9")
        assert listing(sim)["code"] == "RBC9"

        sim.reset()

        assert sim.call_log_style == REAL_WORLD
        assert listing(sim)["code"] == "RBC3000"


def test_set_call_log_style_starts_from_the_base_it_is_given(sim: KaleyraSimulator) -> None:
    assert sim.set_call_log_style(REAL_WORLD, echo_custom=True) == CallLogStyle(
        code="RBC3000", plus=False, times="epoch", fields="placeholders", numeric_flow_id=True
    )
    assert sim.set_call_log_style("real").echo_custom is False
    assert sim.set_call_log_style(plus=False) == CallLogStyle(plus=False)  # from the default, not the last
    assert sim.set_call_log_style() == CallLogStyle()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"times": "unix"}, "times: 'unix'; expected one of iso, iso_naive, epoch, epoch_ms, epoch_string"),
        ({"fields": "kaleyra"}, "fields: 'kaleyra'"),
        ({"shape": "dict"}, "shape: 'dict'"),
        ({"plus": "no"}, "plus: 'no'; expected true or false"),
        ({"code": 3000}, "code: 3000"),
        ({"timezone": "Mars/Olympus"}, "timezone: unknown zone 'Mars/Olympus'"),
        ({"timezone": 24 * 60}, "timezone: 1440 minutes"),
        ({"colour": "red"}, "unknown call-log style fields ['colour']"),
    ],
)
def test_bad_style_fields_are_refused_with_a_reason(
    sim: KaleyraSimulator, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        sim.set_call_log_style(**fields)
    assert sim.call_log_style == CallLogStyle()


def test_unknown_preset_is_refused(sim: KaleyraSimulator) -> None:
    with pytest.raises(ValueError, match="unknown call-log style 'fake'"):
        sim.set_call_log_style("fake")


def test_admin_views_keep_the_default_form(sim: KaleyraSimulator) -> None:
    dial(sim, [ANSWERED])
    sim.set_call_log_style(REAL_WORLD)

    admin = requests.get(sim.url + "_simulator/calls", timeout=TIMEOUT).json()

    assert admin[0]["to"] == ANSWERED
    assert admin[0]["flow_id"] == DEFAULT_FLOW_ID
    assert admin[0]["custom"] == CUSTOM
    assert sim.calls()[0]["start_time"] == sim.ledger()[0]["time"]


# ---------------------------------------------------------------- the admin endpoint


def test_admin_endpoint_reads_and_sets_the_style(sim: KaleyraSimulator) -> None:
    url = sim.url + "_simulator/call-log-style"
    assert requests.get(url, timeout=TIMEOUT).json() == CallLogStyle().as_dict()
    dial(sim, [ANSWERED])

    response = requests.post(url, json={"preset": "real", "echo_custom": True, "times": "epoch_ms"}, timeout=TIMEOUT)

    expected = CallLogStyle(code="RBC3000", plus=False, times="epoch_ms", fields="placeholders", numeric_flow_id=True)
    assert response.status_code == 200
    assert response.json() == expected.as_dict()
    assert sim.call_log_style == expected
    assert requests.get(url, timeout=TIMEOUT).json() == expected.as_dict()
    call = only_call(sim)
    assert call["starttime"] == int(accepted_at(sim).timestamp() * 1000)
    assert call["custom"] == CUSTOM

    requests.post(url, json={"shape": "list"}, timeout=TIMEOUT)  # the whole style: the rest is default
    assert sim.call_log_style == CallLogStyle(shape="list")

    requests.post(sim.url + "_simulator/reset", timeout=TIMEOUT)
    assert requests.get(url, timeout=TIMEOUT).json() == CallLogStyle().as_dict()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"colour": "red"}', "unknown call-log style fields ['colour']"),
        ('{"times": "unix"}', "times: 'unix'"),
        ('{"plus": "false"}', "plus: 'false'; expected true or false"),
        ('{"timezone": "Nowhere/Land"}', "unknown zone 'Nowhere/Land'"),
        ('{"preset": "imaginary"}', "unknown call-log style 'imaginary'"),
        ('["times", "epoch"]', "expected a JSON object"),
        ("times=epoch", "Expecting value"),
    ],
)
def test_admin_endpoint_refuses_bad_bodies_and_keeps_the_style(sim: KaleyraSimulator, body: str, message: str) -> None:
    sim.set_call_log_style(code="RBC3000")

    response = requests.post(sim.url + "_simulator/call-log-style", data=body, timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert message in response.json()["message"]
    assert sim.call_log_style == CallLogStyle(code="RBC3000")


# ---------------------------------------------------------------- the command line


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_kaleyra.simulator", "--port", "0", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_line(process: subprocess.Popen[str]) -> str:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        if process.stdout is not None:
            lines.put(process.stdout.readline())

    # A reader thread, so a silent process fails the test instead of hanging it.
    threading.Thread(target=read, daemon=True).start()
    return lines.get(timeout=TIMEOUT).rstrip("\n")


def test_cli_call_log_style_preset_and_fields() -> None:
    process = run_cli("--call-log-style", "real", "--call-log", "echo_custom=true", "--call-log", "timezone=330")
    try:
        url = first_line(process).rpartition(" ")[2]
        style = requests.get(url + "_simulator/call-log-style", timeout=TIMEOUT).json()
    finally:
        process.terminate()
        process.communicate(timeout=TIMEOUT)

    expected = CallLogStyle(
        code="RBC3000",
        plus=False,
        times="epoch",
        timezone=330,
        fields="placeholders",
        numeric_flow_id=True,
        echo_custom=True,
    )
    assert style == expected.as_dict()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--call-log", "plus=maybe"], "plus: 'maybe'; expected true or false"),
        (["--call-log", "colour=red"], "unknown call-log style fields ['colour']"),
        (["--call-log", "times"], "expected FIELD=VALUE"),
        (["--call-log-style", "imaginary"], "invalid choice: 'imaginary'"),
    ],
)
def test_cli_refuses_a_bad_call_log_style(args: list[str], message: str) -> None:
    process = run_cli(*args)
    _, stderr = process.communicate(timeout=TIMEOUT)

    assert process.returncode != 0
    assert message in stderr
