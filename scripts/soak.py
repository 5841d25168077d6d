#!/usr/bin/env python3
"""The README's test command N times in a row on a fresh clone, with one core kept busy.

    python3 scripts/soak.py [--runs 3] [--commit HEAD] [--no-busy]

Standard library only. It clones the repository (the given commit) into a temporary
directory, starts a process that spins on one core for the whole soak, and runs
`CI=true python3 dev.py test` there with no stdin, as CI does, once per run. Each run's
output goes to <clone>/soak-run-K.log; the summary prints each run's seconds and exit
code, and the per-step summary `dev.py` printed at its end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def spin() -> None:
    while True:
        pass


def step_summary(log: Path) -> str:
    text = log.read_text(errors="replace")
    marker = "[dev] ===== summary"
    return text[text.rfind(marker) :] if marker in text else "(no summary: the run did not finish)"


def run_test_command(clone: Path, out: IO[str]) -> int:
    """`CI=true python3 dev.py test` in ``clone``; stopped with everything it started if the soak is."""
    process = subprocess.Popen(
        [sys.executable, "dev.py", "test"],
        cwd=clone,
        env=dict(os.environ, CI="true"),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: pytest, Airflow and the simulator with it
    )
    try:
        return process.wait()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--no-busy", action="store_true", help="leave every core to the tests")
    args = parser.parse_args()

    # Stopped with SIGTERM (or SIGINT, which a shell's background job ignores): unwind, so
    # the `finally` blocks stop the test command and the busy core.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    commit = subprocess.check_output(["git", "rev-parse", args.commit], cwd=ROOT, text=True).strip()
    clone = Path(tempfile.mkdtemp(prefix="kaleyra-soak-"))
    subprocess.check_call(["git", "clone", "-q", str(ROOT), str(clone)])
    subprocess.check_call(["git", "checkout", "-q", commit], cwd=clone)
    print(f"[soak] {commit[:10]} in {clone}; {args.runs} run(s); busy core: {not args.no_busy}", flush=True)

    busy = None if args.no_busy else multiprocessing.Process(target=spin, daemon=True)
    if busy is not None:
        busy.start()
    results: list[tuple[int, float, int]] = []
    try:
        for k in range(1, args.runs + 1):
            log = clone / f"soak-run-{k}.log"
            started = time.monotonic()
            with log.open("w") as out:
                code = run_test_command(clone, out)
            results.append((k, time.monotonic() - started, code))
            print(f"[soak] run {k}: {results[-1][1]:.0f} s, exit {code}; log {log}", flush=True)
            print(step_summary(log), flush=True)
    finally:
        if busy is not None:
            busy.terminate()
    print("[soak] ===== runs (seconds, exit code)")
    for k, seconds, code in results:
        print(f"  run {k}: {seconds:7.0f}  {code}")
    return int(any(code for _, _, code in results))


if __name__ == "__main__":
    sys.exit(main())
