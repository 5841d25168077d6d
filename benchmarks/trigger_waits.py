"""Benchmark (not a test): many deferred waits in one triggerer-like process.

Starts the simulator in a separate process, places ``--waits`` submissions of
``--numbers`` calls each, then runs one ``KaleyraCallStatusTrigger`` per submission,
all concurrently on one asyncio loop as Airflow's triggerer does, and prints:

* HTTP requests per poll cycle (one cycle = every waiting trigger polls once) and per
  trigger poll, the call-log listings read, and the pages of the union window (the
  calls of every wait on the bridge, 100 to a page);
* this process's CPU time (user + system) and peak memory while the triggers ran, and
  the simulator's CPU time.

By default the triggers share one call-log reader per connection and bridge (what the
provider does); ``--per-trigger`` makes each trigger read alone (the provider before
the shared reader), and ``--side-by-side`` runs both, one after the other, on fresh
submissions, and prints them side by side.

Run it inside the project's virtual environment::

    .venv/bin/python benchmarks/trigger_waits.py [--waits 200] [--numbers 5] [--ring-seconds 4]
    .venv/bin/python benchmarks/trigger_waits.py --shared-bridge --waits 300 --side-by-side
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUS = Path("/proc/self/status")


def rss_mib(field: str) -> float | None:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in MiB, where /proc has them."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Start VmHWM afresh (Linux: writing 5 to clear_refs), so the peak is the wait's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def bridge_for(wait: int) -> str:
    return f"+65{31650000 + wait}"


def start_simulator(ring_seconds: float, bridges: list[str]) -> tuple[subprocess.Popen[str], str]:
    bridge_args = [arg for b in bridges for arg in ("--bridge", b)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_kaleyra.simulator", "--ring-seconds", str(ring_seconds), *bridge_args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "Kaleyra simulator listening on ..."
    name, _, value = proc.stdout.readline().strip().partition("=")
    return proc, f"{name}={value}"


def submit_all(waits: int, numbers: int, shared_bridge: bool) -> list[Any]:
    from airflow_provider_kaleyra import wire
    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook
    from airflow_provider_kaleyra.simulator import DEFAULT_FLOW_ID

    hook = KaleyraHook()
    submissions = []
    for w in range(waits):
        # Last two digits 00..89 are answered by the simulator's rule; 90 is busy.
        to = [f"+91{w:05d}{n:03d}{'90' if n == numbers - 1 else '01'}" for n in range(numbers)]
        [submission] = hook.trigger_outbound_flow(
            to,
            bridge_for(0 if shared_bridge else w),
            DEFAULT_FLOW_ID,
            correlation_token=wire.correlation_token("bench", w),
        )
        submissions.append(submission)
    hook.close()
    return submissions


def simulator_cpu(proc: subprocess.Popen[str]) -> float | None:
    """The simulator process's CPU seconds (user + system), from /proc."""
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_simulator(url: str) -> None:
    """Forget earlier dials, so each pass waits for calls of its own."""
    import requests

    requests.post(url + "_simulator/reset", timeout=30).raise_for_status()


async def run_triggers(triggers: list[Any]) -> list[dict[str, Any]]:
    async def first(trigger: Any) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        return {"status": "no event"}

    return list(await asyncio.gather(*(first(t) for t in triggers)))


@dataclass
class Pass:
    """What one run of the waits measured."""

    label: str
    triggers: int
    calls_placed: int
    events: collections.Counter[str]
    outcomes: collections.Counter[str]
    wall: float
    polls: int
    requests: int
    listings: int
    cpu: float
    simulator_cpu: float | None
    rss_before: float | None
    rss_peak: float | None
    peak_reset: bool

    @property
    def cycles(self) -> float:
        return self.polls / self.triggers

    @property
    def requests_per_cycle(self) -> float:
        return self.requests / self.cycles

    @property
    def cpu_per_cycle(self) -> float:
        return self.cpu / max(self.cycles, 1)


