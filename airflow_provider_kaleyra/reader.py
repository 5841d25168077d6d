"""One call-log reader per connection and bridge, shared by every wait in a process.

The call-logs API has no filter for one submission: a wait reads every call of its
bridge in its time window. A triggerer holding many waits on one bridge would read the
same pages once per wait, so the cost grew with waits x calls. Here the waits on one
(connection, bridge) in one event loop share a :class:`CallLogReader`:

* each read covers the union of the members' windows, paged through the async hook;
* every member that asked for a listing before or while that read ran gets it, each
  only its own calls (``correlation.RecordsByNumber``, then ``CallWatch.belongs``);
* reads are paced: at most one per shortest poll interval among the members. Before a
  read, the reader waits a bounded moment (a quarter of that interval, at most a second)
  for every member that is due to ask, so waits served together ask together again
  instead of drifting into two cohorts with a read each;
* a failed read raises in every member that was waiting for it (each counts it and
  backs off, as ``waiting.Wait.after_failure`` says);
* the whole window is read again every time: the API cannot list "what changed since",
  and a call listed as RINGING must still be seen when it ends.

Nothing is stored: after a triggerer restart the triggers join new readers from their
kwargs. Joining and leaving never await, so on one event loop they cannot interleave;
the last member to leave stops the reading task and closes its hook.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_kaleyra import call_logs, numbers
from airflow_provider_kaleyra.call_logs import CallLogListing, CallLogQuery
from airflow_provider_kaleyra.correlation import RecordsByNumber
from airflow_provider_kaleyra.exceptions import KaleyraTransientError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from types import TracebackType

    from airflow_provider_kaleyra.correlation import CallWatch

log = logging.getLogger(__name__)

#: Before a read, the reader waits at most this share of its interval (and at most
#: ``MAX_GATHER`` seconds) for the members that are due to ask: triggers served by one
#: read wake apart by however long the event loop took to run them all, and would
#: otherwise split into two cohorts that cost a read each, cycle after cycle.
GATHER_SHARE = 0.25
MAX_GATHER = 1.0


class ListingSource(Protocol):
    """What a reader reads through: ``KaleyraAsyncHook`` (or a test's stand-in)."""

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any: ...

    async def call_logs(self, query: CallLogQuery, *, max_pages: int) -> CallLogListing: ...


#: (connection id, bridge digits or None): the waits that can share one listing.
ReaderKey = tuple[str, "str | None"]


def reader_key(conn_id: str, bridge: str | None) -> ReaderKey:
    return conn_id, (numbers.digits(bridge) or None) if bridge else None


@dataclass(eq=False)
class Member:
    """One wait's place in a reader."""

    watch: CallWatch
    poll_interval: float
    #: When it is expected to ask next (reader clock): on joining, then a poll interval
    #: after each listing it was handed.
    due: float = 0.0


def union_query(watches: Sequence[CallWatch]) -> tuple[CallLogQuery, int]:
    """One listing that holds every watch's calls, and its page budget.

    A lone watch keeps its own query (with a call id when it has one). Several share
    the bridge; the window opens with the earliest and closes with the latest (open
    when any is open); the budget is that of all their numbers together.
    """
    if len(watches) == 1:
        return watches[0].query(), watches[0].page_budget()
    queries = [w.query() for w in watches]
    starts = [call_logs.parse_time(q.start_time) if q.start_time else None for q in queries]
    ends = [w.closes for w in watches]
    start = None if None in starts else min(s for s in starts if s is not None)
    end = None if None in ends else max(e for e in ends if e is not None)
    query = CallLogQuery(
        bridge=watches[0].bridge,
        start_time=call_logs.format_filter_time(start) if start else None,
        end_time=call_logs.format_filter_time(end) if end else None,
    )
    return query, call_logs.page_budget(sum(len(w.numbers) for w in watches))


def share_of(listing: CallLogListing, index: RecordsByNumber, watch: CallWatch) -> CallLogListing:
    """What one member sees of a shared listing: its own calls, and every gap of the listing."""
    return CallLogListing(index.belonging_to(watch), listing.problems, listing.cut_off, listing.codes)


@dataclass(eq=False)
class _Read:
    """The read in progress: who it serves."""

    members: set[Member]
    waiting: list[tuple[Member, asyncio.Future[CallLogListing]]] = field(default_factory=list)


class CallLogReader:
    """Reads the call logs of one connection and bridge for all its members.

    :param key: the connection id and bridge it reads.
    :param source: makes the hook it reads through (entered once, closed when the reader stops).
    :param clock: monotonic seconds; a test may pass its own.
    """

    def __init__(
        self, key: ReaderKey, source: Callable[[], ListingSource], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.key = key
        self._source = source
        self._clock = clock
        self.members: set[Member] = set()
        self._asked: list[tuple[Member, asyncio.Future[CallLogListing]]] = []
        self._reading: _Read | None = None
        self._wake = asyncio.Event()
        #: While a read gathers: the due members it still waits for, and the event it waits on.
        self._awaited: set[Member] = set()
        self._all_asked = asyncio.Event()
        self._next_read_at = float("-inf")
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ members

    def join(self, watch: CallWatch, poll_interval: float) -> Member:
        member = Member(watch, poll_interval, due=self._clock())
        self.members.add(member)
        self._start()
        return member

    def leave(self, member: Member) -> asyncio.Task[None] | None:
        """Forget ``member``; when it was the last, stop reading and return the stopping task."""
        self.members.discard(member)
        self._arrived(member)
        if self.members or self._task is None:
            return None
        task, self._task = self._task, None
        task.cancel()
        return task

    async def listing(self, member: Member) -> CallLogListing:
        """The next listing that covers ``member``: the read in progress, if it was a member
        when that read began, else the next one."""
        future: asyncio.Future[CallLogListing] = asyncio.get_running_loop().create_future()
        if self._reading is not None and member in self._reading.members:
            self._reading.waiting.append((member, future))
        else:
            self._asked.append((member, future))
            self._arrived(member)
            self._wake.set()
            self._start()
        return await future

    def _start(self) -> None:
        """Start the reading task, or start it again after it broke."""
        if self._task is None or self._task.done():
            # An empty context: the reading task serves every member, so its log lines
            # must not carry the first member's task (the triggerer routes logs by it).
            self._task = contextvars.Context().run(asyncio.get_running_loop().create_task, self._run())

    @property
    def interval(self) -> float:
        """Seconds between reads: the shortest poll interval among the members."""
        return min((m.poll_interval for m in self.members), default=0.0)

    # ------------------------------------------------------------------ the reading task

    async def _run(self) -> None:
        stopped: Exception = KaleyraTransientError("the shared call-log reader stopped")
        try:
            async with self._source() as source:
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    pause = self._next_read_at - self._clock()
                    if pause > 0:
                        await asyncio.sleep(pause)
                    await self._gather()
                    await self._read(source)
        except Exception as error:
            # The hook could not be opened or closed: the waiting members hear it; the
            # next one to ask starts the task again.
            log.warning("The shared Kaleyra call-log reader %s stopped: %s", self.key, error)
            stopped = error
        finally:
            # Nobody may wait for a read that never comes.
            waiting = self._asked + (self._reading.waiting if self._reading else [])
            self._asked, self._reading = [], None
            for _, future in waiting:
                if not future.done():
                    future.set_exception(stopped)

    async def _gather(self) -> None:
        """Wait, a bounded moment, until every member due to ask by then has asked."""
        until = self._clock() + min(self.interval * GATHER_SHARE, MAX_GATHER)
        asked = {member for member, _ in self._asked}
        self._awaited = {m for m in self.members if m not in asked and m.due <= until}
        if not self._awaited:
            return
        self._all_asked.clear()
        # A timer, not asyncio.wait_for: before Python 3.12 wait_for may swallow the
        # cancellation that stops the reader when the last member leaves mid-gather.
        # The late ones ask for the next read.
        timer = asyncio.get_running_loop().call_later(until - self._clock(), self._all_asked.set)
        try:
            await self._all_asked.wait()
        finally:
            timer.cancel()
            self._awaited = set()

    def _arrived(self, member: Member) -> None:
        """``member`` asked, or left: one fewer for the gathering read to wait for."""
        if member in self._awaited:
            self._awaited.discard(member)
            if not self._awaited:
                self._all_asked.set()

    async def _read(self, source: ListingSource) -> None:
        asked = [(m, f) for m, f in self._asked if not f.done() and m in self.members]
        self._asked = []
        if not asked:
            return
        read = self._reading = _Read(set(self.members), asked)
        query, budget = union_query([m.watch for m in read.members])
        self._next_read_at = self._clock() + self.interval
        try:
            listing = await source.call_logs(query, max_pages=budget)
        except Exception as error:
            self._reading = None
            for _, future in read.waiting:
                if not future.done():
                    future.set_exception(error)
            return
        self._reading = None
        index = RecordsByNumber(listing.records)
        served_at = self._clock()
        for member, future in read.waiting:
            member.due = served_at + member.poll_interval
            if not future.done():
                future.set_result(share_of(listing, index, member.watch))


# --------------------------------------------------------------------------- the registry

#: One table of readers per event loop: a reader's task and futures belong to its loop.
_readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ReaderKey, CallLogReader]] = (
    weakref.WeakKeyDictionary()
)


