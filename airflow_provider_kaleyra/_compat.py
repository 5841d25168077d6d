"""Imports whose home moved between the Airflow 3 releases this provider supports."""

from __future__ import annotations

try:  # Airflow 3.2+: the Task SDK owns the exceptions.
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowException, AirflowFailException  # type: ignore[no-redef]

__all__ = ["AirflowException", "AirflowFailException"]


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, read when an operator is built (as built-in providers do)."""
    try:  # Airflow 3.2+
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf  # type: ignore[no-redef,unused-ignore]
    return conf.getboolean("operators", "default_deferrable", fallback=False)
