"""Benchmark (not a test): many deferred waits in one triggerer-like process.

Starts the simulator in a separate process, places ``--waits`` submissions of
``--numbers`` calls each, then runs one ``KaleyraCallStatusTrigger`` per submission,
all concurrently on one asyncio loop as Airflow's triggerer does, and prints:

* HTTP requests per poll cycle (one cycle = every waiting trigger polls once) and per
  trigger poll (1.0 means one call-logs request per submission, not one per number);
* this process's CPU time (user + system) and peak memory while the triggers ran.

Run it inside the project's virtual environment::

    .venv/bin/python benchmarks/trigger_waits.py [--waits 200] [--numbers 5] [--ring-seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import os
import resource
import subprocess
import sys
import time
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


async def run_triggers(triggers: list[Any]) -> list[dict[str, Any]]:
    async def first(trigger: Any) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        return {"status": "no event"}

    return list(await asyncio.gather(*(first(t) for t in triggers)))


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
    args = parser.parse_args(argv)

    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    bridges = [bridge_for(0)] if args.shared_bridge else [bridge_for(w) for w in range(args.waits)]
    simulator, conn = start_simulator(args.ring_seconds, bridges)
    try:
        name, _, value = conn.partition("=")
        os.environ[name] = value

        from airflow_provider_kaleyra import correlation
        from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook
        from airflow_provider_kaleyra.outcomes import OutcomePolicy
        from airflow_provider_kaleyra.triggers.kaleyra import KaleyraCallStatusTrigger

        submissions = submit_all(args.waits, args.numbers, args.shared_bridge)
        calls_placed = sum(len(s.numbers) for s in submissions)

        # Count every HTTP exchange and every poll, per trigger.
        requests = collections.Counter[str]()
        polls = collections.Counter[str]()
        original_exchange = KaleyraAsyncHook.exchange
        original_call_logs = KaleyraAsyncHook.call_logs

        async def counting_exchange(self: Any, *a: Any, **kw: Any) -> Any:
            requests[self.kaleyra_conn_id] += 1
            return await original_exchange(self, *a, **kw)

        async def counting_call_logs(self: Any, *a: Any, **kw: Any) -> Any:
            polls[self.kaleyra_conn_id] += 1
            return await original_call_logs(self, *a, **kw)

        KaleyraAsyncHook.exchange = counting_exchange  # type: ignore[method-assign]
        KaleyraAsyncHook.call_logs = counting_call_logs  # type: ignore[method-assign]

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
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.monotonic()
        events = asyncio.run(run_triggers(triggers))
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        rss_peak = rss_mib("VmHWM")
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)

    total_requests, total_polls = sum(requests.values()), sum(polls.values())
    cycles = total_polls / len(triggers)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    kinds = collections.Counter(e["status"] for e in events)
    counts = collections.Counter[str]()
    for event in events:
        counts.update(event.get("result", {}).get("counts", {}))
    print(f"deferred waits (triggers)      {len(triggers)} in one process, one asyncio loop")
    print(f"bridges                        {'one shared by all' if args.shared_bridge else 'one per submission'}")
    print(f"calls placed                   {calls_placed} ({args.numbers} per submission)")
    print(f"events                         {dict(kinds)}")
    print(f"call outcomes                  {dict(counts)}")
    timing = f"calls ring {args.ring_seconds} s, poll every {args.poll_interval} s"
    print(f"wall time of the wait          {wall:.2f} s ({timing})")
    print(f"poll cycles                    {cycles:.2f}")
    print(f"HTTP requests                  {total_requests}")
    print(f"requests per poll cycle        {total_requests / cycles:.1f}  (for {len(triggers)} triggers)")
    print(f"requests per trigger poll      {total_requests / total_polls:.2f}")
    print(f"CPU time during the wait       {cpu:.2f} s (user+system), {cpu / max(cycles, 1):.3f} s per cycle")
    print(f"RSS before the wait            {rss_before:.1f} MiB (Airflow and the provider imported)")
    which = "during the wait" if peak_reset else "whole process life"
    print(f"peak RSS                       {rss_peak:.1f} MiB ({which})")
    return 0 if set(kinds) == {"done"} else 1


if __name__ == "__main__":
    sys.exit(main())
