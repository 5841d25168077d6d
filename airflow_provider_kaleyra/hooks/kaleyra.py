"""KaleyraHook: the Airflow connection, one HTTP session and every sync exchange."""

from __future__ import annotations

import time as time_module
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from urllib3.exceptions import NewConnectionError

from airflow_provider_kaleyra import __version__, call_logs, validation, wire
from airflow_provider_kaleyra._compat import BaseHook, mask_secret
from airflow_provider_kaleyra.connection import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    KaleyraSettings,
    settings_from_connection,
)
from airflow_provider_kaleyra.exceptions import cause_chain
from airflow_provider_kaleyra.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_kaleyra.retry import DEFAULT_RETRY_POLICY, Exchange, RetryPolicy, TryOutcome

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

USER_AGENT = f"airflow-provider-kaleyra/{__version__}"


@dataclass(frozen=True)
class PreparedCall:
    """One outbound request, built to the last byte and ready to leave."""

    call: wire.OutboundCall
    request: requests.PreparedRequest
    #: What it asks for, short and without secrets (numbers, bridge, flow).
    summary: str


def note_listing(listing: call_logs.CallLogListing, log: logging.Logger | Any) -> None:
    """Say once per process which code a listing carried, and every time it was cut off."""
    for code in sorted(listing.codes):
        if call_logs.first_sighting(code):
            log.info(
                "Kaleyra's call-log listing answered with code %s; no documentation names a success code, "
                "so any answer whose error is empty is read as a listing",
                code,
            )
    if listing.cut_off:
        log.warning("Kaleyra's call-log listing was cut off: %s", listing.cut_off)


def _nothing_was_sent(error: requests.RequestException) -> bool:
    """True when the connection failed before the request could leave.

    requests reports a refused connection and a connection reset after sending with
    the same ``ConnectionError``; urllib3's ``NewConnectionError`` in the chain tells
    them apart.
    """
    if isinstance(error, requests.ConnectTimeout):
        return True
    return any(isinstance(link, NewConnectionError) for link in cause_chain(error))


