"""_compat: the Airflow names common-compat lacks are where this Airflow keeps them.

Each test fails when an Airflow release moves or reshapes a name the package relies on,
so the move is seen here rather than as a campaign that can no longer protect a POST.
"""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys

import pytest

from airflow_provider_kaleyra import _compat


def test_below_the_floor_the_import_error_names_both_versions() -> None:
    code = "import airflow; airflow.__version__ = '2.10.5'; import airflow_provider_kaleyra._compat"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: airflow-provider-kaleyra needs apache-airflow>=2.11.0")
    assert "this environment has 2.10.5" in last


def test_every_module_imports_on_this_airflow() -> None:
    for module in ("hooks.kaleyra", "hooks.kaleyra_async", "operators.kaleyra", "sensors.kaleyra",
                   "triggers.kaleyra", "notifications.kaleyra"):
        importlib.import_module(f"airflow_provider_kaleyra.{module}")


@pytest.mark.skipif(_compat.AIRFLOW_RELEASE < (3, 0), reason="Airflow 2.11 writes Variables with Variable.set")
def test_the_raising_variable_write_is_where_airflow_3_keeps_it() -> None:
    from airflow.sdk.execution_time.context import _set_variable

    assert list(inspect.signature(_set_variable).parameters)[:3] == ["key", "value", "description"]


@pytest.mark.skipif(_compat.AIRFLOW_RELEASE >= (3, 0), reason="Airflow 3 writes through _set_variable")
def test_airflow_2_variable_set_takes_a_description() -> None:
    assert "description" in inspect.signature(_compat.Variable.set).parameters


def test_the_task_state_store_marker_is_airflows_own_where_the_store_exists() -> None:
    try:
        from airflow.sdk.execution_time.context import NEVER_EXPIRE
    except ImportError:
        assert not _compat.HAS_TASK_STATE_STORE
        return
    assert _compat.HAS_TASK_STATE_STORE
    assert _compat.never_expire() is NEVER_EXPIRE


def test_deadline_alerts_are_said_to_exist_exactly_where_they_do() -> None:
    try:
        from airflow.sdk.definitions.deadline import AsyncCallback  # noqa: F401
    except ImportError:
        assert not _compat.HAS_DEADLINE_ALERTS
    else:
        assert _compat.HAS_DEADLINE_ALERTS


def test_the_notifier_base_takes_a_context_on_every_release() -> None:
    notifier = _compat.BaseNotifier(context={"deadline": {"id": "1"}})
    assert notifier.context == {"deadline": {"id": "1"}}
