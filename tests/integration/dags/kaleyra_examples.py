"""The example DAGs that integration tests run, loaded into this dags folder.

``dag.test()`` runs DAGs of the configured dags folder (this one). A deployment copies
the examples beside this file; then they are already in the folder and nothing is
loaded twice.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Also what makes Airflow's DAG discovery (airflow + dag in the text) read this file.
    from airflow.providers.common.compat.sdk import DAG

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[2] / "example_dags"


def example_dag(name: str) -> DAG | None:
    """The ``dag`` of ``example_dags/<name>.py``, unless that file is in this folder already."""
    source = EXAMPLES / f"{name}.py"
    if (HERE / f"{name}.py").exists() or not source.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"kaleyra_{name}", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag: DAG = module.dag
    return dag


redial_unanswered = example_dag("example_kaleyra_redial_unanswered")
outbound_call = example_dag("example_kaleyra_outbound_call")
call_status_sensor = example_dag("example_kaleyra_call_status_sensor")
call_on_failure = example_dag("example_kaleyra_call_on_failure")
escalation = example_dag("example_kaleyra_escalation")
