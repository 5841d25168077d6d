"""``KaleyraSimulator``: the state, the router and the HTTP server, started in a thread."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from airflow_provider_kaleyra.simulator.call_log_style import CallLogStyle, style_from
from airflow_provider_kaleyra.simulator.call_logs import CallLogsApi, record
from airflow_provider_kaleyra.simulator.calls import DEFAULT_QUEUE_SECONDS, DEFAULT_RING_SECONDS, CallScript
from airflow_provider_kaleyra.simulator.defaults import (
    CONNECTION_REGION,
    DEFAULT_API_KEY,
    DEFAULT_BRIDGES,
    DEFAULT_FLOWS,
    DEFAULT_HOST,
    DEFAULT_SID,
)
from airflow_provider_kaleyra.simulator.faults import Fault, FaultPlan
from airflow_provider_kaleyra.simulator.routing import build_router
from airflow_provider_kaleyra.simulator.state import SimulatorState, SubscribedNumber
from airflow_provider_kaleyra.simulator.transport import SimulatorHTTPServer, make_server

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

#: Airflow's connection type for Kaleyra; repeated here because the simulator must
#: not import anything that imports Airflow.
CONN_TYPE = "kaleyra"
DEFAULT_CONN_ID = "kaleyra_default"


def connection_env_var(conn_id: str = DEFAULT_CONN_ID) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


class KaleyraSimulator:
    """A local Kaleyra voice API.

    :param host: interface to bind; loopback unless you mean to share it.
    :param port: 0 picks a free port; read the real one from :attr:`url`.
    :param accounts: SID -> API key of the accounts it accepts.
    :param flows: the published Flow IDs; any other flow answers RBC3115.
    :param numbers: the subscribed numbers that may be a ``bridge``.
    :param outcomes: callee number -> the final status its calls end with (see ``calls``).
    :param flow_outcomes: Flow ID -> the final status of every call of that flow.
    :param queue_seconds: how long a call stays QUEUED.
    :param ring_seconds: how long it then rings before its final status.
    :param call_log_style: how the call-log listing is written: a
        :class:`~airflow_provider_kaleyra.simulator.call_log_style.CallLogStyle` or a preset
        name (``"default"``, ``"real"``); today's form when None.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        accounts: Mapping[str, str] | None = None,
        flows: Iterable[str] | None = None,
        numbers: Iterable[str | SubscribedNumber] | None = None,
        outcomes: Mapping[str, str] | None = None,
        flow_outcomes: Mapping[str, str] | None = None,
        queue_seconds: float = DEFAULT_QUEUE_SECONDS,
        ring_seconds: float = DEFAULT_RING_SECONDS,
        call_log_style: CallLogStyle | str | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.state = SimulatorState(
            accounts if accounts is not None else {DEFAULT_SID: DEFAULT_API_KEY},
            flows if flows is not None else DEFAULT_FLOWS,
            numbers if numbers is not None else DEFAULT_BRIDGES,
            style_from(call_log_style),
        )
        self.state.calls = CallScript(outcomes, flow_outcomes, queue_seconds, ring_seconds)
        self.faults = FaultPlan()
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> KaleyraSimulator:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        server = make_server(
            self.host,
            self._requested_port,
            build_router(self.state, self.faults),
            self.faults,
            self.state.requests,
        )
        self._server = server
        # A short poll interval makes stop() quick: fixtures stop one simulator per test.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"kaleyra-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> KaleyraSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL with a trailing slash, like Kaleyra's, e.g. ``http://127.0.0.1:8765/``."""
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"  # reachable form of "all interfaces"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    # ------------------------------------------------------------------ accounts

    @property
    def sid(self) -> str:
        """The first account's SID: the one the connection helpers use by default."""
        if not self.state.accounts:
            raise RuntimeError("the simulator has no accounts")
        return next(iter(self.state.accounts))

    @property
    def api_key(self) -> str:
        return self.state.accounts[self.sid]

    # ------------------------------------------------------------------ flows

    @property
    def flows(self) -> frozenset[str]:
        return self.state.published_flows()

    def publish_flow(self, *flow_ids: str) -> None:
        self.state.publish(*flow_ids)

    def unpublish_flow(self, *flow_ids: str) -> None:
        self.state.unpublish(*flow_ids)

    # ------------------------------------------------------------------ ledger

    def ledger(self) -> list[dict[str, Any]]:
        """A copy of every accepted dial, one entry per number, oldest first."""
        return self.state.ledger.entries()

    def dials_to(self, number: str) -> int:
        return self.state.ledger.count_to(number)

    def script_outcomes(
        self, numbers: Mapping[str, str] | None = None, flows: Mapping[str, str] | None = None
    ) -> None:
        """Decide how later calls end: per callee number and/or per flow (see ``calls``)."""
        self.state.calls.script(numbers, flows)

    def calls(self) -> list[dict[str, Any]]:
        """Every call with its current status, oldest first (as ``GET /_simulator/calls``)."""
        return [record(call) for call in CallLogsApi(self.state).calls()]

    def request_count(self, endpoint: str | None = None) -> int:
        """Kaleyra API requests received (faulted ones too) since start or :meth:`reset`.

        ``endpoint`` narrows it: ``"voice/call-logs"``, ``"voice/outbound"``,
        ``"number/subscriptions"``; as ``GET /_simulator/requests``.
        """
        counts = self.state.requests.as_dict()
        return counts.get(endpoint, 0) if endpoint else sum(counts.values())

    # ------------------------------------------------------------------ call-log style

    @property
    def call_log_style(self) -> CallLogStyle:
        """How ``/v1/<SID>/voice/call-logs`` currently writes its answer."""
        return self.state.call_log_style

    def set_call_log_style(self, base: CallLogStyle | str | None = None, /, **fields: Any) -> CallLogStyle:
        """Make the call-log listing answer in another style, until changed or :meth:`reset`.

        ``base`` is a style or a preset name (``"default"``, ``"real"``); ``fields`` change
        it. Fields not given take the base's value, so ``set_call_log_style()`` is today's form.

        :raises ValueError: an unknown preset, field name or value.
        """
        style = style_from(base, **fields)
        self.state.call_log_style = style
        return style

    def reset(self) -> None:
        """Empty the ledger and the request counts, clear faults.

        The flows, outcomes and call-log style go back to those given at construction.
        """
        self.state.reset()
        self.faults.clear()

    # ------------------------------------------------------------------ faults

    def inject_fault(self, kind: str, *, times: int | None = 1, **options: Any) -> Fault:
        """Make the next ``times`` outbound requests (``None``: all, until cleared) fail as ``kind``.

        ``kind`` is ``drop``, ``slow``, ``error``, ``rate_limit``, ``html``, ``empty`` or
        ``unknown_code``; ``options`` are :class:`~airflow_provider_kaleyra.simulator.faults.Fault`
        fields (``status``, ``retry_after``, ``delay``, ``accept``, ``path``, ``after``, ``code``).
        With ``accept=True`` the request is processed (dials recorded) and then the fault answers.
        """
        return self.faults.add(Fault(kind, times=times, **options))

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------------ Airflow connection

    def connection_dict(self, sid: str | None = None) -> dict[str, Any]:
        sid = sid or self.sid
        return {
            "conn_type": CONN_TYPE,
            "login": sid,
            "password": self.state.accounts[sid],
            "extra": {"region": CONNECTION_REGION, "base_url": self.url},
        }

    def airflow_connection_json(self, sid: str | None = None) -> str:
        """The value for ``AIRFLOW_CONN_<ID>`` in Airflow's JSON form."""
        return json.dumps(self.connection_dict(sid))

    def connection_uri(self, sid: str | None = None) -> str:
        """The same connection in Airflow's URI form, for tools that only take URIs."""
        conn = self.connection_dict(sid)
        userinfo = f"{quote(conn['login'], safe='')}:{quote(conn['password'], safe='')}"
        return f"{CONN_TYPE}://{userinfo}@/?{urlencode(conn['extra'])}"

    def connection_env(self, conn_id: str = DEFAULT_CONN_ID, sid: str | None = None) -> dict[str, str]:
        """``{"AIRFLOW_CONN_<ID>": json}``, ready for ``os.environ.update`` or a subprocess."""
        return {connection_env_var(conn_id): self.airflow_connection_json(sid)}
