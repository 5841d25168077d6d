"""Writing calls and one page of the call-log listing in a :class:`CallLogStyle`."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra.simulator.messages import Response

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_provider_kaleyra.simulator.call_log_style import CallLogStyle
    from airflow_provider_kaleyra.simulator.calls import CallState

LISTED_MESSAGE = "Call logs fetched successfully"
#: ``iso_naive`` times: what a database column printed without its zone looks like.
NAIVE_FORMAT = "%Y-%m-%d %H:%M:%S"


def numeric_flow_id(flow_id: str) -> int:
    """A stable integer for a Flow ID: the same in every process and every run."""
    return int(hashlib.sha256(flow_id.encode()).hexdigest()[:8], 16)


def styled_time(iso: str | None, style: CallLogStyle) -> str | int | None:
    """An ISO 8601 time with offset (as the simulator keeps them) in the style's ``times``."""
    if iso is None or style.times == "iso":
        return iso
    moment = dt.datetime.fromisoformat(iso)
    if style.times == "iso_naive":
        return moment.astimezone(style.zone).strftime(NAIVE_FORMAT)
    if style.times == "epoch_ms":
        return int(moment.timestamp() * 1000)
    seconds = int(moment.timestamp())
    return str(seconds) if style.times == "epoch_string" else seconds


def styled_number(number: str, style: CallLogStyle) -> str:
    return number if style.plus else number.lstrip("+")


def styled_record(call: CallState, style: CallLogStyle) -> dict[str, Any]:
    """One call, with the style's field names, numbers, times, flow id and ``custom``."""
    dial = call.dial
    to, bridge = styled_number(dial.number, style), styled_number(dial.bridge, style)
    flow_id: str | int = numeric_flow_id(dial.flow_id) if style.numeric_flow_id and dial.flow_id else dial.flow_id
    started = styled_time(dial.time, style)
    if style.fields == "placeholders":
        record: dict[str, Any] = {
            "id": dial.call_id,
            "callee": to,
            "caller": bridge,
            "bridge": bridge,
            "status": call.status,
            "starttime": started,
            "endtime": styled_time(call.end_time, style),
            "billsec": call.duration,
            "flow_id": flow_id,
        }
    else:
        record = {
            "id": dial.call_id,
            "to": to,
            "bridge": bridge,
            "flow_id": flow_id,
            "status": call.status,
            "start_time": started,
            "duration": call.duration,
        }
    if style.echo_custom:
        record["custom"] = dial.custom
    return record


def listing(calls: Sequence[CallState], total: int, page: int, limit: int, style: CallLogStyle) -> Response:
    """The answer to one call-log request: ``calls`` is the page, ``total`` all that matched."""
    records = [styled_record(call, style) for call in calls]
    data: Any = records if style.shape == "list" else {"calls": records, "total": total, "page": page, "limit": limit}
    body: dict[str, Any] = {"code": style.code, "message": LISTED_MESSAGE, "data": data}
    if not style.omit_error:
        body["error"] = {}
    # 200 whatever the code: an unfamiliar success code still travels on a success status.
    return Response.json(200, body)
