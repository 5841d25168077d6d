"""Requests and responses as plain values, independent of the HTTP server.

Endpoints take a :class:`Request` and return a :class:`Response`; only
``transport`` touches sockets. That seam is where a later fault injector can swap
or mangle a response (5xx, 429, HTML, empty, slow, dropped) without endpoints knowing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import wire

if TYPE_CHECKING:
    from collections.abc import Mapping

JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    #: Header names lower-cased: HTTP header names are case-insensitive.
    headers: Mapping[str, str]
    body: bytes = b""
    query: Mapping[str, list[str]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), headers=dict(headers or {}))


def envelope(code: str, message: str, data: Any, error: Any) -> dict[str, Any]:
    """Kaleyra's four keys, in the order its samples show them."""
    return {"code": code, "message": message, "data": data, "error": error}


def kaleyra(code: str, message: str, data: Any, error: Any) -> Response:
    """A Kaleyra answer, sent with the HTTP status ``wire`` assumes for ``code`` (200 for a
    code ``wire`` does not list, such as a listing's)."""
    info = wire.KNOWN_CODES.get(code)
    return Response.json(info.http_status if info else 200, envelope(code, message, data, error))


def target_echo(flow_id: str, message: wire.SpokenMessage | None = None) -> list[dict[str, Any]]:
    """``target`` as Kaleyra echoes it, whatever spelling was sent (ASSUMPTION: a spoken
    message is echoed as sent, like a flow)."""
    if message is not None:
        return [{"message": message.as_dict()}]
    return [{"ivr": [flow_id]}]


def bad_credentials() -> Response:
    # Same answer for a wrong SID and a wrong key: a server does not say which.
    message = "Incorrect SID or API Key"
    return kaleyra(wire.BAD_CREDENTIALS, message, [], {"scalar": message})


def invalid_parameters(errors: Mapping[str, str]) -> Response:
    names = ", ".join(errors)
    noun = "parameter" if len(errors) == 1 else "parameters"
    return kaleyra(wire.INVALID_PARAMETER, f"Invalid {noun}: {names}", [], dict(errors))


def simulator_error(status: int, code: str, message: str, error: Mapping[str, Any]) -> Response:
    """An answer about the simulator itself (unknown path, bad admin call), same envelope."""
    return Response.json(status, envelope(code, message, [], dict(error)))


def not_found(method: str, path: str) -> Response:
    return simulator_error(404, "NOT_FOUND", f"No such endpoint: {method} {path}", {"path": path})


def method_not_allowed(method: str, path: str, allowed: list[str]) -> Response:
    response = simulator_error(
        405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}", {"allowed": allowed}
    )
    return Response(response.status, response.body, headers={"Allow": ", ".join(allowed)})
