"""KaleyraAsyncHook over real HTTP against the local simulator."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_kaleyra import validation, wire
from airflow_provider_kaleyra.exceptions import KaleyraPermanentError, KaleyraTransientError
from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook
from airflow_provider_kaleyra.retry import RetryPolicy
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE, KaleyraSimulator


def one_call(flow_id: str = DEFAULT_FLOW_ID) -> wire.OutboundCall:
    [call], _ = validation.outbound_calls(to="+918830907001", bridge=SECOND_BRIDGE, flow_id=flow_id)
    return call


async def submit(call: wire.OutboundCall, **kwargs: object) -> wire.Submission:
    async with KaleyraAsyncHook(**kwargs) as hook:  # type: ignore[arg-type]
        return await hook.submit(call)


def test_async_submit_is_accepted(kaleyra_connection: KaleyraSimulator) -> None:
    result = asyncio.run(submit(one_call()))
    assert result.code == wire.OUTBOUND_ACCEPTED
    assert kaleyra_connection.dials_to("+918830907001") == 1


def test_async_refusal_is_classified_like_the_sync_hook(kaleyra_connection: KaleyraSimulator) -> None:
    with pytest.raises(KaleyraPermanentError, match="RBC3115"):
        asyncio.run(submit(one_call("SG_nope")))
    assert kaleyra_connection.ledger() == []


def test_async_unreachable_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    with KaleyraSimulator() as gone:
        conn = gone.connection_dict()
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps(conn))
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.01)
    with pytest.raises(KaleyraTransientError, match="after 2 tries"):
        asyncio.run(submit(one_call(), retry_policy=policy))
