"""Inputs and answers the happy path never shows, through real DAG runs (``dag.test()``).

Each test counts dials in the simulator's ledger: nobody is dialled twice, whatever
spelling, answer or mistake the run meets, and every failure names its cause.
"""

from __future__ import annotations

import collections
import json
import re
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE, connection_env_var

from .dagrun import run_dag, stored_batches, task_output

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

DAGS = "kaleyra_real_world.py"


def conf(to: Any, **more: Any) -> dict[str, Any]:
    return {"to": to, "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID, **more}


def dials(simulator: KaleyraSimulator) -> collections.Counter[str]:
    return collections.Counter(dial["number"] for dial in simulator.ledger())


def national(count: int, start: int = 0) -> list[str]:
    return [f"88{i:08d}" for i in range(start, start + count)]


# --------------------------------------------------------------------------- one identity


def test_one_person_written_two_ways_is_dialled_once(simulator: KaleyraSimulator) -> None:
    result = run_dag(DAGS, "kaleyra_place", conf(["8830907301", "+918830907301", "+91 88309-07302"], prefix="+91"))
    task = result.task("call")
    assert (result.state, task.state) == ("success", "success")
    assert dials(simulator) == {"+918830907301": 1, "+918830907302": 1}
    assert task.xcom["numbers"] == ["+918830907301", "+918830907302"]
    assert task.xcom["duplicates_dropped"] == ["+918830907301"]
    assert task.xcom["country_code"] == "91"
    # Whole numbers go out and prefix never does: what is dialled is what is compared.
    assert {dial["prefix"] for dial in simulator.ledger()} == {None}


def test_a_wait_with_prefix_finds_the_calls_in_the_call_log(simulator: KaleyraSimulator) -> None:
    result = run_dag(DAGS, "kaleyra_place_and_wait", conf(["8836000001", "8836000002"], prefix="+91"))
    task = result.task("call")
    assert (result.state, task.state) == ("success", "success")
    assert {row["number"]: row["status"] for row in task.xcom["outcomes"]["calls"]} == {
        "+918836000001": "ANSWER",
        "+918836000002": "ANSWER",
    }


def test_a_lost_answer_with_prefix_is_settled_from_the_call_log(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    to = national(150)
    simulator.inject_fault("drop", times=1)  # batch 1 is dialled, its answer never arrives
    result = run_dag(DAGS, "kaleyra_place", conf(to, prefix="+91"))
    task = result.task("call")
    assert (result.state, task.state, task.try_number) == ("success", "success", 2)
    assert set(dials(simulator).values()) == {1}
    assert len(dials(simulator)) == 150
    # Two batches are in flight: the lost answer may be either one's.
    assert re.search(r"Batch [12]/2: its outcome was unknown \(no answer came back", task_output(capfd))


# --------------------------------------------------------------------------- answers that do not say


def test_an_unknown_code_and_a_503_are_never_sent_again(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    to = [f"+9177{i:08d}" for i in range(200)]
    simulator.inject_fault("unknown_code", times=1)  # dialled, answered 200 RBC3008
    simulator.inject_fault("error", status=503, times=1)  # answered 503; nobody dialled
    result = run_dag(DAGS, "kaleyra_place", conf(to))
    task = result.task("call")
    out = task_output(capfd)
    # Try 1 learns neither outcome; try 2 finds the RBC3008 batch's calls in the call log
    # and fails on the 503 batch, which it never sends again (nor does Airflow retry).
    assert (result.state, task.state, task.try_number) == ("failed", "failed", 2)
    counts = dials(simulator)
    assert sum(counts.values()) == 100
    assert set(counts.values()) == {1}
    assert "RBC3008" in out
    assert "Outcome unknown for batch" in out
    assert "(HTTP 503)" in out
    assert "but Kaleyra's call log shows its calls" in out


def test_a_batch_stored_as_unknown_blocks_every_later_try(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    simulator.inject_fault("unknown_code", accept=False, times=None)  # answered RBC3008; nobody dialled
    result = run_dag(DAGS, "kaleyra_place", conf(["+918830907001"]))
    out = task_output(capfd)
    assert (result.state, result.task("call").try_number) == ("failed", 2)
    assert dials(simulator) == {}  # Kaleyra said nothing clear, and it was never sent again
    assert "RBC3008" in out
    assert "redial_unknown=True" in out
    assert [entry["status"] for entry in stored_batches(result).values()] == ["unknown"]


# --------------------------------------------------------------------------- failures before sending


@pytest.mark.parametrize(("spoiler", "named"), [("\u200b", "U+200B"), ("\n", "a line break"), (" ", "a space")])
def test_an_api_key_that_cannot_be_a_header_fails_before_sending_and_leaves_no_trace(
    simulator: KaleyraSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    spoiler: str,
    named: str,
) -> None:
    key = simulator.api_key
    broken = simulator.connection_dict()
    broken["password"] = key[:6] + spoiler + key[6:]
    monkeypatch.setenv(connection_env_var(), json.dumps(broken))
    result = run_dag(DAGS, "kaleyra_place", conf(["+918830907001"]))
    out = task_output(capfd)
    assert (result.state, result.task("call").try_number) == ("failed", 1)  # no retry can fix it
    assert "the API key (password field)" in out
    assert named in out
    assert key[6:] not in out  # the key is never printed, whole or in part
    assert dials(simulator) == {}
    assert stored_batches(result) == {}  # nothing that would block a later try


def test_a_custom_value_that_cannot_be_encoded_fails_naming_it_and_strands_nothing(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run_dag(DAGS, "kaleyra_custom_int_key")
    out = task_output(capfd)
    assert result.state == "failed"
    assert dials(simulator) == {}
    assert stored_batches(result) == {}
    if "validation error for SetRenderedFields" in out:
        return  # Airflow before 3.3 refuses the int key itself, before the task's code runs
    assert result.task("call").try_number == 1
    assert "custom={1: 'x'}: keys must be strings" in out


# --------------------------------------------------------------------------- validation


def a_past_time() -> str:
    return pendulum.now("UTC").subtract(hours=1).isoformat()


def in_digits(zero: int, number: str = "8830907301") -> str:
    """``+91`` and then ``number`` written in the digits of another script (``zero`` is its 0)."""
    return "+91" + "".join(chr(zero + int(d)) for d in number)


DEVANAGARI, FULLWIDTH, ARABIC_INDIC = in_digits(0x0966), in_digits(0xFF10), in_digits(0x0660)


@pytest.mark.parametrize(
    ("run_conf", "named"),
    [
        (conf([DEVANAGARI]), f"to={DEVANAGARI!r}"),
        (conf([FULLWIDTH]), f"to={FULLWIDTH!r}"),
        (conf([ARABIC_INDIC]), f"to={ARABIC_INDIC!r}"),
        # Native rendering turns "1234" into an int.
        (conf("1234", prefix="+91"), "to=1234: not a phone number"),
        (conf(["+918830907001"], time="2026-11-29T10:00:00"), "time='2026-11-29T10:00:00': has no timezone"),
        (conf(["+918830907001"], time="tomorrow morning"), "time='tomorrow morning'"),
        (conf(["+918830907001"], callback={"call_end": {"url": [""]}}), "callback['call_end']['url']=''"),
    ],
    ids=["devanagari", "fullwidth", "arabic-indic", "too-short", "naive-time", "unparseable-time", "empty-url"],
)
def test_bad_input_fails_naming_the_parameter_before_anything_is_sent(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str], run_conf: dict[str, Any], named: str
) -> None:
    result = run_dag(DAGS, "kaleyra_place", run_conf)
    out = task_output(capfd)
    assert (result.state, result.task("call").try_number) == ("failed", 1)
    assert named in out
    assert dials(simulator) == {}


def test_a_time_in_the_past_is_refused(simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]) -> None:
    past = a_past_time()
    result = run_dag(DAGS, "kaleyra_place", conf(["+918830907001"], time=past))
    out = task_output(capfd)
    assert (result.state, result.task("call").try_number) == ("failed", 1)
    assert f"time={past!r}: is in the past" in out
    assert dials(simulator) == {}


def test_an_infinite_timeout_is_refused_naming_it(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run_dag(DAGS, "kaleyra_infinite_timeout")
    out = task_output(capfd)
    assert (result.state, result.task("call").try_number) == ("failed", 1)
    assert "timeout=inf: must be a whole number" in out
    assert "OverflowError" not in out
    assert dials(simulator) == {}


# --------------------------------------------------------------------------- listings that end early


def test_a_listing_in_pages_smaller_than_asked_is_read_to_its_end(
    simulator: KaleyraSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_kaleyra.simulator import call_logs as served

    monkeypatch.setattr(served, "MAX_LIMIT", 5)  # Kaleyra may serve fewer calls per page than asked
    to = [f"+9155{i:06d}01" for i in range(600)]  # 120 pages of 5: more than the 100-page floor; all answer
    result = run_dag(DAGS, "kaleyra_place_and_wait", conf(to))
    task = result.task("call")
    assert (result.state, task.state) == ("success", "success")
    assert task.xcom["outcomes"]["counts"] == {"success": 600}
    assert set(dials(simulator).values()) == {1}


def test_a_listing_cut_off_is_said_and_not_taken_for_calls_not_there(
    simulator: KaleyraSimulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_kaleyra import call_logs
    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

    # Another campaign on the same bridge, just before: 500 calls in the same window.
    hook = KaleyraHook()
    for batch in range(5):
        to = tuple(f"+9144{batch:02d}{i:06d}" for i in range(100))
        hook.submit(wire_call(to))
    monkeypatch.setattr(call_logs, "MIN_PAGES", 2)  # a budget of 4 pages of 100 for 2 numbers
    result = run_dag(DAGS, "kaleyra_place_and_wait_briefly", conf(["+918830907001", "+918830907002"]))
    out = task_output(capfd)
    assert result.state == "failed"
    assert "Kaleyra's call-log listing was cut off: stopped after 4 pages of 100" in out
    assert "so they may be in the part not read" in out


def test_unreadable_call_log_entries_are_reported_when_the_wait_times_out(
    simulator: KaleyraSimulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_kaleyra.simulator import call_log_answer as served

    plain_record = served.styled_record

    def without_callee(call: Any, style: Any) -> dict[str, Any]:
        entry = plain_record(call, style)
        if entry["to"] == "+918830907002":
            del entry["to"]  # an entry the provider cannot tie to a number
        return entry

    monkeypatch.setattr(served, "styled_record", without_callee)
    result = run_dag(DAGS, "kaleyra_place_and_wait_briefly", conf(["+918830907001", "+918830907002"]))
    out = task_output(capfd)
    assert result.state == "failed"
    assert "1 of 2 numbers have no final status yet: +918830907002" in out
    assert "1 call-log entries could not be read: a call-log entry has no callee number" in out


def wire_call(to: tuple[str, ...]) -> Any:
    from airflow_provider_kaleyra import wire

    return wire.OutboundCall(to=to, bridge=SECOND_BRIDGE, flow_id=DEFAULT_FLOW_ID)
