"""``python -m airflow_provider_kaleyra.simulator``: run the simulator until interrupted.

The first stdout line is the URL and the second the Airflow connection, both flushed
at once, so a script or a test can start it on port 0 and read where it went.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING

from airflow_provider_kaleyra.simulator.call_log_style import FIELD_NAMES, PRESETS, style_from_text
from airflow_provider_kaleyra.simulator.calls import DEFAULT_RING_SECONDS
from airflow_provider_kaleyra.simulator.defaults import (
    DEFAULT_API_KEY,
    DEFAULT_BRIDGES,
    DEFAULT_FLOWS,
    DEFAULT_HOST,
    DEFAULT_SID,
)
from airflow_provider_kaleyra.simulator.server import KaleyraSimulator, connection_env_var

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import FrameType

    from airflow_provider_kaleyra.simulator.call_log_style import CallLogStyle

READY_LINE = "Kaleyra simulator listening on {url}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_kaleyra.simulator",
        description="A local Kaleyra-compatible voice API (outbound call flows, subscribed numbers).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--sid", default=DEFAULT_SID, help="the account SID to accept")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the API key to accept")
    parser.add_argument(
        "--flow", action="append", metavar="ID", help="a published Flow ID (repeatable; replaces the defaults)"
    )
    parser.add_argument(
        "--bridge",
        action="append",
        metavar="NUMBER",
        help="a subscribed voice_out number (repeatable; replaces the defaults)",
    )
    parser.add_argument(
        "--outcome",
        action="append",
        default=[],
        metavar="NUMBER=STATUS",
        help=(
            "how calls to NUMBER end, e.g. +918830907001=BUSY, or =ANSWER@3 to ring 3 s first "
            "(repeatable; see simulator/calls.py)"
        ),
    )
    parser.add_argument(
        "--flow-outcome",
        action="append",
        default=[],
        metavar="FLOW=STATUS",
        help="how every call of FLOW ends, e.g. SG_x=FLOW_PAUSED (repeatable)",
    )
    parser.add_argument(
        "--ring-seconds", type=float, default=DEFAULT_RING_SECONDS, help="seconds a call rings before it ends"
    )
    parser.add_argument(
        "--call-log-style",
        choices=sorted(PRESETS),
        default="default",
        help="how the call-log listing answers: the simulator's own form, or 'real' (undocumented code, "
        "bare digits, epoch seconds, Kaleyra's placeholder names, numeric flow ids, no custom)",
    )
    parser.add_argument(
        "--call-log",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change one call-log style field of the --call-log-style preset "
        f"(repeatable; fields: {', '.join(FIELD_NAMES)}; see simulator/call_log_style.py)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def _pairs(
    fail: Callable[[str], None], option: str, values: list[str], upper: bool = True, shape: str = "KEY=STATUS"
) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip() or (upper and not text.strip()):
            fail(f"{option} {value!r}: expected {shape}")
        pairs[key.strip()] = text.strip().upper() if upper else text.strip()
    return pairs


def _call_log_style(args: argparse.Namespace) -> CallLogStyle:
    fields = _pairs(parser_error, "--call-log", args.call_log, upper=False, shape="FIELD=VALUE")
    try:
        return style_from_text(args.call_log_style, fields)
    except ValueError as error:
        raise SystemExit(f"python -m airflow_provider_kaleyra.simulator: error: --call-log: {error}") from None


def parser_error(message: str) -> None:
    raise SystemExit(f"python -m airflow_provider_kaleyra.simulator: error: {message}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    simulator = KaleyraSimulator(
        host=args.host,
        port=args.port,
        accounts={args.sid: args.api_key},
        flows=args.flow if args.flow is not None else DEFAULT_FLOWS,
        numbers=args.bridge if args.bridge is not None else DEFAULT_BRIDGES,
        outcomes=_pairs(parser_error, "--outcome", args.outcome),
        flow_outcomes=_pairs(parser_error, "--flow-outcome", args.flow_outcome),
        ring_seconds=args.ring_seconds,
        call_log_style=_call_log_style(args),
    )
    with simulator:
        print(READY_LINE.format(url=simulator.url), flush=True)
        print(f"{connection_env_var()}={simulator.airflow_connection_json()}", flush=True)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