def measure(args: argparse.Namespace, shared: bool, simulator: subprocess.Popen[str]) -> Pass:
    from airflow_provider_kaleyra import correlation, reader
    from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook
    from airflow_provider_kaleyra.outcomes import OutcomePolicy
    from airflow_provider_kaleyra.triggers.kaleyra import KaleyraCallStatusTrigger

    submissions = submit_all(args.waits, args.numbers, args.shared_bridge)
    calls_placed = sum(len(s.numbers) for s in submissions)

    # Count every HTTP exchange, every listing, and every poll (a trigger asking for one).
    counts = collections.Counter[str]()
    original_exchange = KaleyraAsyncHook._exchange
    original_call_logs = KaleyraAsyncHook.call_logs
    original_next = reader.Listings.next

    async def counting_exchange(self: Any, *a: Any, **kw: Any) -> Any:
        counts["requests"] += 1
        return await original_exchange(self, *a, **kw)

    async def counting_call_logs(self: Any, *a: Any, **kw: Any) -> Any:
        counts["listings"] += 1
        return await original_call_logs(self, *a, **kw)

    async def counting_next(self: Any) -> Any:
        counts["polls"] += 1
        return await original_next(self)

    KaleyraAsyncHook._exchange = counting_exchange  # type: ignore[method-assign]
    KaleyraAsyncHook.call_logs = counting_call_logs  # type: ignore[method-assign]
    reader.Listings.next = counting_next  # type: ignore[method-assign]
    KaleyraCallStatusTrigger.shared_reads = shared
    try:
        deadline = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).isoformat()
        policy = OutcomePolicy.build(max_failed=1).as_dict()
        triggers = [
            KaleyraCallStatusTrigger(
                watch=correlation.watch_from_record(s.as_dict()).as_dict(),
                policy=policy,
                deadline=deadline,
                poll_interval=args.poll_interval,
            )
            for s in submissions
        ]
        rss_before = rss_mib("VmRSS")
        peak_reset = reset_peak_rss()
        simulator_before = simulator_cpu(simulator)
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        events = asyncio.run(run_triggers(triggers))
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        simulator_after = simulator_cpu(simulator)
        rss_peak = rss_mib("VmHWM")
    finally:
        KaleyraAsyncHook._exchange = original_exchange  # type: ignore[method-assign]
        KaleyraAsyncHook.call_logs = original_call_logs  # type: ignore[method-assign]
        reader.Listings.next = original_next  # type: ignore[method-assign]
        KaleyraCallStatusTrigger.shared_reads = True

    outcomes = collections.Counter[str]()
    for event in events:
        outcomes.update(event.get("result", {}).get("counts", {}))
    return Pass(
        label="shared reader" if shared else "one reader per trigger",
        triggers=len(triggers),
        calls_placed=calls_placed,
        events=collections.Counter(e["status"] for e in events),
        outcomes=outcomes,
        wall=wall,
        polls=counts["polls"],
        requests=counts["requests"],
        listings=counts["listings"],
        cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        simulator_cpu=(simulator_after - simulator_before)
        if simulator_before is not None and simulator_after is not None
        else None,
        rss_before=rss_before,
        rss_peak=rss_peak,
        peak_reset=peak_reset,
    )


