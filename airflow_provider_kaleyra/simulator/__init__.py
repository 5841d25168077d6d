"""A local, Kaleyra-compatible voice API for tests and demos.

Standard library only and free of Airflow imports, so it starts in milliseconds::

    with KaleyraSimulator() as sim:
        os.environ.update(sim.connection_env())
        ...
        assert sim.dials_to("+18830907XXX") == 1

``KaleyraSimulator(call_log_style=REAL_WORLD)`` (or ``"real"``) makes its call-log
listing answer the way the real Kaleyra may; see ``call_log_style``.
"""

from __future__ import annotations

from airflow_provider_kaleyra.simulator.call_log_answer import numeric_flow_id
from airflow_provider_kaleyra.simulator.call_log_style import REAL_WORLD, CallLogStyle
from airflow_provider_kaleyra.simulator.defaults import (
    DEFAULT_API_KEY,
    DEFAULT_BRIDGE,
    DEFAULT_BRIDGES,
    DEFAULT_FLOW_ID,
    DEFAULT_FLOWS,
    DEFAULT_SID,
    SECOND_BRIDGE,
    SECOND_FLOW_ID,
)
from airflow_provider_kaleyra.simulator.server import DEFAULT_CONN_ID, KaleyraSimulator, connection_env_var
from airflow_provider_kaleyra.simulator.state import SubscribedNumber

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_BRIDGE",
    "DEFAULT_BRIDGES",
    "DEFAULT_CONN_ID",
    "DEFAULT_FLOWS",
    "DEFAULT_FLOW_ID",
    "DEFAULT_SID",
    "REAL_WORLD",
    "SECOND_BRIDGE",
    "SECOND_FLOW_ID",
    "CallLogStyle",
    "KaleyraSimulator",
    "SubscribedNumber",
    "connection_env_var",
    "numeric_flow_id",
]
