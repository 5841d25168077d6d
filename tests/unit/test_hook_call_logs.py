"""KaleyraHook.call_logs: one listing per poll, paged, retried like any read-only request."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_kaleyra import call_logs, wire
from airflow_provider_kaleyra.exceptions import KaleyraPermanentError
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

from .fakes import FakeKaleyra, answer, install

pytestmark = pytest.mark.usefixtures("kaleyra_conn")
QUERY = call_logs.CallLogQuery(bridge="+6531651234", start_time="2026-01-01T10:00:00+00:00")


def listed(calls: list[dict], total: int) -> dict:
    return {"code": wire.CALL_LOGS_LISTED, "message": "ok", "data": {"calls": calls, "total": total}, "error": {}}


def call(i: int, status: str = "ANSWER") -> dict:
    return {"id": f"c{i}", "to": f"+9188309070{i:02d}", "status": status}


def hook(fake: FakeKaleyra) -> KaleyraHook:
    h = KaleyraHook(sleep=lambda seconds: None)
    install(h, fake)
    return h


def test_pages_until_the_total_is_read() -> None:
    fake = FakeKaleyra(answer(200, listed([call(0), call(1)], 3)), answer(200, listed([call(2, "BUSY")], 3)))
    page = hook(fake).call_logs(QUERY, page_size=2)
    assert [r.status for r in page.records] == ["ANSWER", "ANSWER", "BUSY"]
    urls = [urlsplit(r.url or "") for r in fake.requests]
    assert {u.path for u in urls} == {"/v1/HXIN169510844XXX/voice/call-logs"}
    assert [parse_qs(u.query)["page"] for u in urls] == [["1"], ["2"]]
    assert parse_qs(urls[0].query)["bridge"] == ["+6531651234"]
    assert [r.headers["limit"] for r in fake.requests] == ["2", "2"]
    assert all(r.method == "GET" for r in fake.requests)


def test_a_5xx_is_retried_because_listing_is_read_only() -> None:
    fake = FakeKaleyra(answer(503, "busy"), answer(200, listed([call(0)], 1)))
    assert len(hook(fake).call_logs(QUERY).records) == 1
    assert len(fake.requests) == 2


def test_wrong_credentials_fail_permanently() -> None:
    refused = {"code": "RBC001", "message": "Incorrect SID or API Key", "data": [], "error": {}}
    with pytest.raises(KaleyraPermanentError, match="list call logs"):
        hook(FakeKaleyra(answer(401, refused))).call_logs(QUERY)
