"""KaleyraAsyncHook: the same requests and the same retry decisions as the sync hook, over httpx."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import httpx
import pytest

from airflow_provider_kaleyra import call_logs, wire
from airflow_provider_kaleyra.exceptions import (
    KaleyraOutcomeUnknownError,
    KaleyraPermanentError,
    KaleyraTransientError,
)
from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook
from airflow_provider_kaleyra.retry import RetryPolicy

from .fakes import ACCEPTED, SECRET_KEY, SID

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

pytestmark = pytest.mark.usefixtures("kaleyra_conn")
CALL = wire.OutboundCall(to=("+918830907001",), bridge="+6531651234", flow_id="SG_f", correlation_token="af-1")
QUERY = call_logs.CallLogQuery(bridge="+6531651234", start_time="2026-01-01T10:00:00+00:00")

#: A scripted answer: (status, JSON body or text), or an httpx error to raise.
Scripted = tuple[int, Any] | httpx.HTTPError


@pytest.fixture
def kaleyra(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[httpx.Request]]:
    """Give every httpx.AsyncClient a transport answering with the scripted replies, in order."""

    def script(*replies: Scripted) -> list[httpx.Request]:
        seen: list[httpx.Request] = []
        queue = list(replies)

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            reply = queue.pop(0)
            if isinstance(reply, httpx.HTTPError):
                raise reply
            status, body = reply
            if isinstance(body, str):
                return httpx.Response(status, text=body)
            return httpx.Response(status, json=body)

        original = httpx.AsyncClient.__init__

        def init(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
            original(self, *args, transport=httpx.MockTransport(handler), **kwargs)

        monkeypatch.setattr(httpx.AsyncClient, "__init__", init)
        return seen

    return script


def run(work: Callable[[KaleyraAsyncHook], Coroutine[Any, Any, Any]], sleeps: list[float] | None = None) -> Any:
    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    async def main() -> Any:
        async with KaleyraAsyncHook(retry_policy=RetryPolicy(max_attempts=3), sleep=sleep) as hook:
            return await work(hook)

    return asyncio.run(main())


def submit(hook: KaleyraAsyncHook) -> Coroutine[Any, Any, wire.Submission]:
    return hook.submit(CALL)


def listing(hook: KaleyraAsyncHook, **kwargs: Any) -> Coroutine[Any, Any, call_logs.CallLogListing]:
    return hook.call_logs(QUERY, **kwargs)


def listed(calls: list[dict], code: str | None = "RBC3200", total: int | None = None) -> dict:
    return {"code": code, "message": "ok", "data": {"calls": calls, "total": total}, "error": {}}


def test_submit_sends_the_same_form_as_the_sync_hook(kaleyra: Callable[..., list[httpx.Request]]) -> None:
    seen = kaleyra((200, ACCEPTED))
    result = run(submit)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == f"https://api.ap.kaleyra.io/v1/{SID}/voice/outbound"
    assert request.headers["api-key"] == SECRET_KEY
    assert request.headers["Content-Type"] == wire.FORM_CONTENT_TYPE
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form == wire.encode_outbound_form(CALL)
    assert (result.code, result.correlation_token) == ("RBC3007", "af-1")


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param((200, {"code": "RBC3008", "message": "Queued", "data": {}, "error": {}}), id="200-RBC3008"),
        pytest.param((503, "<html>down</html>"), id="503"),
        pytest.param((502, ""), id="502-empty"),
        pytest.param(httpx.ReadTimeout("read timed out"), id="read-timeout"),
        pytest.param(httpx.RemoteProtocolError("server disconnected"), id="disconnected"),
    ],
)
def test_submit_never_resends_when_kaleyra_may_have_dialled(
    kaleyra: Callable[..., list[httpx.Request]], reply: Scripted
) -> None:
    seen = kaleyra(reply, (200, ACCEPTED))
    with pytest.raises(KaleyraOutcomeUnknownError):
        run(submit)
    assert len(seen) == 1


def test_submit_unknown_code_is_named(kaleyra: Callable[..., list[httpx.Request]]) -> None:
    kaleyra((200, {"code": "RBC3008", "message": "Queued", "data": {}, "error": {}}))
    with pytest.raises(KaleyraOutcomeUnknownError, match="RBC3008 'Queued'") as info:
        run(submit)
    assert info.value.code == "RBC3008"


def test_submit_retries_a_429_then_succeeds(kaleyra: Callable[..., list[httpx.Request]]) -> None:
    sleeps: list[float] = []
    seen = kaleyra((429, {"code": "RBC3429", "message": "Too many requests"}), (200, ACCEPTED))
    assert run(submit, sleeps).code == "RBC3007"
    assert len(seen) == 2
    assert sleeps == [1.0]


def test_submit_retries_a_refused_connection_then_is_transient(kaleyra: Callable[..., list[httpx.Request]]) -> None:
    sleeps: list[float] = []
    seen = kaleyra(*[httpx.ConnectError("connection refused")] * 3)
    with pytest.raises(KaleyraTransientError, match="Could not reach Kaleyra"):
        run(submit, sleeps)
    assert len(seen) == 3
    assert sleeps == [1.0, 2.0]


def test_submit_refusal_is_permanent(kaleyra: Callable[..., list[httpx.Request]]) -> None:
    kaleyra((400, {"code": "RBC3115", "message": "IVR not found", "data": [], "error": {}}))
    with pytest.raises(KaleyraPermanentError, match="RBC3115") as info:
        run(submit)
    assert not isinstance(info.value, KaleyraOutcomeUnknownError)


def test_call_logs_carry_the_filters_in_the_query_string_and_a_form_body(
    kaleyra: Callable[..., list[httpx.Request]],
) -> None:
    seen = kaleyra((200, listed([{"id": "c1", "to": "918830907001", "status": "ANSWER"}])))
    result = run(listing)
    [request] = seen
    expected = {"bridge": ["+6531651234"], "start_time": ["2026-01-01T10:00:00+00:00"], "page": ["1"]}
    assert request.method == "GET"
    assert request.url.path == f"/v1/{SID}/voice/call-logs"
    assert parse_qs(request.url.query.decode()) == expected
    assert parse_qs(request.content.decode()) == expected
    assert request.headers["Content-Type"] == wire.FORM_CONTENT_TYPE
    assert request.headers["limit"] == str(call_logs.PAGE_SIZE)
    assert [(r.number, r.status) for r in result.records] == [("918830907001", "ANSWER")]
    assert result.codes == {"RBC3200"}


def test_call_logs_page_and_stop_at_max_pages(kaleyra: Callable[..., list[httpx.Request]]) -> None:
    seen = kaleyra(*[(200, listed([{"id": f"c{i}", "to": "+918830907001"}], total=9)) for i in range(2)])
    result = run(lambda hook: listing(hook, page_size=1, max_pages=2))
    assert [parse_qs(r.url.query.decode())["page"] for r in seen] == [["1"], ["2"]]
    assert len(result.records) == 2
    assert result.cut_off is not None


def test_call_logs_retry_a_5xx_and_accept_any_code(kaleyra: Callable[..., list[httpx.Request]]) -> None:
    seen = kaleyra((503, ""), (200, listed([{"to": "+918830907001"}], code=None)))
    assert len(run(listing).records) == 1
    assert len(seen) == 2


def test_call_logs_with_a_non_empty_error_fail(kaleyra: Callable[..., list[httpx.Request]]) -> None:
    body = {"code": "RBC3200", "message": "ok", "data": [], "error": {"page": "out of range"}}
    kaleyra((200, body))
    with pytest.raises(KaleyraPermanentError, match="page: out of range"):
        run(listing)


def test_the_form_sent_is_json_free_of_the_api_key(kaleyra: Callable[..., list[httpx.Request]]) -> None:
    seen = kaleyra((200, ACCEPTED))
    run(submit)
    assert SECRET_KEY not in seen[0].content.decode()
    assert json.loads(parse_qs(seen[0].content.decode())["custom"][0]) == {wire.CORRELATION_KEY: "af-1"}
