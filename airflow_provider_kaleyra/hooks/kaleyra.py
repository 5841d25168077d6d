"""KaleyraHook: the Airflow connection, one HTTP session and every sync exchange."""

from __future__ import annotations

import time as time_module
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from airflow.sdk import BaseHook

from airflow_provider_kaleyra import __version__, validation, wire
from airflow_provider_kaleyra.connection import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    KaleyraSettings,
    settings_from_connection,
)
from airflow_provider_kaleyra.retry import DEFAULT_RETRY_POLICY, Attempt, Exchange, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

USER_AGENT = f"airflow-provider-kaleyra/{__version__}"


def _nothing_was_sent(error: requests.RequestException) -> bool:
    """True when the connection failed before the request could leave.

    requests reports a refused connection and a connection reset after sending with
    the same ``ConnectionError``; urllib3's ``NewConnectionError`` in the chain tells
    them apart.
    """
    if isinstance(error, requests.ConnectTimeout):
        return True
    from urllib3.exceptions import NewConnectionError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NewConnectionError):
            return True
        reason = getattr(current, "reason", None)
        nested = reason if isinstance(reason, BaseException) else None
        current = nested or current.__cause__ or current.__context__ or (
            current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        )
    return False


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
        from airflow_provider_kaleyra.get_provider_info import UI_FIELD_BEHAVIOUR

        return {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """For Airflow < 3.2, which does not read ``conn-fields`` from provider info."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField
        from wtforms.validators import Optional, any_of

        from airflow_provider_kaleyra.get_provider_info import CONN_FIELDS

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
        }

    # ------------------------------------------------------------------ plumbing

    @cached_property
    def settings(self) -> KaleyraSettings:
        settings = settings_from_connection(self.get_connection(self.kaleyra_conn_id))
        try:
            from airflow.sdk.log import mask_secret

            mask_secret(settings.api_key)
        except ImportError:  # pragma: no cover - every supported Airflow has it
            pass
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

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        action: str,
        idempotent: bool,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        sent: str | None = None,
    ) -> wire.Reply:
        """Send, retry where ``retry`` allows, and return Kaleyra's successful reply.

        Anything else becomes the exception ``exceptions`` chooses for it.
        """
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        exchange = Exchange(self.retry_policy, action, idempotent, self.settings.base_url, sent)
        while True:
            reply: wire.Reply | None = None
            error: requests.RequestException | None = None
            try:
                response = self.session.request(
                    method, url, data=data, params=params, headers=headers, timeout=timeout
                )
            except requests.RequestException as failure:
                error = failure
                delay = exchange.failed(
                    Attempt.NOT_SENT if _nothing_was_sent(error) else Attempt.MAYBE_SENT, error=error
                )
            else:
                reply = wire.parse_reply(response.status_code, response.content, response.headers)
                if reply.ok:
                    return reply
                delay = exchange.failed(Attempt.ANSWERED, reply)
            self.log.warning("%s; trying again in %.1fs", exchange.describe(reply, error), delay)
            self._sleep(delay)

    # ------------------------------------------------------------------ API

    def submit(self, call: wire.OutboundCall) -> wire.Submission:
        """Send one validated outbound request (at most 100 numbers) exactly once."""
        form = wire.encode_outbound_form(call)
        sent = wire.redacted_summary(form)
        self.log.debug("Triggering Kaleyra flow %s: %s", call.flow_id, sent)
        reply = self._exchange(
            "POST",
            wire.outbound_url(self.settings.base_url, self.settings.sid),
            data=form,
            headers={"Content-Type": wire.FORM_CONTENT_TYPE},
            action=f"trigger flow {call.flow_id}",
            idempotent=False,
            sent=sent,
        )
        return wire.submission_from(call, reply)

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
            "GET",
            wire.subscriptions_url(self.settings.base_url, self.settings.sid),
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

    def call_logs(self, query: wire.CallLogQuery, *, page_size: int = wire.CALL_LOGS_PAGE_SIZE) -> wire.CallLogPage:
        """Every call matching ``query`` (read-only, paged; each page retried like any GET).

        One listing per poll covers a whole submission; ``problems`` lists entries that
        could not be read.
        """
        url = wire.call_logs_url(self.settings.base_url, self.settings.sid)
        pager = wire.CallLogPager(query, page_size)
        while (request := pager.next_request()) is not None:
            params, headers = request
            reply = self._exchange(
                "GET", url, params=params, headers=headers, action="list call logs", idempotent=True
            )
            pager.add(reply.data)
        return pager.result()
