"""The table of Kaleyra's final call statuses and how a status is categorised."""

from __future__ import annotations

import pytest

from airflow_provider_kaleyra import call_logs
from airflow_provider_kaleyra.call_logs import StatusCategory

EXPECTED = {
    StatusCategory.SUCCESS: {"ANSWER", "FLOW_ANSWER"},
    StatusCategory.CALLEE: {
        "NOANSWER",
        "BUSY",
        "REJECTED",
        "CANCEL",
        "OBD_TIMEOUT",
        "BUSY_CHANNEL1",
        "BUSY_CHANNEL2",
        "FAILED_CHANNEL1",
        "FAILED_CHANNEL2",
        "NOANSWER_CHANNEL1",
        "NOANSWER_CHANNEL2",
    },
    StatusCategory.CAPACITY: {"MAXUSE", "QUEUE_TIMEOUT", "FAILED"},
    StatusCategory.CONFIGURATION: {
        "FLOW_UNASSIGNED",
        "FLOW_PAUSED",
        "FLOW_NOT_PUBLISHED",
        "FLOW_UNREACHABLE",
        "BRIDGE_UNAVAILABLE",
        "NOROUTE",
    },
    StatusCategory.INBOUND: {"MISS_CALL", "NO_INCOMING_CLI"},
}


def test_every_named_status_is_in_exactly_the_expected_category() -> None:
    table = {category: {s for s, i in call_logs.CALL_STATUSES.items() if i.category is category} for category in EXPECTED}
    assert table == EXPECTED
    assert sum(len(v) for v in EXPECTED.values()) == len(call_logs.CALL_STATUSES) == 24


@pytest.mark.parametrize("status", sorted(call_logs.CALL_STATUSES))
def test_each_status_has_a_meaning(status: str) -> None:
    assert call_logs.status_meaning(status) == call_logs.CALL_STATUSES[status].meaning
    assert call_logs.status_category(status.lower()) is call_logs.CALL_STATUSES[status].category


@pytest.mark.parametrize("status", ["CHANUNAVAIL", "CONGESTION", "DND", "NOANSWER_LEG1", "SOMETHING_NEW"])
def test_unknown_and_old_platform_statuses_are_unknown_never_success(status: str) -> None:
    assert call_logs.status_category(status) is StatusCategory.UNKNOWN
    assert status not in call_logs.SUCCESS_STATUSES
    assert "does not know" in call_logs.status_meaning(status)


@pytest.mark.parametrize("status", [None, "", "queued", "RINGING", "in-progress"])
def test_missing_or_in_progress_status_is_pending(status: str | None) -> None:
    assert call_logs.status_category(status) is StatusCategory.PENDING


def test_status_spelling_is_normalised() -> None:
    assert call_logs.normalise_status(" flow not published ") == "FLOW_NOT_PUBLISHED"
    assert call_logs.normalise_status("busy") == "BUSY"
    assert call_logs.normalise_status(None) is None
