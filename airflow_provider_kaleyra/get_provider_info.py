"""What Airflow's providers manager reads: the connection type, its form, the classes."""

from __future__ import annotations

from typing import Any

from airflow_provider_kaleyra import __version__, wire

#: Extra fields of the ``kaleyra`` connection form (Airflow 3.2+ reads this
#: declaratively; the hook's classmethods serve older UIs from the same table).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "region": {
        "label": "Region",
        "description": "The Kaleyra.io region of the account: SG, IN, EU or NA.",
        "schema": {
            "type": ["string", "null"],
            "enum": list(wire.REGION_BASE_URLS),
            "default": wire.DEFAULT_REGION,
        },
    },
    "base_url": {
        "label": "Base URL override",
        "description": "Leave empty to use the region's API host; set it for a proxy or a local simulator.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "description": "How long to wait for Kaleyra's answer; 30 when empty.",
        "schema": {"type": ["number", "null"], "minimum": 1},
    },
    "timezone": {
        "label": "Account time zone",
        "description": "How call logs' times without an offset are read, e.g. Asia/Kolkata; UTC when empty.",
        "schema": {"type": ["string", "null"]},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "port", "extra"],
    "relabeling": {"login": "Account SID", "password": "API key"},
    "placeholders": {
        "login": "HXIN169510844XXX",
        "password": "Aaf0dff8cd58cf99cba958f8941d3XXX0",
        "region": "SG",
        "base_url": "https://api.ap.kaleyra.io/",
        "timeout": "30",
        "timezone": "UTC",
    },
}

_PKG = "airflow_provider_kaleyra"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-kaleyra",
        "name": "Kaleyra",
        "description": "Kaleyra.io voice: trigger Flow Builder call flows and wait for how the calls ended.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Kaleyra",
                "external-doc-url": "https://developers.kaleyra.io/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Kaleyra", "python-modules": [f"{_PKG}.hooks.kaleyra"]}],
        "operators": [
            {
                "integration-name": "Kaleyra",
                "python-modules": [f"{_PKG}.operators.kaleyra", f"{_PKG}.operators.escalation"],
            }
        ],
        "sensors": [{"integration-name": "Kaleyra", "python-modules": [f"{_PKG}.sensors.kaleyra"]}],
        "triggers": [
            {
                "integration-name": "Kaleyra",
                "python-modules": [f"{_PKG}.triggers.kaleyra", f"{_PKG}.triggers.escalation"],
            }
        ],
        "notifications": [
            f"{_PKG}.notifications.kaleyra.KaleyraCallNotifier",
            f"{_PKG}.notifications.escalation.KaleyraEscalationNotifier",
        ],
        "connection-types": [
            {
                "connection-type": "kaleyra",
                "hook-class-name": f"{_PKG}.hooks.kaleyra.KaleyraHook",
                "hook-name": "Kaleyra",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
