"""KaleyraAsyncHook: the same exchanges as KaleyraHook, for the triggerer and async callbacks.

It speaks through httpx (which Airflow already ships) and shares everything else with
the sync hook: the connection settings, the wire format and the retry decisions.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_kaleyra import call_logs, wire
from airflow_provider_kaleyra._compat import BaseHook, get_async_connection
from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID, KaleyraSettings, settings_from_connection
from airflow_provider_kaleyra.hooks.kaleyra import USER_AGENT, note_listing
from airflow_provider_kaleyra.retry import DEFAULT_RETRY_POLICY, Exchange, RetryPolicy, TryOutcome

if TYPE_CHECKING:
    import ssl
    from collections.abc import Awaitable, Callable, Mapping
    from types import TracebackType

#: httpx failures where the request cannot have left this machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client in this process.

    Loading the CA bundle takes about 0.1 s of CPU and some memory per context; a
    triggerer running hundreds of waits would otherwise pay it once per wait.
    """
    return httpx.create_ssl_context()


class KaleyraAsyncHook(BaseHook):
    """Async Kaleyra exchanges; use ``async with KaleyraAsyncHook(...) as hook``.

    :param kaleyra_conn_id: the Airflow connection of type ``kaleyra``.
    :param retry_policy: when a request may be sent again; see ``retry``.
    """

    def __init__(
        self,
        kaleyra_conn_id: str = DEFAULT_CONN_ID,
        *,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        super().__init__()
        self.kaleyra_conn_id = kaleyra_conn_id
        self.retry_policy = retry_policy
        self._sleep = sleep
        self._settings: KaleyraSettings | None = None
        self._client: httpx.AsyncClient | None = None

    async def settings(self) -> KaleyraSettings:
        if self._settings is None:
            try:
                conn = await get_async_connection(self.kaleyra_conn_id, hook=self)
            except ImportError:
                # Airflow 3.1 answers aget_connection only inside a task or the
                # triggerer; elsewhere (a test, a script) the sync look-up works.
                conn = await asyncio.to_thread(self.get_connection, self.kaleyra_conn_id)
            self._settings = settings_from_connection(conn)
        return self._settings

    async def client(self) -> httpx.AsyncClient:
        if self._client is None:
            settings = await self.settings()
            self._client = httpx.AsyncClient(
                headers=wire.request_headers(settings.api_key, USER_AGENT),
                timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
                verify=shared_ssl_context(),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> KaleyraAsyncHook:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _request(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        """The request with the client's headers, built completely: nothing is sent yet."""
        client = await self.client()
        return client.build_request(method, url, data=data, params=params, headers=headers)

    async def _exchange(
        self,
        request: httpx.Request,
        *,
        action: str,
        idempotent: bool,
        sent: str | None = None,
        succeeded: Callable[[wire.Reply], bool] | None = None,
    ) -> wire.Reply:
        """Send, send again where ``retry`` allows, and return Kaleyra's successful reply."""
        settings = await self.settings()
        client = await self.client()
        exchange = Exchange(self.retry_policy, action, idempotent, settings.base_url, sent)
        is_success = succeeded or (lambda reply: reply.ok)
        while True:
            reply: wire.Reply | None = None
            error: httpx.HTTPError | None = None
            try:
                response = await client.send(request)
            except httpx.HTTPError as failure:
                error = failure
                outcome = TryOutcome.NOT_SENT if isinstance(error, _NOT_SENT) else TryOutcome.MAYBE_SENT
                delay = exchange.delay_or_raise(outcome, error=error)
            else:
                reply = wire.parse_reply(response.status_code, response.content, response.headers)
                if is_success(reply):
                    return reply
                delay = exchange.delay_or_raise(TryOutcome.ANSWERED, reply)
            self.log.warning("%s; trying again in %.1fs", exchange.describe(reply, error), delay)
            await self._sleep(delay)

    async def submit(self, call: wire.OutboundCall) -> wire.Submission:
        """Build, then send one validated outbound request (at most 100 numbers) at most once."""
        settings = await self.settings()
        form = wire.encode_outbound_form(call)
        sent = wire.redacted_summary(form)
        request = await self._request(
            "POST",
            wire.outbound_url(settings.base_url, settings.sid),
            data=form,
            headers={"Content-Type": wire.FORM_CONTENT_TYPE},
        )
        target = wire.describe_target(call)
        self.log.debug("Triggering Kaleyra %s: %s", target, sent)
        reply = await self._exchange(request, action=f"trigger {target}", idempotent=False, sent=sent)
        return wire.submission_from(call, reply)

    async def call_logs(
        self,
        query: call_logs.CallLogQuery,
        *,
        page_size: int = call_logs.PAGE_SIZE,
        max_pages: int = call_logs.MIN_PAGES,
    ) -> call_logs.CallLogListing:
        """Every call matching ``query``; the async twin of ``KaleyraHook.call_logs``."""
        settings = await self.settings()
        url = call_logs.call_logs_url(settings.base_url, settings.sid)
        pager = call_logs.CallLogPager(query, page_size, settings.timezone, max_pages)
        while (page := pager.next_request()) is not None:
            request = await self._request("GET", url, params=page.params, data=page.body, headers=page.headers)
            reply = await self._exchange(
                request, action="list call logs", idempotent=True, succeeded=call_logs.listing_succeeded
            )
            pager.add(reply)
        listing = pager.result()
        note_listing(listing, self.log)
        return listing