class KaleyraHook(BaseHook):
    """Talk to Kaleyra.io voice with the credentials of an Airflow connection.

    :param kaleyra_conn_id: the Airflow connection of type ``kaleyra`` (region,
        account SID as login, API key as password, optional base URL and timeout).
    :param retry_policy: when a request may be sent again; see ``retry``.
    """

    conn_name_attr = "kaleyra_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Kaleyra"

    def __init__(
        self,
        kaleyra_conn_id: str = DEFAULT_CONN_ID,
        *,
        retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time_module.sleep,
    ) -> None:
        super().__init__()
        self.kaleyra_conn_id = kaleyra_conn_id
        self.retry_policy = retry_policy
        self._sleep = sleep

    # ------------------------------------------------------------------ connection form

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """For Airflow < 3.2, which does not read ``ui-field-behaviour`` from provider info."""
        return {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """For Airflow < 3.2, which does not read ``conn-fields`` from provider info."""
        # Deferred: Flask-AppBuilder and WTForms are loaded only by the UIs that ask.
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField
        from wtforms.validators import Optional, any_of

        def field(name: str, *validators: Any) -> Any:
            spec = CONN_FIELDS[name]
            return StringField(
                lazy_gettext(spec["label"]),
                widget=BS3TextFieldWidget(),
                description=spec.get("description"),
                default=spec["schema"].get("default"),
                validators=list(validators),
            )

        return {
            "region": field("region", any_of(list(wire.REGION_BASE_URLS))),
            "base_url": field("base_url", Optional()),
            "timeout": field("timeout", Optional()),
            "timezone": field("timezone", Optional()),
        }

    # ------------------------------------------------------------------ plumbing

    @cached_property
    def settings(self) -> KaleyraSettings:
        settings = settings_from_connection(self.get_connection(self.kaleyra_conn_id))
        mask_secret(settings.api_key)
        return settings

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session for all of this hook's requests."""
        session = requests.Session()
        session.headers.update(wire.request_headers(self.settings.api_key, USER_AGENT))
        return session

    def close(self) -> None:
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def _request(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.PreparedRequest:
        """The request with the session's headers, built completely: nothing is sent yet."""
        return self.session.prepare_request(
            requests.Request(method, url, data=data, params=params, headers=dict(headers or {}))
        )

    def _exchange(
        self,
        request: requests.PreparedRequest,
        *,
        action: str,
        idempotent: bool,
        sent: str | None = None,
        succeeded: Callable[[wire.Reply], bool] | None = None,
    ) -> wire.Reply:
        """Send, send again where ``retry`` allows, and return Kaleyra's successful reply.

        Anything else becomes the exception ``exceptions`` chooses for it.
        """
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        options = self.session.merge_environment_settings(request.url, {}, None, None, None)
        exchange = Exchange(self.retry_policy, action, idempotent, self.settings.base_url, sent)
        is_success = succeeded or (lambda reply: reply.ok)
        while True:
            reply: wire.Reply | None = None
            error: requests.RequestException | None = None
            try:
                response = self.session.send(request, timeout=timeout, **options)
            except requests.RequestException as failure:
                error = failure
                delay = exchange.delay_or_raise(
                    TryOutcome.NOT_SENT if _nothing_was_sent(error) else TryOutcome.MAYBE_SENT, error=error
                )
            else:
                reply = wire.parse_reply(response.status_code, response.content, response.headers)
                if is_success(reply):
                    return reply
                delay = exchange.delay_or_raise(TryOutcome.ANSWERED, reply)
            self.log.warning("%s; trying again in %.1fs", exchange.describe(reply, error), delay)
            self._sleep(delay)

    # ------------------------------------------------------------------ API

    def prepare_submit(self, call: wire.OutboundCall) -> PreparedCall:
        """Build one validated outbound request (at most 100 numbers); nothing is sent.

        Whatever goes wrong while building (the connection, the form) goes wrong here,
        before ``send_submit``: the request then certainly never left.
        """
        form = wire.encode_outbound_form(call)
        request = self._request(
            "POST",
            wire.outbound_url(self.settings.base_url, self.settings.sid),
            data=form,
            headers={"Content-Type": wire.FORM_CONTENT_TYPE},
        )
        return PreparedCall(call, request, wire.redacted_summary(form))

    def send_submit(self, prepared: PreparedCall) -> wire.Submission:
        """Send a prepared outbound request; sent again only where ``retry`` proves it safe."""
        call = prepared.call
        target = wire.describe_target(call)
        self.log.debug("Triggering Kaleyra %s: %s", target, prepared.summary)
        reply = self._exchange(prepared.request, action=f"trigger {target}", idempotent=False, sent=prepared.summary)
        return wire.submission_from(call, reply)

    def submit(self, call: wire.OutboundCall) -> wire.Submission:
        """Build and send one validated outbound request (at most 100 numbers) at most once."""
        return self.send_submit(self.prepare_submit(call))

    def trigger_outbound_flow(
        self,
        to: str | list[str],
        bridge: str,
        flow_id: str,
        **optional: Any,
    ) -> list[wire.Submission]:
        """Validate, then trigger ``flow_id`` for ``to`` from ``bridge``.

        ``optional`` takes Kaleyra's documented fields: ``prefix``, ``retry``, ``time``
        (an aware datetime or a string), ``timeout``, ``delay``, ``interval``,
        ``custom``, ``dlrurl``, ``callback`` (a dict) and ``correlation_token``. More
        than 100 numbers go as consecutive requests; one result per request.
        """
        calls, _ = validation.outbound_calls(to=to, bridge=bridge, flow_id=flow_id, **optional)
        return [self.submit(call) for call in calls]

    def list_numbers(self) -> list[dict[str, Any]]:
        """The account's subscribed numbers (read-only)."""
        reply = self._exchange(
            self._request("GET", wire.subscriptions_url(self.settings.base_url, self.settings.sid)),
            action="list subscribed numbers",
            idempotent=True,
        )
        return wire.subscriptions_summary(reply.data)

    def test_connection(self) -> tuple[bool, str]:
        """Check SID and key with a read-only request; never places a call."""
        try:
            numbers = self.list_numbers()
        except Exception as error:
            return False, str(error)
        voice = [n["number"] for n in numbers if "voice_out" in n["capabilities"]]
        return True, (
            f"Connected to Kaleyra at {self.settings.base_url} as {self.settings.sid}: "
            f"{len(numbers)} subscribed numbers, {len(voice)} can place calls"
            + (f" ({', '.join(voice[:5])})" if voice else "")
        )

    def call_logs(
        self,
        query: call_logs.CallLogQuery,
        *,
        page_size: int = call_logs.PAGE_SIZE,
        max_pages: int = call_logs.MIN_PAGES,
    ) -> call_logs.CallLogListing:
        """Every call matching ``query`` (read-only, paged; each page retried like any GET).

        ``problems`` lists entries that could not be read and ``cut_off`` says where the
        listing stopped early, if it did.
        """
        url = call_logs.call_logs_url(self.settings.base_url, self.settings.sid)
        pager = call_logs.CallLogPager(query, page_size, self.settings.timezone, max_pages)
        while (page := pager.next_request()) is not None:
            reply = self._exchange(
                self._request("GET", url, params=page.params, data=page.body, headers=page.headers),
                action="list call logs",
                idempotent=True,
                succeeded=call_logs.listing_succeeded,
            )
            pager.add(reply)
        listing = pager.result()
        note_listing(listing, self.log)
        return listing
