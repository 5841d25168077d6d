"""A real Airflow deployment on loopback: API server, scheduler, DAG processor, triggerer.

The components run as separate processes (as users run them), with the embedded
defaults: SQLite, LocalExecutor, AIRFLOW_HOME in a temporary folder, free ports. On
Airflow 2.11 the API server is the webserver (REST API v1, basic auth, the
Flask-AppBuilder UI), the executor the SequentialExecutor and the DAG processor
the scheduler's own (2.11 refuses the LocalExecutor and a standalone DAG processor
on SQLite). The
dags folder holds copies of the example DAGs and the test DAGs. Every process is
started in its own process group and stopped, with all it spawned, by :meth:`stop`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_kaleyra._compat import AIRFLOW_RELEASE
from tests.deployment import processes
from tests.deployment.rest_client import AirflowClient

if TYPE_CHECKING:
    from collections.abc import Iterable

REPO = Path(__file__).resolve().parents[2]
DAG_SOURCES = (REPO / "example_dags", REPO / "tests" / "integration" / "dags")

USERNAME = "admin"
PASSWORD = "kaleyra-deployment-test"  # a throw-away password of a throw-away deployment
AIRFLOW_2 = AIRFLOW_RELEASE < (3, 0)
AIRFLOW_3_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
COMPONENTS = ("webserver", "scheduler", "triggerer") if AIRFLOW_2 else AIRFLOW_3_COMPONENTS


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_dags(target: Path, sources: Iterable[Path] = DAG_SOURCES) -> list[str]:
    """Copy every DAG file into ``target``; return the file names."""
    target.mkdir(parents=True, exist_ok=True)
    names = []
    for folder in sources:
        for path in sorted(folder.glob("*.py")):
            if path.name != "__init__.py":
                shutil.copy2(path, target / path.name)
                names.append(path.name)
    return names


def deployment_env(home: Path, port: int) -> dict[str, str]:
    """The environment of every component: the caller's, minus its Airflow settings and
    PYTHONPATH, plus ours."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_", "AIRFLOW__", "KALEYRA_TEST_")) and k != "PYTHONPATH"
    }
    base_url = f"http://127.0.0.1:{port}"
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USERNAME: PASSWORD}))
    settings = {
        # The provider of this checkout, the one under test, even when the venv's editable
        # install points at another checkout of the repository.
        "PYTHONPATH": str(REPO),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        # Shared by every component: the scheduler signs task tokens the API server checks.
        "AIRFLOW__API_AUTH__JWT_SECRET": "kaleyra-deployment-test-jwt-secret-0123456789",
        "AIRFLOW__API__SECRET_KEY": "kaleyra-deployment-test-secret-key",
        # Short intervals: a test waits for new DAG files, runs and deferrals, not minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # The log servers of the scheduler (task logs) and triggerer listen too: free ports, not 8793/8794.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "NO_COLOR": "1",
        # Airflow 2.11's executor starts each task as `airflow tasks run ...`: this venv's airflow.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if AIRFLOW_2:
        settings.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
                "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(port),
                "AIRFLOW__WEBSERVER__BASE_URL": base_url,
                "AIRFLOW__WEBSERVER__WORKERS": "1",
                "AIRFLOW__WEBSERVER__SECRET_KEY": "kaleyra-deployment-test-secret-key",
                "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
                "AIRFLOW__API__ENABLE_XCOM_DESERIALIZE_SUPPORT": "True",
                "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "30",
            }
        )
        del settings["AIRFLOW__CORE__AUTH_MANAGER"]  # 2.11's own (Flask-AppBuilder) manages users
    env.update(settings)
    return env


class AirflowDeployment:
    """The running deployment: where it lives, how to reach it, and how to stop it.

    :param home: an empty folder to be AIRFLOW_HOME (database, logs, dags, config).
    :param python: the interpreter whose Airflow runs the components.
    """

    def __init__(self, home: Path, python: str = sys.executable) -> None:
        self.home = home
        self.python = python
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = deployment_env(home, self.port)
        self.components: dict[str, processes.Component] = {}
        self.dag_files: list[str] = []
        self.startup_seconds = 0.0
        self._client: AirflowClient | None = None

    @property
    def client(self) -> AirflowClient:
        """The REST client of the started deployment, logged in as its admin."""
        if self._client is None:
            raise RuntimeError("the deployment is not started")
        return self._client

    # ------------------------------------------------------------------ lifecycle

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run one ``airflow`` CLI command in the deployment's environment; return its output."""
        proc = subprocess.run(
            [self.python, "-m", "airflow", *args],
            cwd=self.home,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def start(self, dag_ids: Iterable[str], timeout: float = 240) -> AirflowClient:
        """Migrate the database, start the components, wait for health and the DAGs.

        :param dag_ids: DAGs the tests need; start returns once each is parsed.
        :return: a REST client logged in as the deployment's admin.
        """
        t0 = time.monotonic()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.dag_files = copy_dags(self.home / "dags")
        self.airflow("db", "migrate")
        if AIRFLOW_2:
            self.airflow(
                "users", "create", "--username", USERNAME, "--password", PASSWORD, "--role", "Admin",
                "--firstname", "Kaleyra", "--lastname", "Test", "--email", "admin@example.com",
            )  # fmt: skip
        for name in COMPONENTS:
            self.components[name] = processes.start(
                name,
                [self.python, "-m", "airflow", name],
                self.env,
                self.home,
                self.home / "logs",
            )
        deadline = time.monotonic() + timeout
        client = AirflowClient(self.base_url, USERNAME, PASSWORD, api_version=1 if AIRFLOW_2 else 2)
        self._wait(lambda: client.healthy(), deadline, "the API server and all components to be healthy")
        client.login()
        wanted = set(dag_ids)
        self._wait(lambda: wanted <= client.dag_ids(), deadline, f"the DAGs {sorted(wanted)} to be parsed")
        self.startup_seconds = time.monotonic() - t0
        self._client = client
        return client

    def _wait(self, ready: object, deadline: float, what: str) -> None:
        assert callable(ready)
        while time.monotonic() < deadline:
            for component in self.components.values():
                component.remember_children()
                if component.process.poll() is not None:
                    raise RuntimeError(
                        f"{component.name} exited with {component.process.returncode} while waiting for {what}:\n"
                        + component.log_tail()
                    )
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"gave up waiting for {what}\n" + self.log_tails())

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(
            f"----- {c.name} ({c.log_path}) -----\n{c.log_tail(lines)}" for c in self.components.values()
        )

    def stop(self) -> dict[str, set[int]]:
        """Stop every component and what it spawned.

        :return: component name -> pids that survived (empty when all is gone).
        """
        components = list(self.components.values())
        self.components.clear()
        return processes.stop_all(components)

    def remember_children(self) -> None:
        for component in self.components.values():
            component.remember_children()
