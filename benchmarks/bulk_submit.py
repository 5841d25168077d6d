"""How much the at-most-once bulk path costs, and what a DAG file pays to import the operator.

Run it inside the project's virtual environment::

    .venv/bin/python benchmarks/bulk_submit.py [--numbers 10000] [--repeat 3] [--latency-ms 0 20]

One run starts the simulator in its own process (so client and server do not share
a GIL) and submits the same 10,000 numbers, as batches of 100, with:

(a) the operator's bulk path: ``campaign.Campaign`` driving ``KaleyraHook.prepare_submit``/``send_submit``
    (validation done up front, form encoding, reply parsing, retry bookkeeping, the
    per-batch state written before and after each POST, progress logging), with 1 and
    with several requests in flight, its state in memory;
(b) the same, in a real task: the operator run by ``dag.test()`` (Airflow 3.3+), so each
    per-batch state write goes to Airflow's task state store through the execution API
    (Airflow's FastAPI app, in process, into SQLite), as a task's writes do. Timed from
    the campaign's start to its end, with the time and number of the state writes;
(c) a bare keep-alive ``requests.Session`` posting the same pre-encoded forms in a loop.

In a deployment a state write also crosses from the task process to its supervisor and
from there over HTTP to the API server; (b) leaves those two hops out, so it is a lower
bound of a deployment's cost. ``--latency-ms`` makes the simulator wait that long before
each answer, like a real network: with latency, several requests in flight pay off.

It then times, in fresh interpreters, ``import airflow.sdk`` alone against the same
plus the operator module (median of several runs).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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


# --------------------------------------------------------------------------- the task state store

#: The DAGs of case (b): the operator with 1 and with several requests in flight.
STATE_STORE_DAGS = """
import pendulum
from airflow.sdk import DAG

from airflow_provider_kaleyra.operators.kaleyra import KaleyraOutboundCallOperator
from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID, SECOND_BRIDGE

for in_flight in sorted({{1, {in_flight}}}):
    with DAG(
        dag_id=f"bulk_state_store_{{in_flight}}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={{"to": []}},
        render_template_as_native_obj=True,
    ) as dag:
        KaleyraOutboundCallOperator(
            task_id="call", to="{{{{ params.to }}}}", bridge=SECOND_BRIDGE, flow_id=DEFAULT_FLOW_ID,
            max_active_requests=in_flight,
        )
    globals()[dag.dag_id] = dag
"""


def prepare_airflow_home(in_flight: int) -> Path:
    """A private AIRFLOW_HOME with a migrated SQLite DB and the DAGs of case (b).

    Set before Airflow is imported: it reads its configuration once.
    """
    home = Path(tempfile.mkdtemp(prefix="kaleyra-bulk-benchmark-"))
    (home / "dags").mkdir()
    (home / "dags" / "bulk_state_store.py").write_text(STATE_STORE_DAGS.format(in_flight=in_flight))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    return home


class StateStoreTimer:
    """Times ``Campaign.run`` and every task state store write of the runs it watches."""

    def __init__(self) -> None:
        from airflow_provider_kaleyra import batch_state
        from airflow_provider_kaleyra.campaign import Campaign

        self.campaigns: list[float] = []
        self.writes: list[float] = []
        self.locations: list[str] = []
        run, write = Campaign.run, batch_state.TaskStateStore.set

        def timed_run(campaign: Any) -> Any:
            started = time.perf_counter()
            try:
                return run(campaign)
            finally:
                self.campaigns.append(time.perf_counter() - started)
                self.locations.append(campaign.store.location)

        def timed_write(store: Any, key: str, value: Any) -> None:
            started = time.perf_counter()
            try:
                write(store, key, value)
            finally:
                self.writes.append(time.perf_counter() - started)

        Campaign.run = timed_run  # type: ignore[method-assign,assignment]
        batch_state.TaskStateStore.set = timed_write  # type: ignore[method-assign,assignment]


def state_store_path(
    home: Path, numbers: list[str], in_flight: int, timer: StateStoreTimer
) -> tuple[float, int, float]:
    """One DAG run of case (b): campaign seconds, state writes, seconds spent writing."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bulk_state_store", home / "dags" / "bulk_state_store.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = getattr(module, f"bulk_state_store_{in_flight}")
    writes_before = len(timer.writes)
    dag_run = dag.test(run_conf={"to": numbers})
    assert str(dag_run.state) in ("success", "DagRunState.SUCCESS"), dag_run.state
    assert timer.locations[-1] == "task_state_store", timer.locations[-1]
    writes = timer.writes[writes_before:]
    return timer.campaigns[-1], len(writes), sum(writes)


def state_store_cases(
    home: Path, numbers: list[str], in_flights: list[int], timer: StateStoreTimer, writes: dict[str, list[Any]]
) -> dict[str, Any]:
    """Case (b) per number of requests in flight; each run adds (writes, seconds writing) to ``writes``."""
    cases = {}
    for in_flight in in_flights:
        case = f"task state store, {in_flight} in flight"
        writes[case] = []

        def in_a_task(in_flight: int = in_flight, case: str = case) -> float:
            seconds, count, writing = state_store_path(home, numbers, in_flight, timer)
            writes[case].append((count, writing))
            return seconds

        cases[case] = in_a_task
    return cases


def has_task_state_store() -> bool:
    try:
        from airflow.sdk.execution_time.context import NEVER_EXPIRE  # noqa: F401
    except ImportError:
        return False
    return True


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
    parser.add_argument(
        "--no-state-store", action="store_true", help="leave out case (b), the operator in a DAG run (dag.test)"
    )
    args = parser.parse_args()

    # Before anything imports Airflow: case (b) needs its own AIRFLOW_HOME and database.
    home = None if args.no_state_store else prepare_airflow_home(args.in_flight)
    simulator = Simulator()
    name, value = simulator.connection
    os.environ[name] = value
    connection = json.loads(value)
    logging.basicConfig(level=logging.WARNING)
    calls = make_calls(args.numbers)
    numbers = [n for call in calls for n in call.to]
    timer = None
    if home is not None:
        if has_task_state_store():
            timer = StateStoreTimer()
        else:
            print("(b) left out: this Airflow has no task state store (3.3+); the Variable store stands in")
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
            writes: dict[str, list[tuple[int, float]]] = {}
            if timer is not None and home is not None:
                cases |= state_store_cases(home, numbers, sorted({1, args.in_flight}), timer, writes)
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
                note = ""
                if writes.get(case):
                    count = statistics.median(c for c, _ in writes[case])
                    writing = statistics.median(w for _, w in writes[case])
                    each = 1000 * writing / count
                    note = f"   {count:.0f} state writes, {writing:.3f} s writing ({each:.2f} ms each)"
                print(f"  {case:<36} {seconds:7.3f} s   {seconds / bare:5.2f}x bare{note}")
    finally:
        simulator.stop()
    try:
        import_times(args.import_repeat)
    finally:
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
