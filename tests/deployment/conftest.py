"""One real Airflow deployment (and one simulator) for every test in this folder.

The deployment is session-scoped: it starts on the first test that asks for it and
stops, with every process it started, when the session ends, also after failures.
Select these tests with ``-m deployment``; leave them out with ``-m "not deployment"``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_kaleyra.simulator import KaleyraSimulator
from tests.deployment.airflow_deployment import AirflowDeployment
from tests.deployment.browser import Chromium, browser_missing

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.deployment.rest_client import AirflowClient

PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()

#: The DAGs the tests trigger; the deployment is ready once all of them are parsed.
NEEDED_DAGS = (
    "example_kaleyra_outbound_call",
    "example_kaleyra_redial_unanswered",
    "kaleyra_calls",
    "kaleyra_wait_until_deadline",
    "kaleyra_notify_task_failure",
    "kaleyra_notify_in_dag_processor",
    "kaleyra_escalation",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/deployment/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.deployment)


@pytest.fixture(scope="session")
def deployment_simulator() -> Iterator[KaleyraSimulator]:
    """The simulator the deployment's workers and triggerer call (in this process, on loopback)."""
    with KaleyraSimulator() as simulator:
        yield simulator


@pytest.fixture(scope="session")
def airflow_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDeployment]:
    """API server, scheduler, DAG processor and triggerer, running until the session ends."""
    deployment = AirflowDeployment(tmp_path_factory.mktemp("airflow-deployment"))
    try:
        deployment.start(NEEDED_DAGS)
        yield deployment
    finally:
        survivors = deployment.stop()
    # Reached only when start and the tests' use of it went through: a leftover process is an error.
    assert not survivors, f"processes left behind after stopping the deployment: {survivors}"


@pytest.fixture
def airflow_api(airflow_deployment: AirflowDeployment, deployment_simulator: KaleyraSimulator) -> AirflowClient:
    """The REST client, with ``kaleyra_default`` pointing at the simulator and an empty ledger."""
    deployment_simulator.reset()
    client = airflow_deployment.client
    client.put_connection("kaleyra_default", conn_type="kaleyra", **connection_fields(deployment_simulator))
    return client


def connection_fields(simulator: KaleyraSimulator, **overrides: object) -> dict[str, object]:
    conn = simulator.connection_dict()
    fields: dict[str, object] = {"login": conn["login"], "password": conn["password"], "extra": conn["extra"]}
    fields.update(overrides)
    return fields


ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture
def chromium(request: pytest.FixtureRequest) -> Iterator[Chromium]:
    """Headless Chromium; on a failed test its last screen is kept in ``.artifacts/``."""
    reason = browser_missing()
    if reason:
        pytest.fail(reason)
    shot = ARTIFACTS / f"{request.node.name}.png"
    shot.unlink(missing_ok=True)  # a screenshot from an earlier failure must not look current
    browser = Chromium()
    try:
        yield browser
    finally:
        reports = request.node.stash.get(PHASE_REPORTS, {})
        if any(r.failed for r in reports.values()):
            browser.screenshot(shot)
            print(f"screenshot of the failed test: {shot}")
        browser.quit()