def report(args: argparse.Namespace, measured: Pass) -> None:
    union_pages = -(-args.numbers * args.waits // 100) if args.shared_bridge else 1
    print(f"== {measured.label} ==")
    print(f"deferred waits (triggers)      {measured.triggers} in one process, one asyncio loop")
    print(f"bridges                        {'one shared by all' if args.shared_bridge else 'one per submission'}")
    print(f"calls placed                   {measured.calls_placed} ({args.numbers} per submission)")
    print(f"events                         {dict(measured.events)}")
    print(f"call outcomes                  {dict(measured.outcomes)}")
    timing = f"calls ring {args.ring_seconds} s, poll every {args.poll_interval} s"
    print(f"wall time of the wait          {measured.wall:.2f} s ({timing})")
    print(f"poll cycles                    {measured.cycles:.2f}")
    print(f"HTTP requests                  {measured.requests}")
    print(f"call-log listings read         {measured.listings}")
    print(f"requests per poll cycle        {measured.requests_per_cycle:.1f}  (for {measured.triggers} triggers)")
    print(f"pages of the union window      {union_pages}  (every call on a bridge, 100 to a page)")
    print(f"requests per trigger poll      {measured.requests / measured.polls:.2f}")
    print(
        f"CPU time during the wait       {measured.cpu:.2f} s (user+system), {measured.cpu_per_cycle:.3f} s per cycle"
    )
    if measured.simulator_cpu is not None:
        print(f"simulator CPU (other process)  {measured.simulator_cpu:.2f} s")
    print(f"RSS before the wait            {measured.rss_before:.1f} MiB (Airflow and the provider imported)")
    which = "during the wait" if measured.peak_reset else "whole process life"
    print(f"peak RSS                       {measured.rss_peak:.1f} MiB ({which})")


def side_by_side(passes: list[Pass]) -> None:
    rows = [
        ("wall time of the wait (s)", lambda m: f"{m.wall:.2f}"),
        ("poll cycles", lambda m: f"{m.cycles:.2f}"),
        ("HTTP requests", lambda m: str(m.requests)),
        ("requests per poll cycle", lambda m: f"{m.requests_per_cycle:.1f}"),
        ("CPU per cycle (s)", lambda m: f"{m.cpu_per_cycle:.3f}"),
        ("simulator CPU (s)", lambda m: "n/a" if m.simulator_cpu is None else f"{m.simulator_cpu:.2f}"),
        ("peak RSS (MiB)", lambda m: f"{m.rss_peak:.1f}"),
        ("events", lambda m: str(dict(m.events))),
    ]
    width = max(len(m.label) for m in passes) + 2
    print("== side by side ==")
    print(f"{'':<28}" + "".join(f"{m.label:>{width}}" for m in passes))
    for name, cell in rows:
        print(f"{name:<28}" + "".join(f"{cell(m):>{width}}" for m in passes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waits", type=int, default=200, help="deferred waits (triggers) to run at once")
    parser.add_argument("--numbers", type=int, default=5, help="numbers per submission")
    parser.add_argument("--ring-seconds", type=float, default=20.0, help="how long simulated calls ring")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="seconds between a trigger's polls")
    parser.add_argument(
        "--shared-bridge",
        action="store_true",
        help="all submissions from one bridge (each poll then pages through every call in the window)",
    )
    readers = parser.add_mutually_exclusive_group()
    readers.add_argument(
        "--per-trigger", action="store_true", help="each trigger reads the call logs alone (no shared reader)"
    )
    readers.add_argument(
        "--side-by-side", action="store_true", help="one reader per trigger, then the shared reader, in one run"
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    bridges = [bridge_for(0)] if args.shared_bridge else [bridge_for(w) for w in range(args.waits)]
    simulator, conn = start_simulator(args.ring_seconds, bridges)
    passes: list[Pass] = []
    try:
        name, _, value = conn.partition("=")
        os.environ[name] = value
        url = json.loads(value)["extra"]["base_url"]
        modes = [False, True] if args.side_by_side else [not args.per_trigger]
        for index, shared in enumerate(modes):
            if index:
                reset_simulator(url)
            passes.append(measure(args, shared, simulator))
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)

    for index, measured in enumerate(passes):
        if index:
            print()
        report(args, measured)
    if len(passes) > 1:
        print()
        side_by_side(passes)
    return 0 if all(set(m.events) == {"done"} for m in passes) else 1


if __name__ == "__main__":
    sys.exit(main())
