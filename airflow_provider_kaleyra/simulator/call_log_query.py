"""Reading a call-log request: its filters, wherever and however the client sent them.

Filters come from the query string and from a form (or JSON) body, on GET or POST;
where both name one, the query string wins. ``start_time`` and ``end_time`` may be
ISO 8601 (an offset-less time is UTC) or epoch seconds.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from airflow_provider_kaleyra.simulator.forms import read_fields

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator.messages import Request

#: Digits, perhaps with a fraction: epoch seconds (so a bare ``20260101`` is a 1970 epoch, not a date).
_EPOCH = re.compile(r"\d+(\.\d+)?")


def parameters(request: Request) -> dict[str, str]:
    """Every parameter of the request; raises ``forms.BodyError`` for an unreadable body."""
    body = read_fields(request) if request.body.strip() else {}
    query = {name: values[-1] for name, values in request.query.items() if values}
    return {**body, **query}


def iso_time(value: str) -> dt.datetime:
    """ISO 8601, ``Z`` or a space allowed; no offset means UTC."""
    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def filter_time(value: str) -> dt.datetime:
    """A ``start_time`` / ``end_time`` filter; ValueError when it is neither form."""
    text = value.strip()
    if _EPOCH.fullmatch(text):
        try:
            return dt.datetime.fromtimestamp(float(text), dt.timezone.utc)
        except (OverflowError, OSError) as error:
            raise ValueError(f"{text} is out of range") from error
    return iso_time(text)
