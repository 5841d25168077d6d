from __future__ import annotations

import pytest

from .fakes import connection_json


@pytest.fixture
def kaleyra_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", connection_json())
    return "kaleyra_default"
