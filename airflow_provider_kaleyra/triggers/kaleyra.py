"""KaleyraCallStatusTrigger: wait in the triggerer until Kaleyra says how the calls ended."""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_kaleyra._compat import BaseTrigger, TriggerEvent
from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID
from airflow_provider_kaleyra.exceptions import KaleyraError
from airflow_provider_kaleyra.progress import ProgressLog
from airflow_provider_kaleyra.reader import membership
from airflow_provider_kaleyra.waiting import DEFAULT_MAX_POLL_FAILURES, Wait

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook


class KaleyraCallStatusTrigger(BaseTrigger):
    """Poll Kaleyra's call logs for one submission until every call is final, or the deadline.

    All state lives in the kwargs and in Kaleyra: after a triggerer restart the trigger
    starts again from its kwargs and reads the same call logs, so nothing is lost.

    The triggers of one process that wait on the same connection and bridge share one
    call-log reader (``reader``): each poll cycle reads the union of their windows once,
    and each trigger gets its own calls from it. The hook of the first one to join is
    the one the reader reads through. While it waits, the trigger logs a progress line
    when the tally changes and at least every few minutes (``progress``).

    :param watch: ``correlation.CallWatch.as_dict()``: the numbers, bridge, flow, time window,
        correlation token and call ids of the submission.
    :param policy: ``outcomes.OutcomePolicy.as_dict()``: decides when waiting can stop early.
    :param deadline: ISO 8601 UTC time after which the trigger reports ``timeout``.
    :param poll_interval: seconds between polls.
    :param kaleyra_conn_id: the Airflow connection of type ``kaleyra``.
    :param max_poll_failures: consecutive failed polls (each already retried by the hook)
        after which the trigger reports ``error``.
    """

    #: Share one call-log reader per connection and bridge with the other triggers of
    #: this process; False makes each trigger page through its window alone (kept to
    #: compare the two, see ``benchmarks/trigger_waits.py``).
    shared_reads: ClassVar[bool] = True

    def __init__(
        self,
        *,
        watch: dict[str, Any],
        policy: dict[str, Any],
        deadline: str,
        poll_interval: float = 30.0,
        kaleyra_conn_id: str = DEFAULT_CONN_ID,
        max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES,
    ) -> None:
        super().__init__()
        self.kaleyra_conn_id = kaleyra_conn_id
        #: The JSON form of one ``waiting.Wait`` (``Wait.as_kwargs``), kept as given.
        self.wait_kwargs: dict[str, Any] = {
            "watch": watch,
            "policy": policy,
            "deadline": deadline,
            "poll_interval": poll_interval,
            "max_poll_failures": max_poll_failures,
        }

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {**self.wait_kwargs, "kaleyra_conn_id": self.kaleyra_conn_id},
        )

    @cached_property
    def wait(self) -> Wait:
        return Wait.from_kwargs(self.wait_kwargs)

    @cached_property
    def hook(self) -> KaleyraAsyncHook:
        """This trigger's hook; built only if it is the first to join its reader (see ``reader``)."""
        # Deferred: httpx and the async hook are needed only in the triggerer.
        from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook

        return KaleyraAsyncHook(self.kaleyra_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The event is decided inside the reader membership, then handed over outside it:
        # the trigger leaves the reader before the triggerer stops iterating.
        yield TriggerEvent(await self._wait_for_event())

    async def _wait_for_event(self) -> dict[str, Any]:
        wait = self.wait
        failed_polls = 0
        progress = ProgressLog(self.log)
        async with membership(
            self.kaleyra_conn_id, wait.watch, wait.poll_interval, lambda: self.hook, shared=self.shared_reads
        ) as listings:
            while True:
                try:
                    listing = await listings.next()
                except (KaleyraError, OSError) as error:
                    failed_polls += 1
                    event = wait.after_failure(error, failed_polls, self.log)
                    if event is not None:
                        return event
                    pause = wait.pause_after_failure(failed_polls)
                else:
                    failed_polls = 0
                    if listing.cut_off:
                        # The shared read logs in the triggerer's own log; this is the task's.
                        self.log.warning("Kaleyra's call-log listing was cut off: %s", listing.cut_off)
                    poll = wait.poll(listing)
                    if poll.event is not None:
                        return poll.event
                    progress.note(poll.tally)
                    pause = wait.poll_interval
                # Wake up for the deadline even when the next poll would be later.
                await asyncio.sleep(max(0.0, min(pause, wait.seconds_left() + 0.01)))
