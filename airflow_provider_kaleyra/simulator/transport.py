"""HTTP in and out: turn a socket request into a :class:`Request`, write a :class:`Response`.

Nothing here knows Kaleyra; it only reads bodies, calls the router and writes what
it returns.
"""

from __future__ import annotations

import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qs, urlsplit

from airflow_provider_kaleyra.simulator import messages
from airflow_provider_kaleyra.simulator.messages import Request, Response

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator.faults import FaultPlan
    from airflow_provider_kaleyra.simulator.request_count import RequestCount
    from airflow_provider_kaleyra.simulator.routing import Router

log = logging.getLogger("airflow_provider_kaleyra.simulator")

#: Far above any real request (100 numbers and a callback object), small enough to refuse junk.
MAX_BODY_BYTES = 1024 * 1024


class SimulatorHTTPServer(ThreadingHTTPServer):
    # Handler threads must never keep a test process alive.
    daemon_threads = True
    # Hundreds of waits may connect at once (a triggerer's, a benchmark's); the standard
    # library's backlog of 5 makes the kernel drop or reset the connections beyond it.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        router: Router,
        faults: FaultPlan | None = None,
        requests: RequestCount | None = None,
    ) -> None:
        self.router = router
        self.faults = faults
        self.requests = requests
        super().__init__(address, RequestHandler)


class SimulatorHTTPServerV6(SimulatorHTTPServer):
    address_family = socket.AF_INET6


def make_server(
    host: str, port: int, router: Router, faults: FaultPlan | None = None, requests: RequestCount | None = None
) -> SimulatorHTTPServer:
    cls = SimulatorHTTPServerV6 if ":" in host else SimulatorHTTPServer
    return cls((host, port), router, faults, requests)


class _BodyRefused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 so clients can reuse connections, as they would against an HTTPS API;
    # every response therefore carries a Content-Length.
    protocol_version = "HTTP/1.1"
    server_version = "KaleyraSimulator/1.0"
    # Seconds a connection may sit idle or half-sent before its thread gives up on it.
    timeout = 60
    # TCP_NODELAY: a small write never waits for the client's delayed ACK (~40 ms on
    # loopback). ``_write`` sends each answer in one write anyway; this covers the
    # standard library's own error pages, which write head and body apart.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise _BodyRefused(
                messages.simulator_error(411, "LENGTH_REQUIRED", "send a Content-Length", {})
            )
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            raise _BodyRefused(
                messages.simulator_error(
                    413 if length > 0 else 400, "BAD_REQUEST", "unacceptable Content-Length", {}
                )
            )
        return self.rfile.read(length) if length else b""

    def _request(self) -> Request:
        url = urlsplit(self.path)
        return Request(
            method=self.command,
            path=url.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self._read_body(),
            query=parse_qs(url.query),
        )

    def _serve(self) -> None:
        server = cast("SimulatorHTTPServer", self.server)
        try:
            request = self._request()
            if server.requests is not None:
                server.requests.count(request.path)
            fault = server.faults.take(request) if server.faults is not None else None
            if fault is None:
                response = server.router.dispatch(request)
            else:
                # The fault decides whether the router runs (someone is dialled) and what is sent.
                response = fault.answer(request, server.router.dispatch)
            if fault is not None and fault.kind == "drop":
                # Never answered (processed or not): the client cannot tell whether it worked.
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
        except _BodyRefused as refused:
            # The body was not read, so the connection cannot carry another request.
            self.close_connection = True
            response = refused.response
        except Exception:
            log.exception("simulator failed on %s %s", self.command, self.path)
            response = messages.simulator_error(500, "INTERNAL_ERROR", "the simulator failed", {})
        self._write(response)

    def _write(self, response: Response) -> None:
        self.log_request(response.status)
        reason = self.responses.get(response.status, ("",))[0]
        lines = [
            f"{self.protocol_version} {response.status} {reason}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            *(f"{name}: {value}" for name, value in response.headers.items()),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
        # One write: status line, headers and body leave in one segment, so a local
        # request costs about a millisecond instead of a delayed-ACK round.
        self.wfile.write(head + response.body)

    def log_message(self, format: str, *args: object) -> None:
        # Quiet by default: tests should not print a line per request.
        log.debug("%s " + format, self.address_string(), *args)
