"""The call log as the real Kaleyra may write it, through real DAG runs.

Kaleyra documents no call-log answer. For every way the simulator can play it (codes,
number and time forms, field names, flow ids, ignored filters, no ``custom`` echo), a
waiting task finds how its calls ended, and a lost answer is settled from the log
instead of being dialled again.
"""

from __future__ import annotations

import collections
import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.simulator import (
    DEFAULT_BRIDGE,
    DEFAULT_FLOW_ID,
    SECOND_BRIDGE,
    SECOND_FLOW_ID,
    connection_env_var,
)

from .dagrun import run_dag, task_output

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

DAGS = "kaleyra_real_world.py"

STYLES: dict[str, Any] = {
    "unfamiliar-code": {"code": "RBC3000"},
    "no-code-no-error-key": {"code": "", "omit_error": True},
    "numbers-without-plus": {"plus": False},
    "epoch-seconds": {"times": "epoch"},
    "epoch-milliseconds": {"times": "epoch_ms"},
    "epoch-seconds-as-text": {"times": "epoch_string"},
    "placeholder-field-names": {"fields": "placeholders"},
    "numeric-flow-id": {"numeric_flow_id": True},
    "filters-ignored": {"ignore_filters": True},
    "custom-not-echoed": {"echo_custom": False},
    "bare-list-without-total": {"shape": "list"},
    "all-of-them": "real",
}


def apply(simulator: KaleyraSimulator, style: Any) -> None:
    if isinstance(style, str):
        simulator.set_call_log_style(style)
    else:
        simulator.set_call_log_style(**style)


def conf(to: list[str], **more: Any) -> dict[str, Any]:
    return {"to": to, "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID, **more}


def dials(simulator: KaleyraSimulator) -> collections.Counter[str]:
    return collections.Counter(dial["number"] for dial in simulator.ledger())


def another_campaign_to(simulator: KaleyraSimulator, numbers: tuple[str, ...]) -> None:
    """The same people, called just before from another bridge with another flow, all BUSY:
    a reader that mistook these calls for the task's own would fail the task."""
    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

    simulator.script_outcomes(flows={SECOND_FLOW_ID: "BUSY"})
    KaleyraHook().submit(wire.OutboundCall(to=numbers, bridge=DEFAULT_BRIDGE, flow_id=SECOND_FLOW_ID))


@pytest.mark.parametrize("style", STYLES.values(), ids=STYLES.keys())
def test_a_wait_finds_every_answered_call(simulator: KaleyraSimulator, style: Any) -> None:
    another_campaign_to(simulator, ("+918836000001", "+918836000002"))
    apply(simulator, style)
    result = run_dag(DAGS, "kaleyra_place_and_wait", conf(["8836000001", "+918836000002"], prefix="+91"))
    task = result.task("call")
    assert (result.state, task.state) == ("success", "success")
    assert {row["number"]: row["status"] for row in task.xcom["outcomes"]["calls"]} == {
        "+918836000001": "ANSWER",
        "+918836000002": "ANSWER",
    }


@pytest.mark.parametrize("style", STYLES.values(), ids=STYLES.keys())
def test_a_lost_answer_is_settled_from_the_call_log(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str], style: Any
) -> None:
    apply(simulator, style)
    to = [f"+9177{i:08d}" for i in range(150)]
    simulator.inject_fault("drop", times=1)  # batch 1 is dialled, its answer never arrives
    result = run_dag(DAGS, "kaleyra_place", conf(to))
    task = result.task("call")
    assert (result.state, task.state, task.try_number) == ("success", "success", 2)
    assert set(dials(simulator).values()) == {1}
    assert len(dials(simulator)) == 150
    out = task_output(capfd)
    # Two batches are in flight: the lost answer may be either one's.
    assert re.search(r"Batch [12]/2: its outcome was unknown \(no answer came back", out)
    assert "but Kaleyra's call log shows its calls; not sent again" in out


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York"])
def test_naive_times_are_read_in_the_account_time_zone(
    simulator: KaleyraSimulator, monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    connection = simulator.connection_dict()
    connection["extra"]["timezone"] = zone
    monkeypatch.setenv(connection_env_var(), json.dumps(connection))
    simulator.set_call_log_style(times="iso_naive", timezone=zone)
    result = run_dag(DAGS, "kaleyra_place_and_wait", conf(["+918836000001"]))
    assert result.state == "success"
    assert result.task("call").xcom["outcomes"]["statuses"] == {"ANSWER": 1}


def test_naive_times_read_in_the_wrong_zone_are_not_taken_for_the_task_s_calls(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    # The account writes New York time; the connection says UTC (the default): the calls
    # seem to start five hours before the task placed them and, with no correlation token
    # in the log to say otherwise, they are not taken for its calls.
    simulator.set_call_log_style(times="iso_naive", timezone="America/New_York", echo_custom=False)
    result = run_dag(DAGS, "kaleyra_place_and_wait_briefly", conf(["+918836000001"]))
    assert result.state == "failed"
    assert "1 of 1 numbers have no final status yet: +918836000001" in task_output(capfd)
