"""How much the at-most-once bulk path costs, and what a DAG file pays to import the operator.

Run it inside the project's virtual environment::

    .venv/bin/python benchmarks/bulk_submit.py [--numbers 10000] [--repeat 3] [--latency-ms 0 20]

One run starts the simulator in its own process (so client and server do not share
a GIL) and submits the same 10,000 numbers, as batches of 100, with:

(a) the operator's bulk path: ``campaign.Campaign`` driving ``KaleyraHook.prepare_submit``/``send_submit``
    (validation done up front, form encoding, reply parsing, retry bookkeeping, the
    per-batch state written before and after each POST, progress logging), with 1 and
    with several requests in flight;
(b) a bare keep-alive ``requests.Session`` posting the same pre-encoded forms in a loop.

The state store here is in memory: in a task, each of the two writes per batch is a
round trip to Airflow's metadata database (through the API server), which this script
does not measure. ``--latency-ms`` makes the simulator wait that long before each
answer, like a real network: with latency, several requests in flight pay off.

It then times, in fresh interpreters, ``import airflow.sdk`` alone against the same
plus the operator module (median of several runs).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- simulator


class Simulator:
    """The simulator in a child process; admin calls over HTTP."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_kaleyra.simulator", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().rsplit(" ", 1)[-1].strip()
        name, _, value = self.process.stdout.readline().strip().partition("=")
        self.connection = (name, value)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        import requests

        response = requests.request(method, self.url + "_simulator/" + path, json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def set_latency(self, seconds: float) -> None:
        self.admin("DELETE", "faults")
        if seconds > 0:
            self.admin("POST", "faults", {"kind": "slow", "delay": seconds, "times": None})

    def dials(self) -> int:
        return len(self.admin("GET", "ledger"))

    def reset(self) -> None:
        self.admin("POST", "reset")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# --------------------------------------------------------------------------- the two clients


def make_calls(count: int) -> list[Any]:
    from airflow_provider_kaleyra import validation
    from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE

    numbers = [f"+9155{i:08d}" for i in range(count)]
    calls, _ = validation.outbound_calls(
        to=numbers, bridge=SECOND_BRIDGE, flow_id=DEFAULT_FLOW_ID, correlation_token="af-benchmark"
    )
    return calls


def operator_path(calls: list[Any], in_flight: int) -> float:
    from airflow_provider_kaleyra.batch_state import MemoryStore
    from airflow_provider_kaleyra.campaign import Campaign
    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

    hook = KaleyraHook()
    _ = hook.settings  # the connection look-up happens once per task, before the first POST
    log = logging.getLogger("benchmark.campaign")
    log.propagate = False  # progress lines are formatted (as in a task) but not printed
    log.addHandler(logging.NullHandler())
    started = time.perf_counter()
    result = Campaign(
        prepare=hook.prepare_submit,
        send=hook.send_submit,
        calls=calls,
        store=MemoryStore(),
        log=log,
        max_active_requests=in_flight,
    ).run()
    elapsed = time.perf_counter() - started
    hook.close()
    assert len(result.entries) == len(calls)
    return elapsed


def bare_path(calls: list[Any], url: str, api_key: str, sid: str) -> float:
    import requests

    from airflow_provider_kaleyra import wire

    forms = [wire.encode_outbound_form(call) for call in calls]
    target = wire.outbound_url(url, sid)
    started = time.perf_counter()
    with requests.Session() as session:
        session.headers.update({"api-key": api_key})
        for form in forms:
            response = session.post(target, data=form, timeout=30)
            assert response.status_code == 200, response.text
    return time.perf_counter() - started


# --------------------------------------------------------------------------- import time

#: Three marks in one fresh interpreter: after ``import airflow.sdk``, after what any
#: DAG file imports (``DAG``), after the operator module. Deltas within one process
#: keep the machine's noise on ``import airflow`` (seconds, on a busy box) out of them.
IMPORT_SNIPPET = """
import time
started = time.perf_counter()
import airflow.sdk
sdk = time.perf_counter()
from airflow.sdk import DAG
dag = time.perf_counter()
import airflow_provider_kaleyra.operators.kaleyra
operator = time.perf_counter()
print(sdk - started, operator - sdk, operator - dag)
"""


def import_times(repeat: int) -> None:
    samples: list[tuple[float, ...]] = []
    for _ in range(repeat):
        output = subprocess.run(
            [sys.executable, "-c", IMPORT_SNIPPET], check=True, capture_output=True, text=True
        ).stdout
        samples.append(tuple(float(v) for v in output.strip().splitlines()[-1].split()))
    sdk, over_sdk, over_dag = (statistics.median(column) * 1000 for column in zip(*samples, strict=True))
    print(f"\nImport time in a fresh interpreter, median of {repeat}:")
    print(f"  import airflow.sdk alone                                   {sdk:8.1f} ms")
    print(f"  operator module, extra over `import airflow.sdk`           {over_sdk:8.1f} ms")
    print(f"  operator module, extra over `from airflow.sdk import DAG`  {over_dag:8.1f} ms")


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--numbers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is printed")
    parser.add_argument("--in-flight", type=int, default=4, help="'several' requests in flight")
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--import-repeat", type=int, default=9)
    args = parser.parse_args()

    simulator = Simulator()
    name, value = simulator.connection
    os.environ[name] = value
    connection = json.loads(value)
    logging.basicConfig(level=logging.WARNING)
    calls = make_calls(args.numbers)
    print(f"{args.numbers:,} numbers in {len(calls)} batches of up to 100, simulator {simulator.url}, "
          f"median of {args.repeat} runs")
    try:
        for latency in args.latency_ms:
            simulator.set_latency(latency / 1000)
            cases = {
                "bare requests.Session loop": lambda: bare_path(
                    calls, simulator.url, connection["password"], connection["login"]
                ),
                "operator bulk path, 1 in flight": lambda: operator_path(calls, 1),
                f"operator bulk path, {args.in_flight} in flight": lambda: operator_path(calls, args.in_flight),
            }
            samples: dict[str, list[float]] = {case: [] for case in cases}
            for _ in range(args.repeat):
                for case, run in cases.items():
                    simulator.reset()
                    simulator.set_latency(latency / 1000)
                    samples[case].append(run())
                    dialled = simulator.dials()
                    assert dialled == args.numbers, f"{case}: {dialled} dials"
            medians = {case: statistics.median(values) for case, values in samples.items()}
            bare = medians["bare requests.Session loop"]
            print(f"\nSimulator latency {latency:g} ms per request:")
            for case, seconds in medians.items():
                print(f"  {case:<36} {seconds:7.3f} s   {seconds / bare:5.2f}x bare")
    finally:
        simulator.stop()
    import_times(args.import_repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
