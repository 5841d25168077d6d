"""The Kaleyra connection form in the Airflow UI, in headless Chromium, as a user fills it.

Airflow 3.2+ builds the form from the provider's ``conn-fields`` and ``ui-field-behaviour``:
a Region drop-down, "Account SID" and "API key" with placeholders, host/port/schema hidden.
Airflow 3.1 reads only the hook's ``get_connection_form_widgets``/``get_ui_field_behaviour``,
and only when Flask-AppBuilder and WTForms are installed, which a plain Airflow 3.1 is not:
its UI offers "Kaleyra" with the generic fields, the region going into the extra JSON.
Airflow 2.11's Flask-AppBuilder UI builds the Kaleyra form from those two classmethods.
Each form is tested as what it is, and each must give a connection a DAG run can use.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra._compat import AIRFLOW_RELEASE
from airflow_provider_kaleyra.get_provider_info import UI_FIELD_BEHAVIOUR
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE
from tests.deployment.airflow_deployment import PASSWORD, USERNAME
from tests.deployment.browser import AirflowUi, FabUi, wait_for

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator
    from tests.deployment.airflow_deployment import AirflowDeployment
    from tests.deployment.browser import Chromium

pytestmark = pytest.mark.browser


def airflow_reads_conn_fields() -> bool:
    from airflow import __version__

    return Version(Version(__version__).base_version) >= Version("3.2.0")


EXAMPLE = "example_kaleyra_outbound_call"
NUMBERS = ["+918830907021", "+918830907022"]


def run_example_with(deployment: AirflowDeployment, simulator: KaleyraSimulator) -> None:
    """The connection saved in the form places the example DAG's calls."""
    client = deployment.client
    run_id = client.trigger(EXAMPLE, {"to": NUMBERS, "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID})
    run = client.wait_for_run(EXAMPLE, run_id)
    assert run.state == "success", run.seen_states
    assert [simulator.dials_to(n) for n in NUMBERS] == [1, 1]


@pytest.fixture
def fab_ui(
    airflow_deployment: AirflowDeployment, deployment_simulator: KaleyraSimulator, chromium: Chromium
) -> FabUi:
    """Logged into Airflow 2.11's UI, with no ``kaleyra_default`` yet."""
    deployment_simulator.reset()
    client = airflow_deployment.client
    client.request("DELETE", f"{client.api}/connections/kaleyra_default", expect=(204, 404))
    page = FabUi(chromium.driver, airflow_deployment.base_url)
    page.log_in(USERNAME, PASSWORD)
    return page


@pytest.mark.skipif(AIRFLOW_RELEASE >= (3, 0), reason="Airflow 3's UI is tested below")
def test_kaleyra_form_on_airflow_2_11(
    fab_ui: FabUi, airflow_deployment: AirflowDeployment, deployment_simulator: KaleyraSimulator
) -> None:
    form = fab_ui.open_add_connection()
    fab_ui.choose_connection_type(form, "Kaleyra")

    # Standard fields relabelled, with placeholders; host, port, schema and the extra JSON hidden.
    labels = wait_for("the Kaleyra fields", lambda: (lambda found: found if "Region" in found else None)(
        fab_ui.visible_labels(form)))  # fmt: skip
    assert {"Account SID", "API key", "Region", "Base URL override", "Request timeout (seconds)"} <= set(labels)
    assert not {"Host", "Port", "Schema", "Login", "Password", "Extra"} & set(labels)
    for hidden in ("host", "port", "schema", "extra"):
        assert not fab_ui.field(form, hidden).is_displayed(), hidden
    login, password = fab_ui.field(form, "login"), fab_ui.field(form, "password")
    assert login.get_attribute("placeholder") == UI_FIELD_BEHAVIOUR["placeholders"]["login"]
    assert password.get_attribute("type") == "password"
    region = fab_ui.field(form, "extra__kaleyra__region")
    assert region.get_attribute("value") == "SG"  # the default the form offers
    fab_ui.field(form, "conn_id").send_keys("kaleyra_default")
    login.send_keys(deployment_simulator.sid)
    password.send_keys(deployment_simulator.api_key)
    region.clear()
    region.send_keys("IN")
    fab_ui.field(form, "extra__kaleyra__base_url").send_keys(deployment_simulator.url)

    fab_ui.save(form)
    saved = wait_for_connection(airflow_deployment, "kaleyra_default")
    assert (saved["conn_type"], saved["login"]) == ("kaleyra", deployment_simulator.sid)
    extra = json.loads(str(saved["extra"]))
    assert (extra["region"], extra["base_url"]) == ("IN", deployment_simulator.url)
    run_example_with(airflow_deployment, deployment_simulator)


@pytest.fixture
def ui(
    airflow_deployment: AirflowDeployment, deployment_simulator: KaleyraSimulator, chromium: Chromium
) -> AirflowUi:
    """Logged into the UI, with no ``kaleyra_default`` yet: the form is what creates it."""
    deployment_simulator.reset()
    client = airflow_deployment.client
    client.request("DELETE", f"{client.api}/connections/kaleyra_default", expect=(204, 404))
    page = AirflowUi(chromium.driver, airflow_deployment.base_url)
    page.log_in(USERNAME, PASSWORD)
    return page


@pytest.mark.skipif(not airflow_reads_conn_fields(), reason="Airflow 3.0 and 3.1 do not read conn-fields")
def test_kaleyra_form_on_airflow_3_2_and_later(
    ui: AirflowUi, airflow_deployment: AirflowDeployment, deployment_simulator: KaleyraSimulator
) -> None:
    dialog = ui.open_add_connection()
    ui.choose_connection_type(dialog, "Kaleyra")

    # Standard fields: relabelled, with placeholders; host, port and schema hidden.
    labels = ui.visible_labels(dialog)
    assert "Account SID" in labels
    assert "API key" in labels
    for hidden in ("Host", "Port", "Schema", "Login", "Password"):
        assert hidden not in labels
    for name in ("host", "port", "schema"):
        assert all(not e.is_displayed() for e in dialog.find_elements("name", name)), name
    login, password = ui.field(dialog, "login"), ui.field(dialog, "password")
    assert login.get_attribute("placeholder") == UI_FIELD_BEHAVIOUR["placeholders"]["login"]
    assert password.get_attribute("placeholder") == UI_FIELD_BEHAVIOUR["placeholders"]["password"]
    assert password.get_attribute("type") == "password"
    ui.type_into(ui.field(dialog, "connection_id"), "kaleyra_default")
    ui.type_into(login, deployment_simulator.sid)
    ui.type_into(password, deployment_simulator.api_key)

    # Extra fields: the region drop-down offers exactly the four regions, SG preselected.
    ui.button("Extra Fields", dialog).click()
    labels = ui.visible_labels(dialog)
    assert {"Region", "Base URL override", "Request timeout (seconds)"} <= set(labels)
    region = dialog.find_element("id", "element_region")
    assert region.find_element("css selector", "input[name=element_region]").get_attribute("value") == "SG"
    assert ui.choose(region, "IN") == list(wire.REGION_BASE_URLS) == ["SG", "IN", "EU", "NA"]
    ui.type_into(ui.field(dialog, "element_base_url"), deployment_simulator.url)

    ui.save(dialog)
    saved = wait_for_connection(airflow_deployment, "kaleyra_default")
    assert (saved["conn_type"], saved["login"]) == ("kaleyra", deployment_simulator.sid)
    extra = json.loads(saved["extra"])
    assert (extra["region"], extra["base_url"]) == ("IN", deployment_simulator.url)
    assert extra.get("timeout") is None  # left empty: the UI stores null, the hook then uses 30 s
    run_example_with(airflow_deployment, deployment_simulator)


@pytest.mark.skipif(
    airflow_reads_conn_fields() or AIRFLOW_RELEASE < (3, 0), reason="Airflow 2.11 and 3.2+ show the Kaleyra form"
)
def test_generic_form_on_airflow_3_1(
    ui: AirflowUi, airflow_deployment: AirflowDeployment, deployment_simulator: KaleyraSimulator
) -> None:
    dialog = ui.open_add_connection()
    ui.choose_connection_type(dialog, "Kaleyra")

    # What a 3.1 user sees: the generic fields, no relabelling, no placeholders, no region field.
    labels = ui.visible_labels(dialog)
    assert {"Host", "Login", "Password", "Port", "Schema"} <= set(labels)
    assert not {"Account SID", "API key", "Region"} & set(labels)
    assert ui.field(dialog, "login").get_attribute("placeholder") in ("", None)

    ui.type_into(ui.field(dialog, "connection_id"), "kaleyra_default")
    ui.type_into(ui.field(dialog, "login"), deployment_simulator.sid)
    ui.type_into(ui.field(dialog, "password"), deployment_simulator.api_key)
    ui.button("Extra Fields JSON", dialog).click()
    extra = {"region": "IN", "base_url": deployment_simulator.url}
    ui.fill_extra_json(dialog, json.dumps(extra))

    ui.save(dialog)
    saved = wait_for_connection(airflow_deployment, "kaleyra_default")
    assert (saved["conn_type"], saved["login"]) == ("kaleyra", deployment_simulator.sid)
    assert json.loads(saved["extra"]) == extra
    run_example_with(airflow_deployment, deployment_simulator)


def wait_for_connection(deployment: AirflowDeployment, conn_id: str) -> dict[str, object]:
    from tests.deployment.rest_client import ApiError

    def saved() -> dict[str, object] | None:
        try:
            return deployment.client.get_connection(conn_id)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    return dict(wait_for(f"the connection {conn_id!r} to be saved", saved, timeout=20))
