"""Progress lines while waiting: what they say, and when they are logged."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow_provider_kaleyra import call_logs, correlation, outcomes, progress

if TYPE_CHECKING:
    import pytest

NUMBERS = tuple(f"+91883090700{i}" for i in range(10))
WATCH = correlation.CallWatch(numbers=NUMBERS, bridge="+6531651234", start_time="2026-01-01T10:00:00+00:00")


def tally(*statuses: str | None) -> outcomes.Tally:
    records = [call_logs.CallRecord(n, s) for n, s in zip(NUMBERS, statuses, strict=False) if s is not None]
    return outcomes.tally(WATCH, records, outcomes.OutcomePolicy())


def test_the_line_counts_ended_calls_by_status_and_names_the_pending() -> None:
    line = progress.progress_line(tally(*["ANSWER"] * 5, "BUSY", "BUSY", "RINGING"))
    assert line == (
        "7 of 10 calls ended (ANSWER 5, BUSY 2); 3 pending: "
        "+918830907007, +918830907008, +918830907009"
    )


def test_nothing_ended_yet_and_everything_ended() -> None:
    assert progress.progress_line(tally()).startswith("0 of 10 calls ended; 10 pending: +918830907000,")
    assert progress.progress_line(tally(*["NOANSWER"] * 10)) == "10 of 10 calls ended (NOANSWER 10)"


def test_many_pending_numbers_are_counted_not_all_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "PENDING_SHOWN", 2)
    assert progress.progress_line(tally("ANSWER")).endswith("9 pending: +918830907001, +918830907002 and 7 more")


def test_a_line_when_the_tally_changes_and_when_silence_lasted_too_long(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = logging.getLogger("test.progress")
    notes = progress.ProgressLog(log, every=180, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="test.progress"):
        assert notes.note(tally("RINGING")) is True  # the first poll
        now[0] = 30
        assert notes.note(tally("RINGING")) is False  # nothing new
        now[0] = 60
        assert notes.note(tally("ANSWER")) is True  # a call ended
        now[0] = 200
        assert notes.note(tally("ANSWER")) is False
        now[0] = 240
        assert notes.note(tally("ANSWER")) is True  # three minutes without a line
    assert [r.getMessage() for r in caplog.records] == [
        "Kaleyra calls: " + progress.progress_line(tally("RINGING")),
        "Kaleyra calls: " + progress.progress_line(tally("ANSWER")),
        "Kaleyra calls: " + progress.progress_line(tally("ANSWER")),
    ]
