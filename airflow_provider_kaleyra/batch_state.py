"""Where a campaign's per-batch state lives, so it survives task retries and worker crashes.

Three stores with one small interface (:class:`BatchStore`):

* :class:`TaskStateStore` (Airflow 3.3+): ``context["task_state_store"]``, the store
  behind Airflow's ``ResumableJobMixin``. Rows are scoped to the DAG run, task and map
  index, so every try of a task instance (and a clear of it) sees them.
* :class:`VariableStore` (Airflow 3.1/3.2, which have no task state store): one Airflow
  Variable per task instance, named after the task's correlation token. Its limits are
  in the README ("At-most-once calls").
* :class:`MemoryStore`: a dict, for tests and benchmarks.

Every write goes to the metadata database (through the API server) and returns only
once stored, so a state written before a POST is there even if the worker dies during
the POST. Only the campaign's main thread reads and writes (the supervisor channel
behind both Airflow stores is not meant for concurrent use).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_kaleyra._compat import get_json_variable, never_expire, set_variable_or_raise

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Key of the campaign header: fingerprint and number of batches.
CAMPAIGN_KEY = "kaleyra_campaign"
#: Prefix of the Variable that holds a task instance's state on Airflow < 3.3.
VARIABLE_PREFIX = "kaleyra_campaign__"


def batch_key(index: int) -> str:
    return f"kaleyra_batch_{index:05d}"


class BatchStore(Protocol):
    """Durable JSON values by key, scoped to one task instance (all its tries)."""

    #: Where the values live, said to the user (logs, XCom, errors).
    location: str

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


class MemoryStore:
    """In-process only: survives nothing; for tests and benchmarks."""

    location = "memory"

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


class TaskStateStore:
    """Airflow 3.3+'s task state store; values never expire (a later clear must still see them)."""

    location = "task_state_store"

    def __init__(self, accessor: Any) -> None:
        self.accessor = accessor

    def get(self, key: str) -> Any:
        return self.accessor.get(key)

    def set(self, key: str, value: Any) -> None:
        self.accessor.set(key, value, retention=never_expire())


class VariableStore:
    """All keys of one task instance in one JSON Airflow Variable (Airflow 3.1/3.2).

    The Variable is read once and rewritten whole on every change: a write is one
    row update, and a crash can never leave half of it behind. Batch entries are
    kept without their ``numbers`` (first and last only): a Variable is a TEXT
    column, 64 KB on MySQL, and 10,000 numbers would not fit. The campaign's
    fingerprint makes sure a batch index means the same numbers on every try.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.location = f"Airflow Variable {name}"
        self._values: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._values is None:
            stored = get_json_variable(self.name)
            self._values = stored if isinstance(stored, dict) else {}
        return self._values

    def get(self, key: str) -> Any:
        return self._load().get(key)

    def set(self, key: str, value: Any) -> None:
        values = self._load()
        values[key] = {k: v for k, v in value.items() if k != "numbers"} if isinstance(value, dict) else value
        set_variable_or_raise(
            self.name,
            json.dumps(values, separators=(",", ":")),
            "Kaleyra calls already placed by this task instance; deleting it allows re-dialling",
        )


def store_for(context: Context, correlation_token: str) -> BatchStore:
    """The task state store where Airflow has one (3.3+), else a Variable for this task instance."""
    accessor = context.get("task_state_store")
    if accessor is not None:
        return TaskStateStore(accessor)
    return VariableStore(VARIABLE_PREFIX + correlation_token)
