"""The record of every call the simulator accepted: what tests assert on.

One entry per dialled number, because that is what reaches a phone: a request to
three numbers is three dials. Entries are immutable; the ledger hands out copies,
so a test can never change what the server saw.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.simulator import phone

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Optional outbound fields kept as sent. ``time`` is renamed because the entry's own
#: ``time`` is when the simulator accepted the call.
OPTIONAL_FIELDS: dict[str, str] = {
    "callback": "callback",
    "dlrurl": "dlrurl",
    "prefix": "prefix",
    "retry": "retry",
    "time": "scheduled_time",
    "timeout": "timeout",
    "delay": "delay",
    "interval": "interval",
}


@dataclass(frozen=True)
class Dial:
    """One number dialled by one accepted request."""

    request_id: str
    #: Unique per number, so a later call-status feature has something to key on.
    call_id: str
    number: str
    flow_id: str
    bridge: str
    sid: str
    time: str
    custom: str | None
    #: ``wire.CORRELATION_KEY`` read back out of ``custom``, when it is there.
    correlation_token: str | None
    callback: str | None
    dlrurl: str | None
    prefix: str | None
    retry: str | None
    scheduled_time: str | None
    timeout: str | None
    delay: str | None
    interval: str | None
    #: ``SpokenMessage.as_dict()`` when the request spoke a text instead of running a flow.
    spoken: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def correlation_token_in(custom: str | None) -> str | None:
    if not custom:
        return None
    try:
        parsed = json.loads(custom)
    except ValueError:
        return None  # free text is allowed in ``custom``; it just carries no token
    token = parsed.get(wire.CORRELATION_KEY) if isinstance(parsed, dict) else None
    return str(token) if token is not None else None


def dials_for(
    *,
    sid: str,
    numbers: Iterable[str],
    flow_id: str,
    bridge: str,
    form: Mapping[str, str],
    now: dt.datetime | None = None,
    message: wire.SpokenMessage | None = None,
) -> list[Dial]:
    """The entries one accepted request adds, sharing a request id and a timestamp."""
    request_id = str(uuid.uuid4())
    accepted_at = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="milliseconds")
    custom = form.get("custom")
    optional = {entry: form.get(name) for name, entry in OPTIONAL_FIELDS.items()}
    return [
        Dial(
            request_id=request_id,
            call_id=str(uuid.uuid4()),
            number=number,
            flow_id=flow_id,
            bridge=bridge,
            sid=sid,
            time=accepted_at,
            custom=custom,
            correlation_token=correlation_token_in(custom),
            spoken=message.as_dict() if message is not None else None,
            **optional,
        )
        for number in numbers
    ]


class Ledger:
    """Thread-safe, append-only (until cleared) list of :class:`Dial`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dials: list[Dial] = []

    def record(self, dials: Iterable[Dial]) -> None:
        # All numbers of one request land together: readers never see half a request.
        batch = list(dials)
        with self._lock:
            self._dials.extend(batch)

    def dials(self) -> list[Dial]:
        with self._lock:
            return list(self._dials)

    def entries(self) -> list[dict[str, Any]]:
        return [dial.as_dict() for dial in self.dials()]

    def count_to(self, number: str) -> int:
        wanted = phone.digits(number)
        return sum(1 for dial in self.dials() if phone.digits(dial.number) == wanted)

    def clear(self) -> None:
        with self._lock:
            self._dials.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._dials)
