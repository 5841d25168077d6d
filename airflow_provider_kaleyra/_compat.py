"""Every Airflow name this package uses, from one place, on Airflow 2.11 to 3.3.

Names that ``apache-airflow-providers-common-compat`` has come from it (it tries the
Airflow 3 home first, then the Airflow 2 one). The few it lacks are here, each with the
versions that have it; ``tests/unit/test_compat.py`` fails when Airflow moves one.
"""

from __future__ import annotations

import datetime
import inspect
from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION
from packaging.version import Version

#: The lowest Airflow this provider supports (pyproject.toml says the same).
AIRFLOW_FLOOR = (2, 11, 0)


#: ``(3, 1, 0)`` for 3.1.0, 3.1.0rc1 or 3.1.0.dev0.
AIRFLOW_RELEASE = Version(AIRFLOW_VERSION).release

if AIRFLOW_RELEASE < AIRFLOW_FLOOR:  # pragma: no cover - checked by test_compat with a fake version
    raise ImportError(
        f"airflow-provider-kaleyra needs apache-airflow>=2.11.0; this environment has {AIRFLOW_VERSION}. "
        "Upgrade Airflow, or use a provider release made for it."
    )

from airflow.providers.common.compat.connection import get_async_connection  # noqa: E402
from airflow.providers.common.compat.sdk import (  # noqa: E402
    AirflowException,
    AirflowFailException,
    BaseHook,
    BaseOperator,
    BaseSensorOperator,
    Connection,
    PokeReturnValue,
    Variable,
    conf,
)
from airflow.providers.common.compat.sdk import BaseNotifier as _AirflowBaseNotifier  # noqa: E402

try:  # Airflow 3 (common-compat has the name only from 1.22.0, which needs Python 3.11+)
    from airflow.sdk.log import mask_secret
except ImportError:  # Airflow 2.11
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef,unused-ignore]

# The trigger base classes kept their Airflow 2 home in every release (common-compat has no name for them).
from airflow.triggers.base import BaseTrigger, TriggerEvent  # noqa: E402

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Airflow 3.3+ keeps per-task-instance state (``context["task_state_store"]``); older
#: releases get the Variable store (``batch_state.VariableStore``).
HAS_TASK_STATE_STORE = AIRFLOW_RELEASE >= (3, 3)
#: Deadline Alerts and the notifier's ``async_notify`` (awaited in the triggerer): Airflow 3.1+.
HAS_DEADLINE_ALERTS = AIRFLOW_RELEASE >= (3, 1)
#: Airflow 3.1+ re-raises a notifier's exception; 2.11 and 3.0 log it and carry on, so there
#: ``raise_on_failure`` shows the failure once more in the log and changes nothing else.
NOTIFIER_EXCEPTIONS_PROPAGATE = AIRFLOW_RELEASE >= (3, 1)

__all__ = [
    "AIRFLOW_VERSION",
    "AirflowException",
    "AirflowFailException",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "Connection",
    "PokeReturnValue",
    "TriggerEvent",
    "Variable",
    "default_deferrable",
    "get_async_connection",
    "get_json_variable",
    "mask_secret",
    "never_expire",
    "set_variable_or_raise",
]

_NOTIFIER_TAKES_CONTEXT = "context" in inspect.signature(_AirflowBaseNotifier.__init__).parameters


class BaseNotifier(_AirflowBaseNotifier):
    """Airflow's ``BaseNotifier``, taking ``context`` on every release (2.11 and 3.0 take none)."""

    def __init__(self, context: Context | None = None) -> None:
        if _NOTIFIER_TAKES_CONTEXT:
            super().__init__(context=context)
        else:
            super().__init__()
            self.context = context or {}


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, read when an operator is built (as built-in providers do)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def get_json_variable(key: str) -> Any:
    """A Variable's JSON value, ``None`` when unset (2.11 calls the default ``default_var``, 3.x ``default``)."""
    return Variable.get(key, None, deserialize_json=True)


def set_variable_or_raise(key: str, value: str, description: str) -> None:
    """Write a Variable and raise if it was not stored.

    Airflow 3's ``Variable.set`` logs and swallows a failed write to the API server; its
    private ``_set_variable`` raises, which a campaign needs before the POST it protects.
    Airflow 2.11's workers write to the database themselves and ``Variable.set`` raises.
    """
    if AIRFLOW_RELEASE < (3, 0):
        Variable.set(key, value, description=description)
        return
    from airflow.sdk.execution_time.context import _set_variable

    _set_variable(key, value, description)


def never_expire() -> datetime.timedelta:
    """The retention Airflow 3.3's task state store reads as "never" (it compares by identity)."""
    if not HAS_TASK_STATE_STORE:  # no task state store: a test double's accessor takes any timedelta
        return datetime.timedelta.max
    from airflow.sdk.execution_time.context import NEVER_EXPIRE

    return NEVER_EXPIRE
