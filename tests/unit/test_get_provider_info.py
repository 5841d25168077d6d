from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_kaleyra.get_provider_info import get_provider_info
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook


def test_validates_against_the_installed_airflow_schema() -> None:
    schema = json.loads((resources.files("airflow") / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_entry_point_points_at_get_provider_info() -> None:
    ours = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_kaleyra")]
    [entry] = ours
    assert entry.load()() == get_provider_info()


def test_connection_form_declares_the_kaleyra_fields() -> None:
    [conn] = get_provider_info()["connection-types"]
    assert (conn["connection-type"], conn["hook-name"]) == ("kaleyra", "Kaleyra")
    fields = conn["conn-fields"]
    assert fields["region"]["schema"]["enum"] == ["SG", "IN", "EU", "NA"]
    assert set(fields) == {"region", "base_url", "timeout", "timezone"}
    assert fields["timezone"]["schema"]["type"] == ["string", "null"]
    behaviour = conn["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"login": "Account SID", "password": "API key"}
    assert behaviour["placeholders"]["login"] == "HXIN169510844XXX"
    assert {"host", "schema", "port", "extra"} <= set(behaviour["hidden-fields"])


def test_legacy_ui_behaviour_matches_the_declaration() -> None:
    [conn] = get_provider_info()["connection-types"]
    legacy = KaleyraHook.get_ui_field_behaviour()
    assert legacy["hidden_fields"] == conn["ui-field-behaviour"]["hidden-fields"]
    assert legacy["relabeling"] == conn["ui-field-behaviour"]["relabeling"]


def test_providers_manager_reads_the_form() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert manager.hooks["kaleyra"].hook_name == "Kaleyra"
    if not hasattr(manager, "_load_ui_metadata"):
        pytest.skip("this Airflow reads the form from the hook's classmethods (needs the FAB UI packages)")
    widgets = manager.connection_form_widgets
    assert {
        "extra__kaleyra__region",
        "extra__kaleyra__base_url",
        "extra__kaleyra__timeout",
        "extra__kaleyra__timezone",
    } <= set(widgets)
    assert manager.field_behaviours["kaleyra"]["relabeling"]["login"] == "Account SID"


def airflow_cli(*args: str) -> str:
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "airflow"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"},
        timeout=300,
        check=True,
    )
    return result.stdout


def test_airflow_providers_list_and_hooks_show_kaleyra() -> None:
    providers = airflow_cli("providers", "list", "--output", "json")
    [ours] = [p for p in json.loads(providers) if p["package_name"] == "airflow-provider-kaleyra"]
    assert ours["version"] == "0.1.0"
    hooks = airflow_cli("providers", "hooks", "--output", "json")
    [kaleyra] = [h for h in json.loads(hooks) if h["connection_type"] == "kaleyra"]
    assert kaleyra["class"] == "airflow_provider_kaleyra.hooks.kaleyra.KaleyraHook"


def test_notifier_is_registered_and_importable() -> None:
    from airflow.providers_manager import ProvidersManager

    path = "airflow_provider_kaleyra.notifications.kaleyra.KaleyraCallNotifier"
    escalation = "airflow_provider_kaleyra.notifications.escalation.KaleyraEscalationNotifier"
    assert get_provider_info()["notifications"] == [path, escalation]
    assert path in ProvidersManager().notification
    assert escalation in ProvidersManager().notification
