"""KaleyraOutboundCallOperator through real Airflow (``dag.test()``) against the simulator."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, DEFAULT_SID, SECOND_BRIDGE, KaleyraSimulator

from .dagrun import run_dag, task_output

if TYPE_CHECKING:
    from collections.abc import Iterator

NUMBERS = ["+918830907001", "+918830907002", "+918830907003"]


def conf(**overrides: object) -> dict[str, object]:
    return {"to": NUMBERS, "bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID, "custom": None, **overrides}


def test_success_records_the_submission_and_dials_each_number_once(simulator: KaleyraSimulator) -> None:
    result = run_dag("kaleyra_calls.py", "kaleyra_calls", conf(custom="reminder"))
    assert result.state == "success"
    record = result.task("call").xcom
    assert record["code"] == "RBC3007"
    assert record["numbers"] == NUMBERS
    assert (record["bridge"], record["flow_id"]) == (SECOND_BRIDGE, DEFAULT_FLOW_ID)
    assert record["correlation_token"].startswith("af-")
    assert [simulator.dials_to(n) for n in NUMBERS] == [1, 1, 1]
    custom = json.loads(simulator.ledger()[0]["custom"])
    assert custom == {"text": "reminder", wire.CORRELATION_KEY: record["correlation_token"]}


def test_unknown_flow_fails_without_retry_and_names_it(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run_dag("kaleyra_calls.py", "kaleyra_calls", conf(flow_id="SG_unpublished-flow"))
    task = result.task("call")
    assert (result.state, task.state) == ("failed", "failed")
    assert task.try_number == 1  # the task has retries=2: none were used
    out = task_output(capfd)
    assert "RBC3115 'IVR not found'" in out
    assert "SG_unpublished-flow" in out
    assert simulator.ledger() == []


def test_wrong_key_fails_without_retry(
    simulator: KaleyraSimulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    conn = simulator.connection_dict()
    conn["password"] = "wrong-key-123456"
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps(conn))
    result = run_dag("kaleyra_calls.py", "kaleyra_calls", conf())
    assert result.task("call").state == "failed"
    assert result.task("call").try_number == 1
    assert "RBC001" in task_output(capfd)
    assert simulator.ledger() == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"to": ["+918830907001", "12345"]}, "to='12345': not a phone number"),
        ({"to": []}, "no phone number given"),
        ({"bridge": "6531651234x"}, "bridge='6531651234x'"),
        ({"flow_id": ""}, "flow_id='': a Flow ID from Flow Builder is required"),
    ],
)
def test_bad_input_fails_before_anyone_is_dialled(
    simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str], overrides: dict, message: str
) -> None:
    result = run_dag("kaleyra_calls.py", "kaleyra_calls", conf(**overrides))
    assert result.task("call").state == "failed"
    assert result.task("call").try_number == 1
    assert message in task_output(capfd)
    assert simulator.ledger() == []


def test_more_than_100_numbers(simulator: KaleyraSimulator) -> None:
    numbers = [f"+9188309{i:05d}" for i in range(250)]
    result = run_dag("kaleyra_calls.py", "kaleyra_calls", conf(to=numbers))
    assert result.state == "success"
    assert [b["size"] for b in result.task("call").xcom["batches"]] == [100, 100, 50]
    ledger = simulator.ledger()
    assert sorted(d["number"] for d in ledger) == numbers  # batches may be in flight together
    assert len({d["request_id"] for d in ledger}) == 3


def test_dynamic_task_mapping(simulator: KaleyraSimulator) -> None:
    result = run_dag(
        "kaleyra_calls.py", "kaleyra_calls_mapped", {"bridge": SECOND_BRIDGE, "flow_id": DEFAULT_FLOW_ID}
    )
    assert result.state == "success"
    assert result.task("call[1]").xcom["numbers"] == ["+918830907002", "+918830907003"]
    assert result.task("call[0]").xcom["correlation_token"] != result.task("call[1]").xcom["correlation_token"]
    assert sorted(d["number"] for d in simulator.ledger()) == NUMBERS


SECRET = "Kx9-distinctive-secret-api-key-0c7e"


@pytest.fixture
def secret_simulator(airflow_db: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[KaleyraSimulator]:
    with KaleyraSimulator(accounts={DEFAULT_SID: SECRET}) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", sim.airflow_connection_json())
        yield sim


def test_api_key_never_reaches_logs_xcom_or_rendered_fields(
    secret_simulator: KaleyraSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    ok = run_dag("kaleyra_calls.py", "kaleyra_calls", conf())
    failed = run_dag("kaleyra_calls.py", "kaleyra_calls", conf(flow_id="SG_missing"))
    assert (ok.state, failed.state) == ("success", "failed")
    assert SECRET not in json.dumps(ok.task("call").xcom)
    assert SECRET not in rendered_fields_text()
    assert SECRET not in task_logs_text()
    out = task_output(capfd)
    assert "Kaleyra accepted flow" in out  # the task logs were captured
    assert SECRET not in out


def rendered_fields_text() -> str:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(RenderedTaskInstanceFields.rendered_fields)).all()
    assert rows, "no rendered fields were stored"
    return json.dumps(rows)


def task_logs_text() -> str:
    logs = Path(os.environ["AIRFLOW_HOME"], "logs")
    return "\n".join(p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file())
