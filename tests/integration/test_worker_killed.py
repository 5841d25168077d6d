"""SIGKILL in the middle of a 2,000-number campaign, then a retry: nobody is dialled twice.

The task runs in a real ``airflow tasks test`` process against an existing DAG run;
the test kills that process with SIGKILL once the simulator has accepted some of the
batches, then runs the same task instance again with a second ``airflow tasks test``.
Every answer is slowed down, so the kill lands while requests are in flight.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

DAG_ID = "kaleyra_bulk_2000"
RUN_ID = "killed_mid_campaign"


def airflow(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Unwrapped tracebacks (Airflow 3.0 prints them with rich): messages stay whole lines.
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "1000"},
        start_new_session=True,  # the kill reaches the whole process group
        **kwargs,  # type: ignore[call-overload]
    )


def output(process: subprocess.Popen[str]) -> str:
    """What the process printed, without terminal styling (Airflow 3.0 styles even with NO_COLOR)."""
    out, _ = process.communicate(timeout=300)
    return re.sub(r"\x1b\[[0-9;]*m", "", out)


def start_run(dag_id: str, run_id: str) -> None:
    """Mark the triggered run as started, as the scheduler does when it picks a queued run up.

    Airflow 3.1's execution API refuses to run a task of a run without a start date.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            .values(state=DagRunState.RUNNING, start_date=timezone.utcnow())
        )


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.mark.timeout(600)
def test_sigkill_mid_campaign_then_retry_dials_nobody_twice(simulator: KaleyraSimulator) -> None:
    from tests.integration.dags.kaleyra_bulk import KILL_NUMBERS

    assert (SECOND_BRIDGE, DEFAULT_FLOW_ID) == ("+6531651234", "SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb")
    trigger = airflow("dags", "trigger", DAG_ID, "--run-id", RUN_ID)
    out, _ = trigger.communicate(timeout=300)
    assert trigger.returncode == 0, out
    start_run(DAG_ID, RUN_ID)

    simulator.inject_fault("slow", delay=0.3, times=None)  # every batch answers late
    first = airflow("tasks", "test", DAG_ID, "call", RUN_ID)
    try:
        wait_for(lambda: len(simulator.ledger()) >= 600 or first.poll() is not None, 300, "600 dials")
        assert first.poll() is None, first.communicate()[0]  # still running: the kill is mid-campaign
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    time.sleep(0.5)  # answers still being slept on are for a dead client; let them finish
    dialled_before = len(simulator.ledger())
    assert 600 <= dialled_before < len(KILL_NUMBERS)

    simulator.clear_faults()
    retry = airflow("tasks", "test", DAG_ID, "call", RUN_ID)
    out, _ = retry.communicate(timeout=300)

    counts = dict.fromkeys(KILL_NUMBERS, 0)
    for dial in simulator.ledger():
        counts[dial["number"]] += 1
    assert max(counts.values()) == 1, "a number was dialled twice"
    # Batches the killed process left ``sending`` are settled from Kaleyra's call log
    # when their calls are there (reused, not re-sent), else listed as unknown, not
    # re-sent; every other number has now been dialled exactly once.
    settled = {int(b) for b in re.findall(r"Batch (\d+)/20: its outcome was unknown", out)}
    unknown = {int(b) for b in re.findall(r"batch (\d+)/20 \(100 numbers", out)}
    assert settled | unknown, out[-3000:]  # the kill landed with requests in flight
    assert "were accepted by an earlier try and are not sent again" in out
    for index, number in enumerate(KILL_NUMBERS):
        if index // 100 + 1 not in unknown:
            assert counts[number] == 1, f"{number} (batch {index // 100 + 1}) was not dialled"


@pytest.mark.timeout(600)
def test_clearing_a_finished_task_does_not_dial_again(simulator: KaleyraSimulator) -> None:
    from tests.integration.dags.kaleyra_bulk import KILL_NUMBERS

    run_id = "cleared_after_success"
    trigger = airflow("dags", "trigger", DAG_ID, "--run-id", run_id)
    assert trigger.communicate(timeout=300)[0] is not None
    assert trigger.returncode == 0
    start_run(DAG_ID, run_id)
    first = airflow("tasks", "test", DAG_ID, "call", run_id)
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out[-3000:]
    assert len(simulator.ledger()) == len(KILL_NUMBERS)

    clear = airflow("tasks", "clear", DAG_ID, "--task-regex", "^call$", "--yes")
    out, _ = clear.communicate(timeout=300)
    assert clear.returncode == 0, out[-3000:]
    again = airflow("tasks", "test", DAG_ID, "call", run_id)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out[-3000:]
    assert "20 of 20 batch(es) (2,000 numbers) were accepted by an earlier try and are not sent again" in out
    assert len(simulator.ledger()) == len(KILL_NUMBERS)  # nobody dialled a second time
