"""The simulator's pytest fixture as a user's own DAG test would use it.

The documentation's simulator page includes the test below: it is written for readers
(their DAG, the fixture, what was dialled). ``airflow_db`` is this suite's metadata
database; a user's suite has its own (``airflow db migrate`` once is enough).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .dagrun import load_dag

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator import KaleyraSimulator


@pytest.mark.usefixtures("airflow_db")
# [START howto_simulator_pytest_fixture]
def test_reminders_reach_everyone_once(kaleyra_connection: KaleyraSimulator) -> None:
    # kaleyra_connection: a fresh simulator, and kaleyra_default pointing at it, for this test.
    kaleyra_connection.script_outcomes({"+918830907002": "NOANSWER"})
    dag = load_dag("kaleyra_examples.py", "example_kaleyra_outbound_call")  # your DAG
    run = dag.test(run_conf={"to": ["+918830907001", "+918830907002", "+918830907003"]})

    assert str(run.state) == "success"  # 2 of 3 answered; the DAG asks for 60%
    for number in ("+918830907001", "+918830907002", "+918830907003"):
        assert kaleyra_connection.dials_to(number) == 1
# [END howto_simulator_pytest_fixture]
