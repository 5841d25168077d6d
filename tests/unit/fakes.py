"""A fake Kaleyra for unit tests: a requests transport adapter that replays answers."""

from __future__ import annotations

import json
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

#: Distinctive, so a test can prove it never reaches a log, an error or XCom.
SECRET_KEY = "Kx9-SECRET-api-key-7f3e2d1c"
SID = "HXIN169510844XXX"


def connection_json(**extra: object) -> str:
    return json.dumps(
        {"conn_type": "kaleyra", "login": SID, "password": SECRET_KEY, "extra": {"region": "SG", **extra}}
    )


ACCEPTED = {
    "code": "RBC3007",
    "message": "Submitted Successfully",
    "data": {"to": "+18830907001", "target": [{"ivr": ["SG_flow"]}], "bridge": "+13236789001"},
    "error": {},
}
IVR_NOT_FOUND = {
    "code": "RBC3115",
    "message": "IVR not found",
    "data": [{"to": "+18830907001", "target": [{"ivr": ["SG_flow"]}], "bridge": "+13236789001"}],
    "error": {"scalar": "IVR not found"},
}


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    if body is None:
        raw = b""
    elif isinstance(body, (bytes, str)):
        raw = body.encode() if isinstance(body, str) else body
    else:
        raw = json.dumps(body).encode()
    return status, raw, headers or {}


class FakeKaleyra(BaseAdapter):
    """Answers each request with the next scripted answer (or raises it)."""

    def __init__(self, *answers: Any) -> None:
        super().__init__()
        self.answers = list(answers)
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        scripted = self.answers.pop(0)
        if isinstance(scripted, BaseException):
            raise scripted
        status, body, headers = scripted
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.headers = CaseInsensitiveDict(headers)
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass

    def forms(self) -> list[dict[str, list[str]]]:
        from urllib.parse import parse_qs

        return [parse_qs(r.body if isinstance(r.body, str) else (r.body or b"").decode()) for r in self.requests]


def install(hook: Any, fake: FakeKaleyra) -> FakeKaleyra:
    hook.session.mount("https://", fake)
    hook.session.mount("http://", fake)
    return fake


class FakeTaskStateStore:
    """The ``task_state_store`` accessor's get/set, in memory."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = json.loads(json.dumps(value))


#: The digit zero of scripts whose digits ``str.isdigit`` accepts but Kaleyra would not dial.
DEVANAGARI_ZERO, FULLWIDTH_ZERO, ARABIC_INDIC_ZERO = "\u0966", "\uff10", "\u0660"


def spelled(number: str, zero: str) -> str:
    """``number`` with its ASCII digits written in the script whose digit zero is ``zero``."""
    return "".join(chr(ord(zero) + int(ch)) if ch in "0123456789" else ch for ch in number)
