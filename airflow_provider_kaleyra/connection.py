"""From an Airflow connection of type ``kaleyra`` to the settings the transports need.

The connection form (see ``get_provider_info``): login is the account SID, password
the API key; extras hold ``region``, an optional ``base_url``, ``timeout`` and
``timezone``. Everything is checked here, before any request: a key that cannot travel
in an HTTP header fails naming the field, never showing the key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.exceptions import KaleyraConnectionConfigError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

CONN_TYPE = "kaleyra"
DEFAULT_CONN_ID = "kaleyra_default"
#: Seconds to open a connection, and to wait for an answer unless the connection says.
CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_TIMEZONE = "UTC"
#: What an HTTP header value can carry safely: visible ASCII, no spaces or line breaks.
HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
#: The SID is a path segment of every URL.
SID_SAFE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class KaleyraSettings:
    conn_id: str
    sid: str
    api_key: str
    base_url: str
    region: str
    read_timeout: float = DEFAULT_READ_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    #: How naive times in call logs are read (an IANA name).
    timezone: str = DEFAULT_TIMEZONE

    def __repr__(self) -> str:  # never show the key
        return f"KaleyraSettings(conn_id={self.conn_id!r}, sid={self.sid!r}, base_url={self.base_url!r})"


def _extra(extras: dict[str, Any], name: str) -> Any:
    """An extra saved by either UI: plain ``name`` or the older ``extra__kaleyra__name``."""
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__{CONN_TYPE}__{name}")
    return None if value == "" else value


def settings_from_connection(conn: Connection) -> KaleyraSettings:
    conn_id = conn.conn_id
    sid = (conn.login or "").strip()
    api_key = (conn.password or "").strip()
    if not sid:
        raise KaleyraConnectionConfigError(
            f"Connection {conn_id!r} has no Account SID: set its login field to the SID (e.g. HXIN169510844XXX)"
        )
    if not api_key:
        raise KaleyraConnectionConfigError(
            f"Connection {conn_id!r} has no API key: set its password field to a Kaleyra API key"
        )
    if not SID_SAFE.fullmatch(sid):
        raise KaleyraConnectionConfigError(
            f"Connection {conn_id!r}: the Account SID (login field) {sid!r} may hold only letters, digits, "
            "'_' and '-'; copy it again from Kaleyra.io"
        )
    if not HEADER_SAFE.fullmatch(api_key):
        # Never the key itself: only what kind of character is wrong with it.
        raise KaleyraConnectionConfigError(
            f"Connection {conn_id!r}: the API key (password field) holds {_bad_character(api_key)}, which "
            "cannot be sent in the api-key header; paste the key again from Kaleyra.io"
        )
    extras = conn.extra_dejson or {}
    region_value = _extra(extras, "region") or wire.DEFAULT_REGION
    region = str(region_value).strip().upper()
    if region not in wire.REGION_BASE_URLS:
        raise KaleyraConnectionConfigError(
            f"Connection {conn_id!r}: region={region_value!r} is not a Kaleyra region; "
            f"expected one of {', '.join(wire.REGION_BASE_URLS)}"
        )
    base_url = _extra(extras, "base_url") or wire.base_url_for(region)
    base_url = str(base_url).strip()
    if not base_url.startswith(("http://", "https://")):
        raise KaleyraConnectionConfigError(
            f"Connection {conn_id!r}: base_url={base_url!r} must start with http:// or https://"
        )
    timeout_value = _extra(extras, "timeout")
    try:
        read_timeout = float(timeout_value) if timeout_value is not None else DEFAULT_READ_TIMEOUT
    except (TypeError, ValueError):
        read_timeout = -1.0
    if not math.isfinite(read_timeout) or read_timeout <= 0:
        raise KaleyraConnectionConfigError(
            f"Connection {conn_id!r}: timeout={timeout_value!r} must be a positive number of seconds"
        )
    timezone = str(_extra(extras, "timezone") or DEFAULT_TIMEZONE).strip()
    try:
        pendulum.timezone(timezone)
    except Exception:  # pendulum raises its own error types per version
        raise KaleyraConnectionConfigError(
            f"Connection {conn_id!r}: timezone={timezone!r} is not a time zone name such as 'Asia/Kolkata' or 'UTC'"
        ) from None
    return KaleyraSettings(conn_id, sid, api_key, base_url, region, read_timeout, timezone=timezone)


def _bad_character(text: str) -> str:
    """Names the first character a header cannot carry, without quoting the secret around it."""
    for ch in text:
        if not HEADER_SAFE.fullmatch(ch):
            if ch in "\r\n":
                return "a line break"
            if ch.isspace():
                return "a space"
            if not ch.isascii():
                return f"the non-ASCII character U+{ord(ch):04X}"
            return f"the control character U+{ord(ch):04X}"
    return "an invalid character"
