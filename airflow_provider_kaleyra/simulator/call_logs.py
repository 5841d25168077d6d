"""``GET /v1/<SID>/voice/call-logs`` and the admin endpoints that script call outcomes.

The answer has the shape ``wire`` assumes (see its call-logs section): ``data`` holds
``calls`` (one object per call), ``total``, ``page`` and ``limit``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra.simulator import messages, phone
from airflow_provider_kaleyra.simulator.api import API_KEY_HEADER
from airflow_provider_kaleyra.simulator.messages import Response

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_kaleyra.simulator.calls import CallState
    from airflow_provider_kaleyra.simulator.messages import Request
    from airflow_provider_kaleyra.simulator.state import SimulatorState

#: The code of a successful listing. Kaleyra documents none; the provider accepts any.
LISTED = "RBC3200"
#: Documented: the call-logs API covers the last 7 days.
RETENTION = dt.timedelta(days=7)
#: Page size when the ``limit`` header is missing, and the largest one served.
DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def _time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _int(value: str | None, default: int, minimum: int) -> int:
    number = int(value) if value not in (None, "") else default  # ValueError is the caller's
    if number < minimum:
        raise ValueError(f"must be at least {minimum}")
    return number


def record(call: CallState) -> dict[str, Any]:
    dial = call.dial
    return {
        "id": dial.call_id,
        "to": dial.number,
        "bridge": dial.bridge,
        "flow_id": dial.flow_id,
        "status": call.status,
        "start_time": dial.time,
        "duration": call.duration,
        "custom": dial.custom,
    }


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
        query = {name: values[-1] for name, values in request.query.items() if values}
        errors: dict[str, str] = {}
        window: dict[str, dt.datetime] = {}
        for name in ("start_time", "end_time"):
            if query.get(name):
                try:
                    window[name] = _time(query[name])
                except ValueError:
                    errors[name] = f"{query[name]!r} is not a date and time"
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
            if self._matches(call, query, window) and _time(call.dial.time) >= oldest
        ]
        data = {
            "calls": [record(call) for call in matching[offset : offset + limit]],
            "total": len(matching),
            "page": page,
            "limit": limit,
        }
        return messages.kaleyra(LISTED, "Call logs fetched successfully", data, {})

    @staticmethod
    def _matches(call: CallState, query: Mapping[str, str], window: Mapping[str, dt.datetime]) -> bool:
        dial = call.dial
        if query.get("bridge") and phone.digits(query["bridge"]) != phone.digits(dial.bridge):
            return False
        if query.get("call_id") and query["call_id"] != dial.call_id:
            return False
        if query.get("status") and query["status"].upper() != call.status:
            return False
        started = _time(dial.time)
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