def readers() -> dict[ReaderKey, CallLogReader]:
    """The readers of the running event loop."""
    return _readers.setdefault(asyncio.get_running_loop(), {})


@asynccontextmanager
async def membership(
    conn_id: str,
    watch: CallWatch,
    poll_interval: float,
    source: Callable[[], ListingSource],
    *,
    shared: bool = True,
) -> AsyncIterator[Listings]:
    """A place in the reader of ``conn_id`` and ``watch.bridge``, for as long as the block runs.

    ``source`` makes the hook when this member is the first (it is then shared). With
    ``shared=False`` the member reads alone, through a reader of its own: each wait
    pages through its window by itself (kept to compare costs).
    """
    key = reader_key(conn_id, watch.bridge)
    table = readers() if shared else {}
    reader = table.get(key)
    if reader is None:
        reader = table[key] = CallLogReader(key, source)
    member = reader.join(watch, poll_interval)
    try:
        yield Listings(reader, member)
    finally:
        stopping = reader.leave(member)
        if stopping is not None:
            if table.get(key) is reader:
                del table[key]
            # Wait until the hook is closed; a second cancellation of this task ends the wait.
            await asyncio.wait({stopping})


@dataclass(frozen=True)
class Listings:
    """A member's handle: ``await listings.next()`` for its next listing."""

    reader: CallLogReader
    member: Member

    async def next(self) -> CallLogListing:
        return await self.reader.listing(self.member)
