"""From an Airflow connection of type ``kaleyra`` to the settings the transports need.

The connection form (see ``get_provider_info``): login is the account SID, password
the API key; extras hold ``region``, an optional ``base_url`` and ``timeout``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.exceptions import KaleyraConnectionConfigError

if TYPE_CHECKING:
    from airflow.sdk import Connection

CONN_TYPE = "kaleyra"
DEFAULT_CONN_ID = "kaleyra_default"
#: Seconds to open a connection, and to wait for an answer unless the connection says.
CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class KaleyraSettings:
    conn_id: str
    sid: str
    api_key: str
    base_url: str
    region: str
    read_timeout: float = DEFAULT_READ_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT

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
    if read_timeout <= 0:
        raise KaleyraConnectionConfigError(
            f"Connection {conn_id!r}: timeout={timeout_value!r} must be a positive number of seconds"
        )
    return KaleyraSettings(conn_id, sid, api_key, base_url, region, read_timeout)
