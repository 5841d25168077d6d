"""Run a DAG from the test dags folder through Airflow's own ``dag.test()``.

``dag.test()`` runs the scheduler loop and the tasks in this process, against the
SQLite metadata DB in the tests' private AIRFLOW_HOME; retries happen through
Airflow, not by calling ``execute`` again.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kaleyra._compat import AIRFLOW_RELEASE

DAGS = Path(__file__).resolve().parent / "dags"


@dataclass
class TaskResult:
    state: str | None
    try_number: int
    xcom: Any


@dataclass
class DagResult:
    state: str
    tasks: dict[str, TaskResult]
    dag_id: str = ""
    run_id: str = ""

    def task(self, task_id: str) -> TaskResult:
        return self.tasks[task_id]


def task_output(capfd: pytest.CaptureFixture[str]) -> str:
    """What the run's tasks logged: ``dag.test()`` prints it (stdout and stderr together).

    Airflow 3.0's in-process test supervisor prints the task logs in some runs only, and
    then with its debug lines, which carry the values it is asked to mask: the checks of
    log text are skipped there (the run's state, dials and XComs are checked before).
    """
    if AIRFLOW_RELEASE[:2] == (3, 0):
        pytest.skip("Airflow 3.0's dag.test() does not reliably print task logs; log text checked on 2.11, 3.1, 3.3")
    captured = capfd.readouterr()
    return captured.out + captured.err


def load_dag(filename: str, dag_id: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"kaleyra_test_dag_{Path(filename).stem}", DAGS / filename)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
            return value
    raise LookupError(f"{dag_id} not in {filename}")


def xcom(result: DagResult, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """An XCom value of one task instance of the run, under ``key``."""
    return _xcom(result.dag_id, result.run_id, task_id, map_index, key)


def _xcom(dag_id: str, run_id: str, task_id: str, map_index: int, key: str = "return_value") -> Any:
    from airflow.models.xcom import XCom
    from airflow.utils.session import create_session
    from sqlalchemy import select

    model = getattr(XCom, "__table__", None) is not None and XCom
    if not model:
        from airflow.models.xcom import XComModel as model  # type: ignore[no-redef]
    with create_session() as session:
        value = session.scalar(
            select(model.value).where(
                model.dag_id == dag_id,
                model.run_id == run_id,
                model.task_id == task_id,
                model.map_index == map_index,
                model.key == key,
            )
        )
    if value is None:
        return None
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def run_dag(
    filename: str, dag_id: str, conf: dict[str, Any] | None = None, *, logical_date: Any = None
) -> DagResult:
    """One run of the DAG. Given the ``logical_date`` of an earlier run, it runs that same
    DAG run again, as a user's clear and re-run does: same task instances, same stored state."""
    assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS)
    dag = load_dag(filename, dag_id)
    # The run id comes from run_after: the same date for both names the same run.
    options = {"logical_date": logical_date, "run_after": logical_date} if logical_date is not None else {}
    dag_run = dag.test(run_conf=conf or {}, **options)
    tasks = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        tasks[key] = TaskResult(
            state=str(ti.state) if ti.state else None,
            try_number=ti.try_number,
            xcom=_xcom(dag_id, dag_run.run_id, ti.task_id, ti.map_index),
        )
    return DagResult(state=str(dag_run.state), tasks=tasks, dag_id=dag_id, run_id=dag_run.run_id)


def stored_batches(result: DagResult, task_id: str = "call") -> dict[str, Any]:
    """The at-most-once entries a task instance left, from whichever store Airflow has.

    The task state store (Airflow 3.3+), else the task instance's Variable.
    """
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_kaleyra import batch_state, wire

    found: dict[str, Any] = {}
    with create_session() as session:
        try:
            from airflow.models.task_state_store import TaskStateStoreModel
        except ImportError:
            pass
        else:
            rows = session.execute(
                select(TaskStateStoreModel.key, TaskStateStoreModel.value).where(
                    TaskStateStoreModel.dag_id == result.dag_id,
                    TaskStateStoreModel.run_id == result.run_id,
                    TaskStateStoreModel.task_id == task_id,
                )
            )
            found.update({key: json.loads(value) for key, value in rows})
        name = batch_state.VARIABLE_PREFIX + wire.correlation_token(result.dag_id, result.run_id, task_id, -1)
        stored = session.scalar(select(Variable).where(Variable.key == name))
        if stored is not None:
            found.update(json.loads(stored.val))
    return {key: value for key, value in found.items() if key.startswith("kaleyra_batch_")}
