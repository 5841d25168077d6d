"""``/v1/<SID>/voice/call-logs`` and the admin endpoints that script call outcomes and the listing's style.

By default the answer has the shape the provider first assumed (see ``call_logs``):
``data`` holds ``calls`` (one object per call), ``total``, ``page`` and ``limit``. A
:class:`~airflow_provider_kaleyra.simulator.call_log_style.CallLogStyle` makes it
answer the way the real Kaleyra may instead; the admin views keep the default form.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra.simulator import messages, phone
from airflow_provider_kaleyra.simulator.api import API_KEY_HEADER
from airflow_provider_kaleyra.simulator.call_log_answer import listing, styled_record
from airflow_provider_kaleyra.simulator.call_log_query import filter_time, iso_time, parameters
from airflow_provider_kaleyra.simulator.call_log_style import DEFAULT_STYLE, style_from_json
from airflow_provider_kaleyra.simulator.forms import BodyError
from airflow_provider_kaleyra.simulator.messages import Response

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_kaleyra.simulator.calls import CallState
    from airflow_provider_kaleyra.simulator.messages import Request
    from airflow_provider_kaleyra.simulator.state import SimulatorState

#: Documented: the call-logs API covers the last 7 days.
RETENTION = dt.timedelta(days=7)
#: Page size when the ``limit`` header is missing, and the largest one served.
DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def _int(value: str | None, default: int, minimum: int) -> int:
    number = int(value) if value not in (None, "") else default  # ValueError is the caller's
    if number < minimum:
        raise ValueError(f"must be at least {minimum}")
    return number


def record(call: CallState) -> dict[str, Any]:
    """A call in the simulator's own form, whatever style the listing plays."""
    return styled_record(call, DEFAULT_STYLE)


class CallLogsApi:
    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def calls(self, sid: str | None = None, now: dt.datetime | None = None) -> list[CallState]:
        now = now or dt.datetime.now(dt.timezone.utc)
        return [
            self.state.calls.state(dial, now)
            for dial in self.state.ledger.dials()
            if sid is None or dial.sid == sid
        ]

    def call_logs(self, request: Request, params: Mapping[str, str]) -> Response:
        sid = params["sid"]
        if not self.state.authenticates(sid, request.header(API_KEY_HEADER)):
            return messages.bad_credentials()
        try:
            query = parameters(request)
        except BodyError as exc:
            return messages.invalid_parameters({"body": str(exc)})
        style = self.state.call_log_style
        # A listing that ignores its filters does not read them, so cannot refuse them either.
        filters: Mapping[str, str] = {} if style.ignore_filters else query
        errors: dict[str, str] = {}
        window: dict[str, dt.datetime] = {}
        for name in ("start_time", "end_time"):
            if filters.get(name):
                try:
                    window[name] = filter_time(filters[name])
                except ValueError:
                    errors[name] = f"{filters[name]!r} is not a date and time"
        try:
            limit = min(MAX_LIMIT, _int(request.header("limit"), DEFAULT_LIMIT, 1))
        except ValueError:
            errors["limit"] = f"{request.header('limit')!r} is not a page size"
            limit = DEFAULT_LIMIT
        try:
            page = _int(query.get("page"), 1, 1)
            offset = _int(query.get("offset"), (page - 1) * limit, 0)
        except ValueError:
            errors["page"] = "page counts from 1 and offset from 0"
            page, offset = 1, 0
        if errors:
            return messages.invalid_parameters(errors)
        now = dt.datetime.now(dt.timezone.utc)
        oldest = now - RETENTION
        matching = [
            call
            for call in self.calls(sid, now)
            if self._matches(call, filters, window) and iso_time(call.dial.time) >= oldest
        ]
        return listing(matching[offset : offset + limit], len(matching), page, limit, style)

    @staticmethod
    def _matches(call: CallState, query: Mapping[str, str], window: Mapping[str, dt.datetime]) -> bool:
        dial = call.dial
        if query.get("bridge") and phone.digits(query["bridge"]) != phone.digits(dial.bridge):
            return False
        if query.get("call_id") and query["call_id"] != dial.call_id:
            return False
        if query.get("status") and query["status"].upper() != call.status:
            return False
        started = iso_time(dial.time)
        if "start_time" in window and started < window["start_time"]:
            return False
        return not ("end_time" in window and started > window["end_time"])

    # ------------------------------------------------------------------ admin

    def admin_calls(self, request: Request, params: Mapping[str, str]) -> Response:
        """Every call with its current status, oldest first."""
        return Response.json(200, [record(call) | {"sid": call.dial.sid} for call in self.calls()])

    def admin_outcomes(self, request: Request, params: Mapping[str, str]) -> Response:
        """GET: the script. POST ``{"numbers": {number: status}, "flows": {flow id: status}}``."""
        if request.method == "POST":
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                body = None
            valid = isinstance(body, dict) and set(body) <= {"numbers", "flows"}
            valid = valid and all(
                isinstance(body.get(k, {}), dict)
                and all(isinstance(v, str) and v.strip() for v in body.get(k, {}).values())
                for k in ("numbers", "flows")
            )
            if not valid:
                return messages.simulator_error(
                    400,
                    "BAD_REQUEST",
                    'expected {"numbers": {number: status}, "flows": {flow id: status}}',
                    {"body": "not that shape"},
                )
            self.state.calls.script(body.get("numbers"), body.get("flows"))
        return Response.json(200, self.state.calls.as_dict())

    def admin_call_log_style(self, request: Request, params: Mapping[str, str]) -> Response:
        """GET: the listing's style. POST a JSON object of style fields (and an optional ``preset``).

        The body names the whole style: fields it leaves out take the default (or the preset's).
        """
        if request.method == "POST":
            try:
                style = style_from_json(json.loads(request.body or b"{}"))
            except ValueError as error:
                return messages.simulator_error(400, "BAD_REQUEST", str(error), {"body": "not a call-log style"})
            self.state.call_log_style = style
        return Response.json(200, self.state.call_log_style.as_dict())
