"""batch_state: where a campaign's per-batch state lives, for each kind of store."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from airflow_provider_kaleyra import batch_state
from airflow_provider_kaleyra.batch_state import (
    VARIABLE_PREFIX,
    MemoryStore,
    TaskStateStore,
    VariableStore,
    batch_key,
    never_expire,
    store_for,
)


class RecordingAccessor:
    """``context["task_state_store"]``: keeps values and the retention each was set with."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.retention: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = value
        self.retention[key] = retention


class Variables:
    """Airflow Variables as the API server keeps them: JSON text by name."""

    def __init__(self, **stored: Any) -> None:
        self.text = {name: json.dumps(value) for name, value in stored.items()}
        self.reads = 0
        self.writes: list[tuple[str, str]] = []

    def get(self, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
        self.reads += 1
        if key not in self.text:
            return default
        return json.loads(self.text[key]) if deserialize_json else self.text[key]

    def put(self, key: str, value: str, description: str) -> None:
        self.writes.append((key, description))
        self.text[key] = value


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> Variables:
    """Airflow's Variables, kept in memory: what ``batch_state`` reads and writes through ``_compat``."""
    kept = Variables()
    monkeypatch.setattr(batch_state, "get_json_variable", lambda key: kept.get(key, None, deserialize_json=True))
    monkeypatch.setattr(batch_state, "set_variable_or_raise", kept.put)
    return kept


def test_batch_keys_sort_in_batch_order() -> None:
    keys = [batch_key(i) for i in (0, 9, 10, 12345)]
    assert keys == sorted(keys)
    assert keys[0] == "kaleyra_batch_00000"


def test_the_memory_store_gives_back_what_was_set() -> None:
    store = MemoryStore()
    assert store.get("k") is None
    store.set("k", {"status": "sending"})
    assert store.get("k") == {"status": "sending"}
    assert store.location == "memory"


def test_the_task_state_store_keeps_values_forever() -> None:
    accessor = RecordingAccessor()
    store = TaskStateStore(accessor)
    store.set("k", {"status": "accepted"})
    assert store.get("k") == {"status": "accepted"}
    # A later clear of the task instance must still see what was dialled.
    assert accessor.retention["k"] is never_expire()


def test_never_expire_is_airflows_marker_where_it_has_one() -> None:
    try:
        from airflow.sdk.execution_time.context import NEVER_EXPIRE
    except ImportError:
        assert never_expire() == dt.timedelta.max
    else:
        assert never_expire() is NEVER_EXPIRE


def test_a_variable_store_reads_once_and_rewrites_the_whole_variable(variables: Variables) -> None:
    store = VariableStore("kaleyra_campaign__af-1")
    assert store.location == "Airflow Variable kaleyra_campaign__af-1"
    assert store.get("header") is None
    store.set("header", {"batches": 2})
    store.set(batch_key(0), {"status": "accepted", "first": "+1", "last": "+2"})
    assert variables.reads == 1
    assert [name for name, _ in variables.writes] == ["kaleyra_campaign__af-1"] * 2
    assert "re-dialling" in variables.writes[0][1]  # the description says what deleting it does
    assert json.loads(variables.text["kaleyra_campaign__af-1"]) == {
        "header": {"batches": 2},
        batch_key(0): {"status": "accepted", "first": "+1", "last": "+2"},
    }


def test_a_variable_store_keeps_no_number_list(variables: Variables) -> None:
    store = VariableStore("kaleyra_campaign__af-1")
    store.set(batch_key(0), {"status": "sending", "numbers": "+1,+2,+3", "first": "+1", "last": "+3"})
    stored = json.loads(variables.text["kaleyra_campaign__af-1"])[batch_key(0)]
    assert stored == {"status": "sending", "first": "+1", "last": "+3"}


def test_a_variable_store_reads_back_what_an_earlier_try_stored(variables: Variables) -> None:
    variables.text["kaleyra_campaign__af-1"] = json.dumps({batch_key(0): {"status": "accepted"}})
    assert VariableStore("kaleyra_campaign__af-1").get(batch_key(0)) == {"status": "accepted"}


def test_a_variable_that_is_not_a_dict_reads_as_empty(variables: Variables) -> None:
    variables.text["kaleyra_campaign__af-1"] = json.dumps(["not", "a", "dict"])
    assert VariableStore("kaleyra_campaign__af-1").get(batch_key(0)) is None


def test_the_task_state_store_is_used_where_airflow_has_one() -> None:
    accessor = RecordingAccessor()
    store = store_for({"task_state_store": accessor}, "af-1")  # type: ignore[typeddict-unknown-key]
    assert isinstance(store, TaskStateStore)
    assert store.accessor is accessor


def test_a_variable_named_after_the_task_instance_is_used_elsewhere() -> None:
    store = store_for({}, "af-1")  # type: ignore[typeddict-item]
    assert isinstance(store, VariableStore)
    assert store.name == VARIABLE_PREFIX + "af-1"
