"""The Kaleyra endpoints: trigger an outbound call flow, list subscribed numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.simulator import messages
from airflow_provider_kaleyra.simulator.forms import BodyError, read_fields
from airflow_provider_kaleyra.simulator.ledger import dials_for
from airflow_provider_kaleyra.simulator.outbound import Invalid, validate

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_kaleyra.simulator.messages import Request, Response
    from airflow_provider_kaleyra.simulator.state import SimulatorState

API_KEY_HEADER = "api-key"


class KaleyraApi:
    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def _authenticated(self, request: Request, sid: str) -> bool:
        return self.state.authenticates(sid, request.header(API_KEY_HEADER))

    def outbound(self, request: Request, params: Mapping[str, str]) -> Response:
        sid = params["sid"]
        # Credentials first: a stranger learns nothing about the fields.
        if not self._authenticated(request, sid):
            return messages.bad_credentials()
        try:
            fields = read_fields(request)
        except BodyError as exc:
            return messages.invalid_parameters({"body": str(exc)})
        call = validate(fields, self.state.can_bridge)
        if isinstance(call, Invalid):
            return messages.invalid_parameters(call.errors)
        echo = {"to": call.to, "target": messages.target_echo(call.flow_id, call.message), "bridge": call.bridge}
        dials = dials_for(
            sid=sid, numbers=call.numbers, flow_id=call.flow_id, bridge=call.bridge, form=fields, message=call.message
        )
        if not self.state.accept(call.flow_id, dials):
            # Kaleyra's sample failure: ``data`` becomes a list, ``error`` a scalar.
            return messages.kaleyra(wire.IVR_NOT_FOUND, "IVR not found", [echo], {"scalar": "IVR not found"})
        return messages.kaleyra(wire.OUTBOUND_ACCEPTED, "Submitted Successfully", echo, {})

    def subscriptions(self, request: Request, params: Mapping[str, str]) -> Response:
        if not self._authenticated(request, params["sid"]):
            return messages.bad_credentials()
        data = [
            {"number": n.number, "capabilities": list(n.capabilities), "number_status": n.status}
            for n in self.state.numbers
        ]
        return messages.kaleyra(wire.SUBSCRIPTIONS_LISTED, "Subscribed numbers fetched successfully", data, {})
