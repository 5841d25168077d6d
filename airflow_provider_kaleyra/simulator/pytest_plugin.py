"""pytest fixtures for the simulator.

Enable with ``pytest_plugins = ["airflow_provider_kaleyra.simulator.pytest_plugin"]``
in a root ``conftest.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_kaleyra.simulator.server import KaleyraSimulator, connection_env_var

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def kaleyra_simulator() -> Iterator[KaleyraSimulator]:
    """A started simulator with the default account, flows and bridges; stopped afterwards."""
    with KaleyraSimulator() as simulator:
        yield simulator


@pytest.fixture
def kaleyra_connection(
    kaleyra_simulator: KaleyraSimulator, monkeypatch: pytest.MonkeyPatch
) -> KaleyraSimulator:
    """The simulator, with ``kaleyra_default`` pointing at it through ``AIRFLOW_CONN_KALEYRA_DEFAULT``."""
    monkeypatch.setenv(connection_env_var(), kaleyra_simulator.airflow_connection_json())
    return kaleyra_simulator
