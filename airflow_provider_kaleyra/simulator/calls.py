"""Calls that live: each accepted dial is queued, then rings, then ends with a final status.

Nothing runs in the background: a call's status is computed from the time its dial
was accepted (the ledger keeps it), so a paused test or a slow machine never sees a
call jump states out of order, and the ledger stays the one record of what was dialled.

How a call ends is scripted, in this order of precedence:

1. a status for the call's **flow** (``flow_outcomes``): every call of that flow ends
   with it, e.g. ``FLOW_NOT_PUBLISHED`` for a flow unpublished after the submission;
2. a status for the **number** (``outcomes``), given at start-up or through
   ``POST /_simulator/outcomes``;
3. the **rule** on the number's last two digits (:data:`LAST_TWO_DIGITS`); any other
   number is answered. A number ending in ``99`` never ends: it rings forever.

A scripted status may say how long the call rings first: ``ANSWER@3`` rings three seconds,
then is answered (a callee who picks up late, after an escalation's answer window, say).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_kaleyra.simulator import phone

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_kaleyra.simulator.ledger import Dial

QUEUED, RINGING, ANSWER = "QUEUED", "RINGING", "ANSWER"
#: The documented rule: a callee number's last two digits choose how its call ends.
LAST_TWO_DIGITS: dict[str, str] = {
    "90": "BUSY",
    "91": "NOANSWER",
    "92": "REJECTED",
    "93": "CANCEL",
    "94": "MAXUSE",
    "95": "QUEUE_TIMEOUT",
    "96": "FAILED",
    "97": "NOROUTE",
    "98": "BRIDGE_UNAVAILABLE",
}
#: A number ending in these digits rings forever: the way to test timeouts.
NEVER_ENDS = "99"
#: Seconds a call spends queued, then ringing, unless the simulator is told otherwise.
DEFAULT_QUEUE_SECONDS = 0.1
DEFAULT_RING_SECONDS = 0.4


@dataclass(frozen=True)
class CallState:
    """A call as the call logs show it at one moment."""

    dial: Dial
    status: str
    duration: int
    #: When the call ended (ISO 8601, like ``dial.time``): ringing, then ``duration``
    #: seconds of talk. None while it is not final.
    end_time: str | None = None


def scripted_status(number: str, outcomes: Mapping[str, str]) -> str | None:
    """The final status the number's call ends with, or None for "never ends"."""
    digits = phone.digits(number)
    for scripted, status in outcomes.items():
        if phone.digits(scripted) == digits:
            return status
    if digits.endswith(NEVER_ENDS):
        return None
    return LAST_TWO_DIGITS.get(digits[-2:], ANSWER)


#: Between a scripted status and its ring time: ``ANSWER@3``.
RING_TIME_MARK = "@"


def ring_time(scripted: str, default: float) -> tuple[str, float]:
    """``("ANSWER", 3.0)`` from ``ANSWER@3``; a status without a ring time rings ``default`` seconds."""
    status, mark, seconds = scripted.partition(RING_TIME_MARK)
    if not mark:
        return scripted, default
    try:
        return status, max(0.0, float(seconds))
    except ValueError:
        return scripted, default


def answered_duration(number: str) -> int:
    """A deterministic talk time for answered calls: 20 s plus three per last digit."""
    last = phone.digits(number)[-1:]
    return 20 + 3 * int(last) if last.isdigit() else 20


class CallScript:
    """How and when calls end; thread-safe, changeable while the simulator runs.

    :param outcomes: callee number -> final status (any string; an unknown one too).
    :param flow_outcomes: Flow ID -> final status for every call of that flow.
    :param queue_seconds: how long a call stays ``QUEUED``.
    :param ring_seconds: how long it then stays ``RINGING`` before its final status.
    """

    def __init__(
        self,
        outcomes: Mapping[str, str] | None = None,
        flow_outcomes: Mapping[str, str] | None = None,
        queue_seconds: float = DEFAULT_QUEUE_SECONDS,
        ring_seconds: float = DEFAULT_RING_SECONDS,
    ) -> None:
        self._lock = threading.Lock()
        self._initial = (dict(outcomes or {}), dict(flow_outcomes or {}))
        self.outcomes: dict[str, str] = dict(self._initial[0])
        self.flow_outcomes: dict[str, str] = dict(self._initial[1])
        self.queue_seconds = queue_seconds
        self.ring_seconds = ring_seconds

    def script(self, outcomes: Mapping[str, str] | None = None, flows: Mapping[str, str] | None = None) -> None:
        with self._lock:
            self.outcomes.update({n: s.upper() for n, s in (outcomes or {}).items()})
            self.flow_outcomes.update({f: s.upper() for f, s in (flows or {}).items()})

    def reset(self) -> None:
        with self._lock:
            self.outcomes, self.flow_outcomes = dict(self._initial[0]), dict(self._initial[1])

    def as_dict(self) -> dict[str, object]:
        with self._lock:
            return {
                "numbers": dict(self.outcomes),
                "flows": dict(self.flow_outcomes),
                "queue_seconds": self.queue_seconds,
                "ring_seconds": self.ring_seconds,
            }

    def state(self, dial: Dial, now: dt.datetime) -> CallState:
        """The call's status at ``now``."""
        accepted = dt.datetime.fromisoformat(dial.time)
        elapsed = (now - accepted).total_seconds()
        if elapsed < self.queue_seconds:
            return CallState(dial, QUEUED, 0)
        with self._lock:
            final = self.flow_outcomes.get(dial.flow_id) or scripted_status(dial.number, self.outcomes)
        ring_seconds = self.ring_seconds
        if final is not None:
            final, ring_seconds = ring_time(final, ring_seconds)
        if final is None or elapsed < self.queue_seconds + ring_seconds:
            return CallState(dial, RINGING, 0)
        duration = answered_duration(dial.number) if final == ANSWER else 0
        ended = accepted + dt.timedelta(seconds=self.queue_seconds + ring_seconds + duration)
        return CallState(dial, final, duration, ended.isoformat(timespec="milliseconds"))
