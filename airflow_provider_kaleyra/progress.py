"""Progress while waiting: a line when the tally changes, and at least every few minutes.

A wait may last up to its ``wait_timeout``; without these lines the task log is silent
from "Deferring until ..." to the final table. The trigger (in the triggerer, so the
lines land in the task's log) and the worker's wait both log through :class:`ProgressLog`.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra.call_logs import StatusCategory

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_kaleyra.outcomes import Tally

#: The longest silence between two progress lines while nothing changes (seconds).
PROGRESS_EVERY = 180.0
#: Pending numbers named in a line; the rest are counted.
PENDING_SHOWN = 10


def progress_line(tally: Tally) -> str:
    """``"7 of 10 calls ended (ANSWER 5, BUSY 2); 3 pending: +91..., +91..., +91..."``."""
    pending = tally.pending
    total = len(tally.outcomes)
    statuses = Counter(o.status or "" for o in tally.outcomes if o.category is not StatusCategory.PENDING)
    line = f"{total - len(pending)} of {total} calls ended"
    if statuses:
        ordered = sorted(statuses.items(), key=lambda item: (-item[1], item[0]))
        line += " (" + ", ".join(f"{status} {count}" for status, count in ordered) + ")"
    if pending:
        shown = ", ".join(pending[:PENDING_SHOWN])
        more = f" and {len(pending) - PENDING_SHOWN} more" if len(pending) > PENDING_SHOWN else ""
        line += f"; {len(pending)} pending: {shown}{more}"
    return line


class ProgressLog:
    """Logs :func:`progress_line` when any number's status changed, or ``every`` seconds.

    :param log: where the lines go (the trigger's or the task's logger).
    :param every: the longest silence while nothing changes.
    :param clock: monotonic seconds; a test may pass its own.
    """

    def __init__(
        self, log: Any, every: float = PROGRESS_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log = log
        self._every = every
        self._clock = clock
        self._last_statuses: tuple[str | None, ...] | None = None
        self._last_at = 0.0

    def note(self, tally: Tally) -> bool:
        """Log a line if it is news or due; True when one was logged."""
        statuses = tuple(o.status for o in tally.outcomes)
        now = self._clock()
        if statuses == self._last_statuses and now - self._last_at < self._every:
            return False
        self._last_statuses, self._last_at = statuses, now
        self._log.info("Kaleyra calls: %s", progress_line(tally))
        return True
