"""Run the example DAG end to end against the local Kaleyra simulator.

Run it inside the project's virtual environment (``python3 dev.py demo`` does that)::

    .venv/bin/python scripts/demo.py [--verbose]

It uses Airflow's embedded defaults (SQLite in a temporary AIRFLOW_HOME that is removed
afterwards), starts the simulator in this process, points the ``kaleyra_default``
connection at it, runs ``example_kaleyra_outbound_call`` once with ``dag.test()`` and
prints the run's state, the submission record, how every call ended (the task waits
for the outcomes in a deferred trigger) and what the simulator dialled.
It exits non-zero when the run did not succeed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = ROOT / "example_dags"
DAG_ID = "example_kaleyra_outbound_call"
TASK_ID = "place_calls"
CONN_ENV_VAR = "AIRFLOW_CONN_KALEYRA_DEFAULT"


def configure_airflow(home: Path, verbose: bool) -> None:
    """Airflow reads its configuration on import: this must run before ``import airflow``."""
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
    if not verbose:
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        # Airflow's own deprecation noise says nothing about this provider.
        warnings.simplefilter("ignore", DeprecationWarning)


def migrate_db() -> None:
    """``airflow db migrate`` with this interpreter's Airflow; output only on failure."""
    airflow = Path(sys.executable).parent / "airflow"
    cmd = [str(airflow), "db", "migrate"] if airflow.exists() else [sys.executable, "-m", "airflow", "db", "migrate"]
    proc = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    if proc.returncode != 0:
        print(proc.stdout, file=sys.stderr)
        raise SystemExit(f"demo: `{' '.join(cmd)}` failed with exit code {proc.returncode}")


def load_dag() -> Any:
    """Parse the dags folder, record it in the DB and return the DAG, as ``airflow dags test`` does.

    ``dag.test()`` only runs a DAG that is serialized in the metadata DB (Airflow 3.1
    does not do that itself), so go through the CLI's loader, which syncs the
    dags-folder bundle to the DB.
    """
    from airflow.utils.cli import get_bagged_dag

    try:
        return get_bagged_dag(bundle_names=None, dag_id=DAG_ID)
    except Exception as exc:  # AirflowException; its home differs between 3.1 and 3.3
        print(f"demo: {exc}", file=sys.stderr)
        show_import_errors()
        raise SystemExit(f"demo: DAG {DAG_ID!r} could not be loaded from {DAGS_FOLDER}") from None


def show_import_errors() -> None:
    try:  # Airflow 3.2+
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    # Examples are off through AIRFLOW__CORE__LOAD_EXAMPLES.
    for path, error in DagBag(dag_folder=str(DAGS_FOLDER)).import_errors.items():
        print(f"demo: import error in {path}:\n{error}", file=sys.stderr)


def xcom_value(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    ti = dag_run.get_task_instance(task_id)
    if ti is None:
        return None
    return ti.xcom_pull(task_ids=task_id, key=key)


def state_name(state: Any) -> str:
    return str(getattr(state, "value", state))


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    header = [title for _, title in columns]
    body = [["" if row.get(key) is None else str(row[key]) for key, _ in columns] for row in rows]
    widths = [max(len(cell) for cell in col) for col in zip(header, *body, strict=True)]
    print(("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))).rstrip())
    print("  " + "  ".join("-" * w for w in widths))
    for cells in body:
        print(("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))).rstrip())


def run(verbose: bool) -> int:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

    simulator = KaleyraSimulator()
    simulator.start()
    try:
        os.environ[CONN_ENV_VAR] = simulator.airflow_connection_json()
        print(f"demo: simulator listening on {simulator.url}")
        print("demo: migrating Airflow's metadata DB (SQLite)")
        migrate_db()

        dag = load_dag()
        print(f"demo: running {DAG_ID} with its default params")
        dag_run = dag.test()

        state = state_name(dag_run.state)
        submission = xcom_value(dag_run, TASK_ID, key="submission")
        outcomes = xcom_value(dag_run, TASK_ID, key="outcomes")  # kept even when the policy fails the task
        ledger = simulator.ledger()
    finally:
        simulator.stop()

    print()
    print(f"DAG run      {dag_run.run_id}")
    print(f"state        {state}")
    print(f"{TASK_ID} submitted (XCom key 'submission'):")
    print(json.dumps(submission, indent=2, sort_keys=True, default=str))
    print(f"{TASK_ID} call outcomes (XCom key 'outcomes'):")
    if outcomes and outcomes.get("calls"):
        print_table(
            outcomes["calls"],
            [("number", "number"), ("status", "status"), ("category", "category"), ("duration", "duration (s)")],
        )
        print("  counts: " + ", ".join(f"{k}: {v}" for k, v in outcomes.get("counts", {}).items()))
    else:
        print("  (none: the task failed before the outcomes were known; see its log)")
    print(f"simulator ledger ({len(ledger)} dial{'s' if len(ledger) != 1 else ''}):")
    if ledger:
        print_table(ledger, [("number", "number"), ("flow_id", "flow"), ("bridge", "bridge"), ("time", "time")])
    else:
        print("  (nothing dialled)")

    if state != "success":
        print(f"\ndemo: FAILED: the DAG run ended {state!r}", file=sys.stderr)
        if not verbose:
            print("demo: rerun with --verbose to see Airflow's task logs", file=sys.stderr)
        return 1
    print("\ndemo: OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="show Airflow's INFO logs")
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary AIRFLOW_HOME")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="kaleyra-demo-airflow-home-"))
    configure_airflow(home, args.verbose)
    try:
        return run(args.verbose)
    finally:
        if args.keep_home:
            print(f"demo: AIRFLOW_HOME kept at {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
