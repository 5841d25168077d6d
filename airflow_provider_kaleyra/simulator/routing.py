"""Which endpoint answers which method and path.

A table of regular expressions, so new endpoints (a call-logs listing, say) are one
line here and a method on an endpoint class.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_kaleyra.simulator import messages
from airflow_provider_kaleyra.simulator.admin import PREFIX as ADMIN
from airflow_provider_kaleyra.simulator.admin import AdminApi
from airflow_provider_kaleyra.simulator.api import KaleyraApi
from airflow_provider_kaleyra.simulator.call_logs import CallLogsApi
from airflow_provider_kaleyra.simulator.faults import FaultAdmin, FaultPlan
from airflow_provider_kaleyra.simulator.messages import Request, Response

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator.state import SimulatorState

Handler = Callable[[Request, Mapping[str, str]], Response]
SID = r"(?P<sid>[^/]+)"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def dispatch(self, request: Request) -> Response:
        allowed: list[str] = []
        for route in self.routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method == request.method:
                return route.handler(request, match.groupdict())
            allowed.append(route.method)
        if allowed:
            return messages.method_not_allowed(request.method, request.path, allowed)
        return messages.not_found(request.method, request.path)


def _path(template: str) -> re.Pattern[str]:
    # A trailing slash is tolerated: base URLs are joined by hand in many clients.
    return re.compile(template + "/?")


def build_router(state: SimulatorState, faults: FaultPlan | None = None) -> Router:
    api, admin, calls = KaleyraApi(state), AdminApi(state), CallLogsApi(state)
    fault_admin = FaultAdmin(faults if faults is not None else FaultPlan())
    return Router(
        [
            Route("POST", _path(rf"/v1/{SID}/voice/outbound"), api.outbound),
            Route("GET", _path(rf"/v1/{SID}/number/subscriptions"), api.subscriptions),
            Route("GET", _path(rf"/v1/{SID}/voice/call-logs"), calls.call_logs),
            Route("POST", _path(rf"/v1/{SID}/voice/call-logs"), calls.call_logs),
            Route("GET", _path(rf"{ADMIN}/calls"), calls.admin_calls),
            Route("GET", _path(rf"{ADMIN}/outcomes"), calls.admin_outcomes),
            Route("POST", _path(rf"{ADMIN}/outcomes"), calls.admin_outcomes),
            Route("GET", _path(rf"{ADMIN}/call-log-style"), calls.admin_call_log_style),
            Route("POST", _path(rf"{ADMIN}/call-log-style"), calls.admin_call_log_style),
            Route("GET", _path(rf"{ADMIN}/ledger"), admin.ledger),
            Route("GET", _path(rf"{ADMIN}/requests"), admin.requests),
            Route("POST", _path(rf"{ADMIN}/reset"), admin.reset),
            Route("GET", _path(rf"{ADMIN}/flows"), admin.list_flows),
            Route("POST", _path(rf"{ADMIN}/flows"), admin.change_flows),
            Route("GET", _path(rf"{ADMIN}/faults"), fault_admin.list),
            Route("POST", _path(rf"{ADMIN}/faults"), fault_admin.add),
            Route("DELETE", _path(rf"{ADMIN}/faults"), fault_admin.clear),
        ]
    )
