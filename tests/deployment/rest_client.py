"""A small client for the parts of Airflow's REST API the deployment tests use.

Airflow 3 (API v2): the simple auth manager's ``POST /auth/token`` with user name and
password answers a JWT, sent as a bearer token with every request. Airflow 2.11 (API
v1, the webserver): basic auth, XComs asked for deserialized, logs as plain text.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

if TYPE_CHECKING:
    from collections.abc import Callable

TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class ApiError(AssertionError):
    """The API answered with an unexpected status; carries the status and the body."""

    def __init__(self, method: str, path: str, response: requests.Response) -> None:
        super().__init__(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        self.status = response.status_code
        self.body = response.text


@dataclass
class RunObservation:
    """How a DAG run ended, and every state a task instance was seen in on the way."""

    state: str
    seen_states: dict[str, list[str]]


class AirflowClient:
    """REST API v2 of one Airflow deployment.

    :param base_url: the API server, e.g. ``http://127.0.0.1:8080``.
    :param username: a simple-auth-manager user.
    :param password: that user's password.
    """

    def __init__(self, base_url: str, username: str, password: str, api_version: int = 2) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        #: The path every REST resource is under: ``/api/v2`` or ``/api/v1``.
        self.api = f"/api/v{api_version}"
        self.username = username
        self.password = password
        self.session = requests.Session()

    # ------------------------------------------------------------------ plumbing

    def login(self) -> str:
        if self.api_version == 1:
            self.session.auth = (self.username, self.password)
            return ""
        response = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=30,
        )
        if response.status_code != 201:
            raise ApiError("POST", "/auth/token", response)
        token = str(response.json()["access_token"])
        self.session.headers["Authorization"] = f"Bearer {token}"
        return token

    def request(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}{path}", timeout=60, **kwargs)
        if response.status_code not in expect:
            raise ApiError(method, path, response)
        return response.json() if response.content else None

    def healthy(self) -> bool:
        """True once the database, scheduler, triggerer and DAG processor report healthy."""
        try:
            health_path = "/health" if self.api_version == 1 else f"{self.api}/monitor/health"
            response = requests.get(f"{self.base_url}{health_path}", timeout=5)
        except requests.RequestException:
            return False
        if response.status_code != 200:
            return False
        health = response.json()
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        if self.api_version == 1:  # Airflow 2.11's DAG processor runs inside the scheduler
            parts = parts[:3]
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    # ------------------------------------------------------------------ resources

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.request("GET", f"{self.api}/dags", params={"limit": 100})["dags"]}

    def put_connection(self, connection_id: str, **fields: Any) -> dict[str, Any]:
        """Create ``connection_id`` (replacing one of that id); ``extra`` may be a dict."""
        body = {"connection_id": connection_id, **fields}
        if isinstance(body.get("extra"), dict):
            body["extra"] = json.dumps(body["extra"])
        self.request("DELETE", f"{self.api}/connections/{quote(connection_id)}", expect=(204, 404))
        return dict(self.request("POST", f"{self.api}/connections", json=body, expect=(200, 201)))

    def get_connection(self, connection_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"{self.api}/connections/{quote(connection_id)}"))

    def test_connection(self, connection_id: str, **fields: Any) -> dict[str, Any]:
        body = {"connection_id": connection_id, **fields}
        if isinstance(body.get("extra"), dict):
            body["extra"] = json.dumps(body["extra"])
        return dict(self.request("POST", f"{self.api}/connections/test", json=body))

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a run of ``dag_id`` now; return its run id."""
        body: dict[str, Any] = {"conf": conf or {}}
        if self.api_version == 2:
            body["logical_date"] = None
        run = self.request("POST", f"{self.api}/dags/{dag_id}/dagRuns", json=body, expect=(200,))
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.request("GET", f"{self.api}/dags/{dag_id}/dagRuns/{quote(run_id)}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"{self.api}/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances"
        return list(self.request("GET", path)["task_instances"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"{self.api}/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}"))

    def pool(self, name: str = "default_pool") -> dict[str, Any]:
        """A pool's slots: ``running_slots``, ``deferred_slots``, ``queued_slots``, ..."""
        return dict(self.request("GET", f"{self.api}/pools/{quote(name)}"))

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 180,
        poll: float = 0.3,
        on_sample: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> RunObservation:
        """Poll the run until it ends, noting each task's states as they change.

        :param on_sample: called with the task instances of every poll, to look closer
            at a moment (e.g. while a task is deferred).
        """
        seen: dict[str, list[str]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tis = self.task_instances(dag_id, run_id)
            if on_sample is not None:
                on_sample(tis)
            for ti in tis:
                key = ti["task_id"] if ti.get("map_index", -1) < 0 else f"{ti['task_id']}[{ti['map_index']}]"
                states = seen.setdefault(key, [])
                state = str(ti.get("state"))
                if not states or states[-1] != state:
                    states.append(state)
            state = self.run_state(dag_id, run_id)
            if state in TERMINAL_RUN_STATES:
                return RunObservation(state, seen)
            time.sleep(poll)
        raise TimeoutError(f"{dag_id} run {run_id} did not end within {timeout}s; task states seen: {seen}")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"{self.api}/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/xcomEntries/{key}"
        params = {"deserialize": "true", "stringify": "false"} if self.api_version == 1 else {}
        value = self.request("GET", path, params=params)["value"]
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task's log for one try as plain text, one line per event."""
        path = f"{self.api}/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}"
        body = self.request("GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"})
        content = body.get("content")
        if isinstance(content, str):
            return content
        lines = []
        for entry in content or []:
            if isinstance(entry, dict):
                lines.append(" ".join(str(v) for k, v in entry.items() if k not in ("timestamp",)))
            else:
                lines.append(str(entry))
        return "\n".join(lines)
