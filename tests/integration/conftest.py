from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_kaleyra.simulator import KaleyraSimulator


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def simulator(airflow_db: object, kaleyra_connection: KaleyraSimulator) -> Iterator[KaleyraSimulator]:
    """The simulator as ``kaleyra_default``, with the metadata DB ready for ``dag.test()``."""
    return kaleyra_connection
