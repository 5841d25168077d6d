"""Faults over real HTTP, retries through Airflow (``dag.test()``): nobody is dialled twice.

Every test asserts the simulator's ledger, which records each dial it accepted,
including those whose answer the fault then swallowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE

from .dagrun import run_dag, task_output

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

DAGS = "kaleyra_bulk.py"


def numbers(count: int) -> list[str]:
    return [f"+9177{i:08d}" for i in range(count)]


def conf(to: list[str]) -> dict[str, object]:
    return {"to": to, "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID}


def dials(simulator: KaleyraSimulator, to: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(to, 0)
    for dial in simulator.ledger():
        counts[dial["number"]] += 1
    return counts


def test_accept_then_drop_then_retry_settles_the_batch_from_the_call_log(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    to = numbers(250)
    simulator.inject_fault("drop", times=1)  # batch 1 is dialled, its answer never arrives
    result = run_dag(DAGS, "kaleyra_bulk_serial", conf(to))
    task = result.task("call")
    # The retry finds batch 1's calls (with this task's correlation token) in the call
    # log, so it knows Kaleyra accepted them: not sent again, and nothing is unknown.
    assert (result.state, task.state, task.try_number) == ("success", "success", 2)
    assert simulator.faults.applied == {"drop": 1}
    assert set(dials(simulator, to).values()) == {1}
    assert task.xcom["numbers"] == to
    assert "Batch 1/3: its outcome was unknown (no answer came back" in task_output(capfd)


def test_drop_before_kaleyra_acted_then_retry_fails_listing_the_unknown_batch(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    to = numbers(250)
    # The connection dies before Kaleyra acts: nobody is dialled, and the call log can
    # not prove it (it may lag), so the batch stays "outcome unknown".
    simulator.inject_fault("drop", times=1, accept=False)
    result = run_dag(DAGS, "kaleyra_bulk_serial", conf(to))
    task = result.task("call")
    assert (result.state, task.state, task.try_number) == ("failed", "failed", 2)
    assert simulator.faults.applied == {"drop": 1}
    counts = dials(simulator, to)
    assert [counts[n] for n in to[:100]] == [0] * 100  # never dialled, never re-sent
    assert [counts[n] for n in to[100:]] == [1] * 150  # batches 2 and 3 went out in the retry
    out = task_output(capfd)
    assert f"Outcome unknown for batch 1/3 (100 numbers, {to[0]} to {to[99]})" in out
    assert (
        "Kaleyra accepted 150 number(s) (2 of 3 batches), never sent again by this task instance; "
        "100 may have been dialled" in out
    )


def test_redial_unknown_sends_the_unknown_batch_again(simulator: KaleyraSimulator) -> None:
    to = numbers(150)
    simulator.inject_fault("drop", times=1, accept=False)  # truly unknown: not in the call log
    result = run_dag(DAGS, "kaleyra_bulk_redial", conf(to))
    assert (result.state, result.task("call").try_number) == ("success", 2)
    counts = dials(simulator, to)
    assert [counts[n] for n in to[:100]] == [1] * 100  # sent again, as the user opted in to
    assert [counts[n] for n in to[100:]] == [1] * 50
    assert simulator.faults.applied == {"drop": 1}
    assert result.task("call").xcom["numbers"] == to


ANSWERS_THAT_DO_NOT_SAY = [
    {"kind": "error", "status": 503},
    {"kind": "error", "status": 500},
    {"kind": "error", "status": 502},
    {"kind": "html", "status": 502},
    {"kind": "empty", "status": 503},
    {"kind": "unknown_code", "status": 200},
]


@pytest.mark.parametrize("fault", ANSWERS_THAT_DO_NOT_SAY, ids=lambda f: f"{f['kind']}-{f['status']}")
def test_an_answer_that_does_not_say_and_dialled_nobody_is_never_sent_again(
    simulator: KaleyraSimulator, fault: dict, capfd: pytest.CaptureFixture[str]
) -> None:
    to = numbers(3)
    simulator.inject_fault(**fault, accept=False, times=1)  # Kaleyra did nothing, but did not say so
    result = run_dag(DAGS, "kaleyra_bulk", conf(to))
    task = result.task("call")
    # The retry finds no calls in the call log and cannot know more: it fails, naming the answer.
    assert (result.state, task.try_number) == ("failed", 2)
    assert dials(simulator, to) == dict.fromkeys(to, 0)
    assert f"HTTP {fault['status']}" in task_output(capfd)


@pytest.mark.parametrize("fault", ANSWERS_THAT_DO_NOT_SAY, ids=lambda f: f"{f['kind']}-{f['status']}")
def test_an_answer_that_does_not_say_after_dialling_is_settled_from_the_call_log(
    simulator: KaleyraSimulator, fault: dict
) -> None:
    to = numbers(3)
    simulator.inject_fault(**fault, accept=True, times=1)  # dialled, then a bad answer
    result = run_dag(DAGS, "kaleyra_bulk", conf(to))
    task = result.task("call")
    assert (result.state, task.try_number) == ("success", 2)
    assert dials(simulator, to) == dict.fromkeys(to, 1)


def test_a_503_in_the_middle_is_never_resent_and_the_rest_goes_out(simulator: KaleyraSimulator) -> None:
    to = numbers(300)
    simulator.inject_fault("error", status=503, after=1, times=1)  # batch 2 of 3; nobody dialled
    result = run_dag(DAGS, "kaleyra_bulk_serial", conf(to))
    assert (result.state, result.task("call").try_number) == ("failed", 2)
    counts = dials(simulator, to)
    assert [counts[n] for n in to[:100]] == [1] * 100
    assert [counts[n] for n in to[100:200]] == [0] * 100  # unknown: never sent again
    assert [counts[n] for n in to[200:]] == [1] * 100  # the retry sent what was never sent


def test_429_waits_for_retry_after_and_dials_once(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    to = numbers(3)
    simulator.inject_fault("rate_limit", retry_after=1, times=1)
    result = run_dag(DAGS, "kaleyra_bulk", conf(to))
    assert (result.state, result.task("call").try_number) == ("success", 1)  # waited in-process
    assert simulator.faults.applied == {"rate_limit": 1}
    assert dials(simulator, to) == dict.fromkeys(to, 1)
    assert "trying again in 1.0s" in task_output(capfd)


def test_large_campaign_summarises_batches_in_xcom(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    to = numbers(1500)
    result = run_dag(DAGS, "kaleyra_bulk", conf(to))
    assert result.state == "success"
    record = result.task("call").xcom
    assert (record["numbers_count"], record["numbers_in_xcom"], record["numbers"]) == (1500, False, [])
    assert [(b["first"], b["last"]) for b in record["batches"]] == [
        (to[i], to[i + 99]) for i in range(0, 1500, 100)
    ]
    variable = f"Airflow Variable kaleyra_campaign__{record['correlation_token']}"
    assert record["state_location"] in ("task_state_store", variable)
    assert dials(simulator, to) == dict.fromkeys(to, 1)
    out = task_output(capfd)
    assert "batch 15/15: numbers accepted 1,500, refused by Kaleyra 0, not sent 0, outcome unknown 0" in out


def test_invalid_numbers_skipped_and_reported(simulator: KaleyraSimulator) -> None:
    to = ["+917700000001", "12345", "+917700000002", "not a number"]
    result = run_dag(DAGS, "kaleyra_bulk_skip", conf(to))
    assert result.state == "success"
    record = result.task("call").xcom
    assert record["invalid_skipped"] == ["12345", "not a number"]
    assert record["numbers"] == ["+917700000001", "+917700000002"]
    assert sorted(d["number"] for d in simulator.ledger()) == ["+917700000001", "+917700000002"]
