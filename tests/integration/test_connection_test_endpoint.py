"""What Airflow's connection-test endpoint does with a Kaleyra connection, as the UI's button calls it.

Airflow's own API app runs in this process (FastAPI's test client); the hook it builds
speaks HTTP to the simulator. The documentation's connection page states these results.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import pytest
from packaging.version import Version

from airflow_provider_kaleyra._compat import AIRFLOW_RELEASE

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator

STORED_ID = "kaleyra_probe"

# The FastAPI app and its REST API v2 are Airflow 3's; 2.11's webserver speaks v1.
pytestmark = pytest.mark.skipif(AIRFLOW_RELEASE < (3, 0), reason="Airflow 2.11 has no FastAPI API server")


@pytest.fixture
def api(airflow_db: object, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    return TestClient(create_app(apps="core"))


def ui_body(simulator: KaleyraSimulator, password: str) -> dict[str, Any]:
    """The fields the connection form posts for an edited, stored connection (hidden ones blank)."""
    conn = simulator.connection_dict()
    return {
        "connection_id": STORED_ID,
        "conn_type": "kaleyra",
        "host": "",
        "port": 0,
        "schema": "",
        "login": conn["login"],
        "password": password,
        "extra": json.dumps(conn["extra"]),
    }


def test_a_test_request_with_the_masked_key_fails_and_one_with_the_key_succeeds(
    api: Any, simulator: KaleyraSimulator
) -> None:
    conn = simulator.connection_dict()
    api.delete(f"/api/v2/connections/{STORED_ID}")
    stored = {k: v for k, v in ui_body(simulator, conn["password"]).items() if k not in ("host", "port", "schema")}
    assert api.post("/api/v2/connections", json=stored).status_code == 201

    masked = api.post("/api/v2/connections/test", json=ui_body(simulator, "***"))
    if Version(version("apache-airflow")) >= Version("3.3"):
        # port 0 differs from the stored (empty) port, and "***" is not a key: refused.
        assert masked.status_code == 400, masked.text
        assert "differs from the stored connection" in masked.json()["detail"]
    else:
        # The fields are tested as sent: "***" is a wrong key.
        assert masked.status_code == 200, masked.text
        assert masked.json()["status"] is False
        assert "RBC001" in masked.json()["message"]

    with_key = api.post("/api/v2/connections/test", json=ui_body(simulator, conn["password"]))
    assert with_key.status_code == 200, with_key.text
    assert with_key.json()["status"] is True
    assert f"as {simulator.sid}: 2 subscribed numbers" in with_key.json()["message"]
    assert simulator.request_count("voice/outbound") == 0  # a test never places a call
