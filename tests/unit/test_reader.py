"""The shared call-log reader: one read per cycle for many waits, each wait its own calls."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import itertools
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_kaleyra import call_logs, correlation, reader
from airflow_provider_kaleyra.call_logs import CallLogListing, CallRecord
from airflow_provider_kaleyra.exceptions import KaleyraPermanentError, KaleyraTransientError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

UTC = dt.timezone.utc
SUBMITTED = dt.datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
BRIDGE = "+6531651234"


def watch(index: int, *, minutes: float = 0, bridge: str | None = BRIDGE, **changes: Any) -> correlation.CallWatch:
    return correlation.CallWatch(
        numbers=(f"+9188309{index:03d}01", f"+9188309{index:03d}02"),
        bridge=bridge,
        start_time=(SUBMITTED + dt.timedelta(minutes=minutes)).isoformat(),
        flow_id="SG_f",
        correlation_token=f"af-{index}",
        **changes,
    )


def record(w: correlation.CallWatch, n: int, status: str | None, **changes: Any) -> CallRecord:
    fields: dict[str, Any] = {
        "call_id": f"{w.correlation_token}-{n}",
        "bridge": w.bridge,
        "flow_id": "SG_f",
        "started_at": w.opens,
        "correlation_token": w.correlation_token,
        **changes,
    }
    return CallRecord(w.numbers[n], status, **fields)


class Source:
    """A stand-in hook: answers each read with the next scripted listing (or raises it).

    ``hold`` keeps every read open until it is set, so a test can act mid-read.
    """

    def __init__(self, *answers: CallLogListing | BaseException) -> None:
        self.answers = list(answers)
        self.queries: list[call_logs.CallLogQuery] = []
        self.budgets: list[int] = []
        self.opened = self.closed = 0
        self.hold: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def __aenter__(self) -> Source:
        self.opened += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed += 1

    async def call_logs(self, query: call_logs.CallLogQuery, *, max_pages: int) -> CallLogListing:
        self.queries.append(query)
        self.budgets.append(max_pages)
        self.reading.set()
        if self.hold is not None:
            await self.hold.wait()
        self.reading.clear()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(test())


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Let the loop run until ``condition`` holds; fail after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


# --------------------------------------------------------------------------- the union window


def test_a_lone_wait_keeps_its_own_query_and_budget() -> None:
    w = dataclasses.replace(watch(1), call_ids=("c1",), numbers=("+918830900101",))
    assert w.query().call_id == "c1"
    assert reader.union_query([w]) == (w.query(), w.page_budget())


def test_the_union_opens_with_the_earliest_and_closes_with_the_latest() -> None:
    early = dataclasses.replace(watch(1), end_time=(SUBMITTED + dt.timedelta(hours=1)).isoformat())
    late = dataclasses.replace(watch(2, minutes=30), end_time=(SUBMITTED + dt.timedelta(hours=2)).isoformat())
    query, budget = reader.union_query([late, early])
    assert query.bridge == BRIDGE
    assert query.start_time == early.query().start_time  # two minutes of clock skew before the earliest
    assert query.end_time == "2026-01-01T12:00:00+00:00"
    assert query.call_id is None
    assert budget == call_logs.page_budget(4)


def test_one_open_window_keeps_the_union_open() -> None:
    closed = dataclasses.replace(watch(1), end_time=(SUBMITTED + dt.timedelta(hours=1)).isoformat())
    query, _ = reader.union_query([closed, watch(2)])
    assert query.end_time is None


def test_the_budget_grows_with_every_number_waited_for() -> None:
    many = [dataclasses.replace(watch(i), numbers=tuple(f"+9177{i:03d}{n:05d}" for n in range(100))) for i in range(60)]
    _, budget = reader.union_query(many)
    assert budget == call_logs.page_budget(6000) > call_logs.MIN_PAGES


def test_bridges_spelled_apart_share_a_reader_key() -> None:
    assert reader.reader_key("k", "+65 3165-1234") == reader.reader_key("k", BRIDGE) == ("k", "6531651234")
    assert reader.reader_key("k", None) == ("k", None)
    assert reader.reader_key("other", BRIDGE) != reader.reader_key("k", BRIDGE)


# --------------------------------------------------------------------------- sharing


def test_many_waits_share_one_read_and_each_gets_only_its_calls() -> None:
    watches = [watch(i) for i in range(50)]
    records = [record(w, n, "ANSWER" if n == 0 else "RINGING") for w in watches for n in (0, 1)]
    # The same number, another submission (token): belongs to nobody here.
    stranger = record(watches[0], 0, "BUSY", correlation_token="af-someone-else", call_id="x")
    source = Source(CallLogListing([stranger, *records], problems=["junk"], cut_off="cut"))

    async def test() -> list[CallLogListing]:
        async def one(w: correlation.CallWatch) -> CallLogListing:
            async with reader.membership("kaleyra_default", w, 0.01, lambda: source) as listings:
                return await listings.next()

        return list(await asyncio.gather(*(one(w) for w in watches)))

    listings = run(test)
    assert len(source.queries) == 1
    assert source.opened == source.closed == 1
    for w, listing in zip(watches, listings, strict=True):
        assert [(r.number, r.status) for r in listing.records] == [(w.numbers[0], "ANSWER"), (w.numbers[1], "RINGING")]
        assert (listing.problems, listing.cut_off) == (["junk"], "cut")


def test_a_member_that_asks_during_a_read_gets_that_read_a_newcomer_the_next() -> None:
    first, second, newcomer = watch(1), watch(2), watch(3)
    source = Source(
        CallLogListing([record(first, 0, "ANSWER"), record(second, 0, "RINGING"), record(newcomer, 0, "RINGING")]),
        CallLogListing([record(first, 0, "ANSWER"), record(second, 0, "BUSY"), record(newcomer, 0, "BUSY")]),
    )

    async def test() -> None:
        source.hold = asyncio.Event()
        async with (
            reader.membership("k", first, 0.01, lambda: source) as a,
            reader.membership("k", second, 0.01, lambda: source) as b,
        ):
            asked_first = asyncio.ensure_future(a.next())
            await until(source.reading.is_set)
            asked_second = asyncio.ensure_future(b.next())  # a member since before the read began
            async with reader.membership("k", newcomer, 0.01, lambda: source) as c:
                asked_newcomer = asyncio.ensure_future(c.next())  # joined mid-read: the next read
                await asyncio.sleep(0.01)
                source.hold.set()
                await asyncio.gather(asked_first, asked_second, asked_newcomer)
        assert len(source.queries) == 2
        assert [r.status for r in asked_second.result().records] == ["RINGING"]  # the first read
        assert [(r.number, r.status) for r in asked_newcomer.result().records] == [(newcomer.numbers[0], "BUSY")]

    run(test)


def test_reads_are_paced_by_the_shortest_poll_interval() -> None:
    w = watch(1)
    source = Source(CallLogListing([]))

    async def test() -> list[float]:
        times = []
        async with reader.membership("k", w, 0.2, lambda: source) as listings:
            for _ in range(3):
                await listings.next()  # asks again at once: the reader waits
                times.append(asyncio.get_running_loop().time())
        return times

    times = run(test)
    assert [b - a >= 0.19 for a, b in itertools.pairwise(times)] == [True, True]


def test_waits_served_together_share_the_next_read_though_they_ask_apart() -> None:
    # After a listing each wait runs its poll, then sleeps its interval: on a busy event
    # loop they ask again some milliseconds apart. The reader waits for the ones it served
    # (within a quarter interval, here 100 ms), so they stay one cohort with one read per
    # cycle. (Waiting a fixed 5% of the interval, 20 ms, they split and the reads doubled.)
    watches = [watch(i) for i in range(4)]
    source = Source(CallLogListing([]))
    cycles = 4

    async def test() -> None:
        async def one(index: int, w: correlation.CallWatch) -> None:
            async with reader.membership("k", w, 0.4, lambda: source) as listings:
                for _ in range(cycles):
                    await listings.next()
                    await asyncio.sleep(0.4 + 0.01 * index)  # 0, 10, 20 and 30 ms apart

        await asyncio.gather(*(one(i, w) for i, w in enumerate(watches)))

    run(test)
    assert len(source.queries) == cycles


def test_the_shared_window_follows_who_is_waiting() -> None:
    early, late = watch(1), watch(2, minutes=60)
    source = Source(CallLogListing([]))

    async def test() -> None:
        async with reader.membership("k", late, 0.01, lambda: source) as late_listings:
            async with reader.membership("k", early, 0.01, lambda: source):
                await late_listings.next()
            await late_listings.next()  # the early wait has left

    run(test)
    assert [q.start_time for q in source.queries] == [early.query().start_time, late.query().start_time]


def test_waits_on_other_bridges_or_connections_read_apart() -> None:
    sources: list[Source] = []

    def make() -> Source:
        sources.append(Source(CallLogListing([])))
        return sources[-1]

    async def test() -> None:
        async with (
            reader.membership("k", watch(1), 0.01, make) as a,
            reader.membership("k", watch(2, bridge="+6531650000"), 0.01, make) as b,
            reader.membership("other", watch(3), 0.01, make) as c,
            reader.membership("k", watch(4, bridge="+65 3165 1234"), 0.01, make) as d,
        ):
            await asyncio.gather(a.next(), b.next(), c.next(), d.next())
            assert len(reader.readers()) == 3

    run(test)
    assert len(sources) == 3
    assert sorted(len(s.queries) for s in sources) == [1, 1, 1]


def test_unshared_members_read_alone() -> None:
    sources: list[Source] = []

    def make() -> Source:
        sources.append(Source(CallLogListing([])))
        return sources[-1]

    async def test() -> None:
        async with (
            reader.membership("k", watch(1), 0.01, make, shared=False) as a,
            reader.membership("k", watch(2), 0.01, make, shared=False) as b,
        ):
            await asyncio.gather(a.next(), b.next())
            assert reader.readers() == {}

    run(test)
    assert [len(s.queries) for s in sources] == [1, 1]


# --------------------------------------------------------------------------- failures and leaving


def test_a_failed_read_reaches_every_member_that_waited_for_it() -> None:
    watches = [watch(i) for i in range(3)]
    source = Source(KaleyraTransientError("Kaleyra said 503"), CallLogListing([record(watches[0], 0, "ANSWER")]))

    async def test() -> None:
        async with (
            reader.membership("k", watches[0], 0.01, lambda: source) as a,
            reader.membership("k", watches[1], 0.01, lambda: source) as b,
            reader.membership("k", watches[2], 0.01, lambda: source),  # not asking: not told
        ):
            failed = await asyncio.gather(a.next(), b.next(), return_exceptions=True)
            assert [str(e) for e in failed] == ["Kaleyra said 503"] * 2
            assert [r.status for r in (await a.next()).records] == ["ANSWER"]  # the next read works

    run(test)
    assert len(source.queries) == 2


def test_a_permanent_error_keeps_its_kind() -> None:
    source = Source(KaleyraPermanentError("RBC001"))

    async def test() -> None:
        async with reader.membership("k", watch(1), 0.01, lambda: source) as listings:
            with pytest.raises(KaleyraPermanentError):
                await listings.next()

    run(test)


def test_a_cancelled_member_leaves_without_disturbing_the_others() -> None:
    stays, goes = watch(1), watch(2)
    source = Source(CallLogListing([record(stays, 0, "ANSWER"), record(goes, 0, "ANSWER")]))

    async def wait_for(w: correlation.CallWatch, results: list[CallLogListing]) -> None:
        async with reader.membership("k", w, 0.01, lambda: source) as listings:
            while True:
                results.append(await listings.next())

    async def test() -> None:
        source.hold = asyncio.Event()
        kept: list[CallLogListing] = []
        gone: list[CallLogListing] = []
        staying = asyncio.ensure_future(wait_for(stays, kept))
        going = asyncio.ensure_future(wait_for(goes, gone))
        await until(source.reading.is_set)
        going.cancel()  # mid-read
        await asyncio.wait({going})
        [shared] = reader.readers().values()
        assert len(shared.members) == 1
        source.hold.set()
        await until(lambda: len(kept) >= 3)
        assert gone == []
        assert [r.number for r in kept[-1].records] == [stays.numbers[0]]
        staying.cancel()
        await asyncio.wait({staying})
        assert reader.readers() == {}
        assert source.closed == 1  # the last one out closed the hook

    run(test)


def test_a_source_that_cannot_open_fails_the_read_and_is_tried_again() -> None:
    opened: list[int] = []
    good = Source(CallLogListing([]))

    def make() -> Source:
        opened.append(1)
        if len(opened) == 1:
            raise OSError("no route to Kaleyra")
        return good

    async def test() -> None:
        async with reader.membership("k", watch(1), 0.01, make) as listings:
            with pytest.raises(OSError, match="no route"):
                await listings.next()
            assert (await listings.next()).records == []

    run(test)
    assert len(opened) == 2


def test_the_reading_task_does_not_carry_the_first_members_log_context() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("trigger_id", default="none")
    seen: list[str] = []

    class Peeking(Source):
        async def call_logs(self, query: call_logs.CallLogQuery, *, max_pages: int) -> CallLogListing:
            seen.append(marker.get())
            return await super().call_logs(query, max_pages=max_pages)

    source = Peeking(CallLogListing([]))

    async def test() -> None:
        marker.set("trigger 7")
        async with reader.membership("k", watch(1), 0.01, lambda: source) as listings:
            await listings.next()

    run(test)
    assert seen == ["none"]


def test_every_event_loop_has_its_own_readers() -> None:
    tables: list[dict[reader.ReaderKey, reader.CallLogReader]] = []

    async def test() -> None:
        tables.append(reader.readers())

    run(test)
    run(test)
    assert tables[0] is not tables[1]
