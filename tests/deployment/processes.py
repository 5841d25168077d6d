"""Start long-running commands in their own process groups and stop every one of them.

Each component runs as the leader of a new session, so a signal to its process group
also reaches what it forked (LocalExecutor workers, uvicorn workers, task supervisors).
Before signalling, the descendants are collected from ``/proc`` so that a child that
left the group is still found and stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal_all(pgid: int, pids: set[int], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


@dataclass
class Component:
    """One started command: its process, its log file and everything it spawned."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes]
    seen: set[int] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.process.pid

    def remember_children(self) -> None:
        """Note the current descendants, so they are stopped even if they outlive the parent."""
        if self.process.poll() is None:
            self.seen |= descendants(self.pid)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def terminate(self) -> None:
        """SIGTERM the group and every descendant seen so far."""
        self.remember_children()
        self.seen.add(self.pid)
        _signal_all(self.pid, self.seen, signal.SIGTERM)

    def finish(self, deadline: float) -> set[int]:
        """Wait until ``deadline`` (a ``time.monotonic()`` value) for the processes to end, then SIGKILL.

        :return: the pids still alive afterwards (empty when everything ended).
        """
        pids = self.seen | {self.pid}
        while time.monotonic() < deadline:
            self.process.poll()
            if not any(alive(p) for p in pids):
                break
            time.sleep(0.1)
        else:
            _signal_all(self.pid, pids, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self._log.close()
        time.sleep(0.1)
        return {p for p in pids if alive(p)}


def stop_all(components: list[Component], grace: float = 15.0) -> dict[str, set[int]]:
    """Stop the components together: SIGTERM to all, then SIGKILL to what outlives ``grace`` seconds.

    :return: component name -> pids that survived even SIGKILL (empty when all is gone).
    """
    for component in components:
        component.terminate()
    deadline = time.monotonic() + grace
    survivors = {c.name: c.finish(deadline) for c in components}
    return {name: pids for name, pids in survivors.items() if pids}


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, even by SIGKILL.

    Covers the case no fixture teardown can: pytest itself killed. The component then
    shuts down the processes it started itself.
    """
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start(name: str, cmd: list[str], env: dict[str, str], cwd: Path, log_dir: Path) -> Component:
    """Start ``cmd`` as a new session with stdout and stderr in ``log_dir/<name>.log``."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    return Component(name, process, log_path, log)
