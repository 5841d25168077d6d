"""KaleyraEscalationTrigger: wait in the triggerer until one escalation step is answered or over."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra._compat import BaseTrigger, TriggerEvent
from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID
from airflow_provider_kaleyra.escalation import StepWait
from airflow_provider_kaleyra.exceptions import KaleyraError
from airflow_provider_kaleyra.reader import membership
from airflow_provider_kaleyra.waiting import DEFAULT_MAX_POLL_FAILURES

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from airflow_provider_kaleyra.call_logs import CallLogListing


async def await_step(conn_id: str, wait: StepWait, source: Callable[[], Any], log: Any) -> dict[str, Any]:
    """Poll the shared call-log reader until the step ends; its event (``escalation.STEP_ENDED`` or error).

    Used by the trigger and by the notifier's async path (a Deadline Alert, in the triggerer).
    ``source`` makes the hook the reader reads through (``reader.ListingSource``).
    """
    failed_polls = 0
    async with membership(conn_id, wait.watch, wait.poll_interval, source) as listings:
        while True:
            read: CallLogListing | BaseException
            try:
                read = await listings.next()
            except (KaleyraError, OSError) as error:
                read = error
            event, pause, failed_polls = wait.after_read(read, failed_polls, log)
            if event is not None:
                return event
            # Wake up when the window closes even when the next poll would be later.
            await asyncio.sleep(max(0.0, min(pause, wait.seconds_left() + 0.01)))


class KaleyraEscalationTrigger(BaseTrigger):
    """Wait for one step of an escalation chain: the first answer, every call unanswered, or the window.

    Shares the call-log reader of its connection and bridge with every other Kaleyra wait
    of the triggerer (``reader``). All its state is in its kwargs and in Kaleyra: after a
    triggerer restart it reads the same call log again.

    :param step: ``escalation.StepWait.as_kwargs()``: the step's index, its calls' watch,
        what counts as answered, when its answer window closes, the poll interval.
    :param kaleyra_conn_id: the Airflow connection of type ``kaleyra``.
    """

    def __init__(self, *, step: dict[str, Any], kaleyra_conn_id: str = DEFAULT_CONN_ID) -> None:
        super().__init__()
        self.step = step
        self.kaleyra_conn_id = kaleyra_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"step": self.step, "kaleyra_conn_id": self.kaleyra_conn_id},
        )

    def hook(self) -> Any:
        from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook

        return KaleyraAsyncHook(self.kaleyra_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        wait = StepWait.from_kwargs({"max_poll_failures": DEFAULT_MAX_POLL_FAILURES, **self.step})
        yield TriggerEvent(await await_step(self.kaleyra_conn_id, wait, self.hook, self.log))
