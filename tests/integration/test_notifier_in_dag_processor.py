"""A DAG-level KaleyraCallNotifier run by Airflow's own DAG processor, and where it logs.

The scheduler hands DAG-level callbacks to the DAG processor as callback requests in
the metadata DB; this test queues one the same way and runs ``airflow dag-processor``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_kaleyra._compat import AIRFLOW_RELEASE

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

pytestmark = pytest.mark.skipif(
    AIRFLOW_RELEASE < (3, 0),
    reason="Airflow 2.11 runs DAG callbacks in the scheduler's DAG file processor, for a run in the database: "
    "tests/deployment/test_notifier.py covers it there",
)

DAG_ID = "kaleyra_notify_in_dag_processor"
DAG_FILE = "kaleyra_notify.py"


def queue_dag_failure_callback() -> None:
    from airflow.callbacks.callback_requests import DagCallbackRequest
    from airflow.models.db_callback_request import DbCallbackRequest
    from airflow.utils.session import create_session

    request = DagCallbackRequest(
        filepath=DAG_FILE,
        bundle_name="dags-folder",
        bundle_version=None,
        dag_id=DAG_ID,
        run_id="manual__dag_processor_check",
        msg="task_failure",
        is_failure_callback=True,
    )
    with create_session() as session:
        session.add(DbCallbackRequest(callback=request, priority_weight=1))


def test_dag_callback_calls_once_and_logs_to_the_dag_processor_log(simulator: KaleyraSimulator) -> None:
    queue_dag_failure_callback()
    subprocess.run(
        [sys.executable, "-m", "airflow", "dag-processor", "--num-runs", "2"],
        env=os.environ.copy(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    [dial] = simulator.ledger()
    assert json.loads(dial["custom"])["text"] == f"{DAG_ID} failed: task_failure"
    logs = list(Path(os.environ["AIRFLOW_HOME"], "logs", "dag_processor").glob(f"*/dags-folder/{DAG_FILE}.log"))
    assert logs, "no DAG processor log for the DAG file"
    assert any("Kaleyra accepted the call to +918830907001" in log.read_text() for log in logs)
