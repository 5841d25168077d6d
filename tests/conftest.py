"""Test-wide setup: a private AIRFLOW_HOME and dags folder, set before Airflow is imported."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_DAGS = Path(__file__).resolve().parent / "integration" / "dags"

# Airflow reads its configuration once, at import; these must win over a user's setup.
# Never a developer's own home: the tests create a database and connections.
os.environ["AIRFLOW_HOME"] = os.environ.get("KALEYRA_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(
    prefix="kaleyra-airflow-home-"
)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(TEST_DAGS)
os.environ.pop("AIRFLOW_CONN_KALEYRA_DEFAULT", None)

# [START howto_simulator_pytest_plugin]
pytest_plugins = ["airflow_provider_kaleyra.simulator.pytest_plugin"]
# [END howto_simulator_pytest_plugin]


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """An initialised SQLite metadata DB in the private AIRFLOW_HOME (for dag.test)."""
    home = Path(os.environ["AIRFLOW_HOME"])
    if not (home / ".db-ready").exists():
        # Airflow < 3.2 does not serialise the DAG in dag.test(): the dags folder is
        # serialised once up front, as a DAG processor would.
        for command in (["db", "migrate"], ["dags", "reserialize"]):
            subprocess.run(
                [sys.executable, "-m", "airflow", *command],
                check=True,
                capture_output=True,
                env=os.environ.copy(),
            )
        (home / ".db-ready").touch()
    return home
