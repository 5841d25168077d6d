"""``/_simulator/`` endpoints: let a test or a demo inspect and steer the simulator over HTTP.

No credentials: the simulator binds loopback by default and holds no real secrets.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra.simulator import messages
from airflow_provider_kaleyra.simulator.messages import Request, Response

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_kaleyra.simulator.state import SimulatorState

PREFIX = "/_simulator"


def _flow_ids(value: Any) -> list[str] | None:
    # One id or a list of ids; None means "not a valid value".
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


class AdminApi:
    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def _flows(self) -> Response:
        return Response.json(200, {"flows": sorted(self.state.published_flows())})

    def ledger(self, request: Request, params: Mapping[str, str]) -> Response:
        return Response.json(200, self.state.ledger.entries())

    def requests(self, request: Request, params: Mapping[str, str]) -> Response:
        """Kaleyra API requests received per endpoint, e.g. ``{"voice/call-logs": 12}``."""
        return Response.json(200, self.state.requests.as_dict())

    def reset(self, request: Request, params: Mapping[str, str]) -> Response:
        self.state.reset()
        return Response.json(200, {"ledger": 0, "flows": sorted(self.state.published_flows())})

    def list_flows(self, request: Request, params: Mapping[str, str]) -> Response:
        return self._flows()

    def change_flows(self, request: Request, params: Mapping[str, str]) -> Response:
        """Body ``{"publish": [ids], "unpublish": [ids]}``; either key may be one id."""
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return messages.simulator_error(400, "BAD_REQUEST", "expected a JSON object", {"body": "not JSON"})
        publish, unpublish = _flow_ids(body.get("publish")), _flow_ids(body.get("unpublish"))
        unknown = sorted(set(body) - {"publish", "unpublish"})
        if publish is None or unpublish is None or unknown:
            return messages.simulator_error(
                400,
                "BAD_REQUEST",
                'expected {"publish": [flow ids], "unpublish": [flow ids]}',
                {"body": f"unexpected keys {unknown}" if unknown else "flow ids must be strings"},
            )
        self.state.publish(*publish)
        self.state.unpublish(*unpublish)
        return self._flows()
