"""KaleyraCallStatusTrigger: wait in the triggerer until Kaleyra says how the calls ended."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID
from airflow_provider_kaleyra.exceptions import KaleyraError
from airflow_provider_kaleyra.waiting import DEFAULT_MAX_POLL_FAILURES, Wait

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class KaleyraCallStatusTrigger(BaseTrigger):
    """Poll Kaleyra's call logs for one submission until every call is final, or the deadline.

    All state lives in the kwargs and in Kaleyra: after a triggerer restart the trigger
    starts again from its kwargs and reads the same call logs, so nothing is lost.

    :param watch: ``correlation.CallWatch.as_dict()``: the numbers, bridge, flow, time window,
        correlation token and call ids of the submission.
    :param policy: ``outcomes.OutcomePolicy.as_dict()``: decides when waiting can stop early.
    :param deadline: ISO 8601 UTC time after which the trigger reports ``timeout``.
    :param poll_interval: seconds between polls.
    :param kaleyra_conn_id: the Airflow connection of type ``kaleyra``.
    :param max_poll_failures: consecutive failed polls (each already retried by the hook)
        after which the trigger reports ``error``.
    """

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
        self.watch = watch
        self.policy = policy
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.kaleyra_conn_id = kaleyra_conn_id
        self.max_poll_failures = max_poll_failures

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "watch": self.watch,
                "policy": self.policy,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "kaleyra_conn_id": self.kaleyra_conn_id,
                "max_poll_failures": self.max_poll_failures,
            },
        )

    def _wait(self) -> Wait:
        return Wait.from_kwargs(
            {
                "watch": self.watch,
                "policy": self.policy,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "max_poll_failures": self.max_poll_failures,
            }
        )

    def hook(self) -> Any:
        from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook

        return KaleyraAsyncHook(self.kaleyra_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        wait = self._wait()
        failed_polls = 0
        async with self.hook() as hook:
            while True:
                try:
                    listing = await hook.call_logs(wait.watch.query(), max_pages=wait.watch.page_budget())
                except (KaleyraError, OSError) as error:
                    failed_polls += 1
                    event = wait.after_failure(error, failed_polls, self.log)
                    if event is not None:
                        yield TriggerEvent(event)
                        return
                    pause = wait.pause_after_failure(failed_polls)
                else:
                    failed_polls = 0
                    event = wait.after_poll(listing)
                    if event is not None:
                        yield TriggerEvent(event)
                        return
                    self.log.debug("%d call-log record(s) so far; polling again", len(listing.records))
                    pause = wait.poll_interval
                # Wake up for the deadline even when the next poll would be later.
                await asyncio.sleep(max(0.0, min(pause, wait.seconds_left() + 0.01)))
