"""Fault injection: make the next requests (or all of them) fail the way networks and APIs do.

A plan is a queue of :class:`Fault` rules. Each Kaleyra API request (never an admin
request) takes the first rule whose path matches and uses up one of its ``times``
(``None``: every request until cleared, i.e. "per run"), after letting ``after``
matching requests through. What a fault does:

- ``drop``: the connection is closed without an answer: the client cannot know the
  outcome.
- ``slow``: the answer comes after ``delay`` seconds (beyond a client's read timeout,
  the client gives up while the dials are recorded).
- ``error``: an HTTP ``status`` (500, 502, 503...) with a JSON error body.
- ``rate_limit``: 429 with ``Retry-After: retry_after``.
- ``html``: an HTML error page (a proxy's) with ``status``.
- ``empty``: ``status`` with an empty body.
- ``unknown_code``: HTTP ``status`` (200 by default) with Kaleyra's envelope and a
  ``code`` Kaleyra never documented (``RBC3008`` by default), ``data`` as the real
  answer had it.

``accept`` says whether the request is processed first (the endpoint runs, the
ledger records the dials):

- ``accept=True``: processed, THEN the fault answers: ``drop`` and ``slow`` send the
  real answer (late or never), the others send their own answer in its place. This
  is a server that dialled and then answered badly.
- ``accept=False``: not processed; the fault answers instead of Kaleyra and nobody is
  dialled (``drop`` and ``slow`` still drop or stall).

By default ``drop``, ``slow`` and ``unknown_code`` accept, the others do not. Set
through :meth:`KaleyraSimulator.inject_fault` or ``POST /_simulator/faults``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import wire
from airflow_provider_kaleyra.simulator import messages
from airflow_provider_kaleyra.simulator.messages import Response

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_provider_kaleyra.simulator.messages import Request

KINDS = ("drop", "slow", "error", "rate_limit", "html", "empty", "unknown_code")
#: Faults that let the request through to the endpoint (the dials happen) by default.
ACCEPTING_KINDS = ("drop", "slow", "unknown_code")
#: Faults that, once the request is processed, deliver the endpoint's own answer (late or never).
DELIVERING_KINDS = ("drop", "slow")
DEFAULT_STATUS = {
    "error": 503,
    "rate_limit": 429,
    "html": 502,
    "empty": 502,
    "unknown_code": 200,
    "drop": 0,
    "slow": 0,
}
#: A code absent from Kaleyra's documentation, for ``unknown_code``.
UNDOCUMENTED_CODE = "RBC3008"
UNDOCUMENTED_CODE_MESSAGE = "Request processed"
#: Only the Kaleyra API is faulted by default; admin calls must keep working.
DEFAULT_PATH = "/voice/outbound"

HTML_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass
class Fault:
    """One rule; see the module docstring for the kinds."""

    kind: str
    #: How many matching requests it applies to; ``None`` for every one until cleared.
    times: int | None = 1
    status: int | None = None
    retry_after: float = 1.0
    #: Seconds ``slow`` waits before answering.
    delay: float = 5.0
    accept: bool | None = None
    #: A request path must contain this to be faulted.
    path: str = DEFAULT_PATH
    #: Matching requests to let through untouched before the fault starts.
    after: int = 0
    #: The code ``unknown_code`` answers with.
    code: str = UNDOCUMENTED_CODE

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: unknown fault {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.after < 0:
            raise ValueError(f"after: {self.after!r}; expected 0 or more")
        if self.times is not None and self.times < 1:
            raise ValueError(f"times: {self.times!r}; expected 1 or more, or None for every request")
        if not isinstance(self.code, str):
            raise ValueError(f"code: {self.code!r}; expected a string")
        if self.status is None:
            self.status = DEFAULT_STATUS[self.kind]
        if self.accept is None:
            self.accept = self.kind in ACCEPTING_KINDS

    @property
    def answers_instead(self) -> bool:
        """True when the fault's answer replaces the endpoint's (nothing processed).

        ``drop`` and ``slow`` never answer in Kaleyra's place; with ``accept=False`` they
        skip the endpoint (nobody is dialled) and still drop or stall.
        """
        return not self.accept and self.kind not in DELIVERING_KINDS

    def answer(self, request: Request, endpoint: Callable[[Request], Response]) -> Response:
        """What the client is sent, after running ``endpoint`` when the fault accepts.

        For ``drop`` the transport closes the connection instead of sending it.
        """
        processed = endpoint(request) if self.accept else None
        if processed is not None and self.kind in DELIVERING_KINDS:
            return processed
        return self.response(processed)

    def response(self, processed: Response | None = None) -> Response:
        """The fault's own answer; ``processed`` is the endpoint's, when it ran."""
        status = int(self.status or 503)
        if self.kind == "rate_limit":
            body = messages.envelope(wire.RATE_LIMITED, "Too many requests", [], {})
            return Response.json(status, body, headers={"Retry-After": f"{self.retry_after:g}"})
        if self.kind == "html":
            return Response(status, HTML_PAGE, content_type="text/html")
        if self.kind == "empty":
            return Response(status, b"", content_type="text/plain")
        if self.kind == "unknown_code":
            body = messages.envelope(self.code, UNDOCUMENTED_CODE_MESSAGE, _data_of(processed), {})
            return Response.json(status, body)
        return messages.simulator_error(status, "SERVICE_UNAVAILABLE", "Service temporarily unavailable", {})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """Thread-safe queue of faults; the first matching rule applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        #: How many requests each kind has faulted since the last clear.
        self.applied: dict[str, int] = {}

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.applied = {}

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def take(self, request: Request) -> Fault | None:
        """The fault for ``request``, using one of its ``times``; ``None`` for a normal answer."""
        with self._lock:
            for fault in self._faults:
                if fault.path in request.path:
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    self.applied[fault.kind] = self.applied.get(fault.kind, 0) + 1
                    return fault
        return None


def _data_of(processed: Response | None) -> Any:
    # The real answer's ``data`` (e.g. the outbound echo), so only the code is unfamiliar.
    if processed is None:
        return []
    try:
        body = json.loads(processed.body)
    except ValueError:
        return []
    return body.get("data", []) if isinstance(body, dict) else []


def fault_from_json(body: Mapping[str, Any]) -> Fault:
    allowed = {"kind", "times", "status", "retry_after", "delay", "accept", "path", "after", "code"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValueError(f"unexpected keys {unknown}; expected some of {sorted(allowed)}")
    return Fault(**dict(body))


class FaultAdmin:
    """``/_simulator/faults``: GET lists, POST adds one rule (or a list), DELETE clears."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan

    def _listing(self) -> Response:
        return Response.json(200, {"faults": self.plan.pending(), "applied": dict(self.plan.applied)})

    def list(self, request: Request, params: Mapping[str, str]) -> Response:
        return self._listing()

    def add(self, request: Request, params: Mapping[str, str]) -> Response:
        try:
            body = json.loads(request.body or b"null")
            rules = body if isinstance(body, list) else [body]
            faults = [fault_from_json(rule) for rule in rules if isinstance(rule, dict)]
            if len(faults) != len(rules):
                raise ValueError("expected a JSON object or a list of objects")
        except (ValueError, TypeError) as error:
            return messages.simulator_error(400, "BAD_REQUEST", str(error), {"body": "not a fault"})
        for fault in faults:
            self.plan.add(fault)
        return self._listing()

    def clear(self, request: Request, params: Mapping[str, str]) -> Response:
        self.plan.clear()
        return self._listing()
