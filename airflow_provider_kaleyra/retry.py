"""When a request is sent again, decided in one place for every transport.

A phone call cannot be taken back, so the rule for the outbound POST is strict: it
is sent again only when it certainly did not reach Kaleyra (the connection could
not be opened) or Kaleyra said it did not act on it (429). Read-only requests are
also retried after 5xx answers and lost connections. Everything else goes back to
the caller, who turns it into a task failure (see ``exceptions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from airflow_provider_kaleyra.exceptions import error_after_tries, transport_failure

if TYPE_CHECKING:
    from airflow_provider_kaleyra.wire import Reply


class TryOutcome(str, Enum):
    """How one try at sending ended, whatever the HTTP library."""

    #: The connection could not be opened (refused, DNS, connect timeout): nothing was sent.
    NOT_SENT = "not_sent"
    #: The request may have left (read timeout, reset after sending): Kaleyra may have acted.
    MAYBE_SENT = "maybe_sent"
    #: Kaleyra answered; see the :class:`Reply`.
    ANSWERED = "answered"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff, honouring ``Retry-After``."""

    #: Tries in all, the first included.
    max_attempts: int = 4
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    #: A ``Retry-After`` longer than this is not waited for in-process.
    max_retry_after: float = 120.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return float(min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1)))

    def next_delay(
        self, attempt: int, outcome: TryOutcome, reply: Reply | None = None, *, idempotent: bool
    ) -> float | None:
        """Seconds to wait before sending again, or ``None`` to stop here."""
        if attempt >= self.max_attempts:
            return None
        if outcome is TryOutcome.NOT_SENT:
            return self.backoff(attempt)
        if outcome is TryOutcome.MAYBE_SENT:
            return self.backoff(attempt) if idempotent else None
        assert reply is not None
        if reply.http_status == 429:
            if reply.retry_after is None:
                return self.backoff(attempt)
            return reply.retry_after if reply.retry_after <= self.max_retry_after else None
        if idempotent and reply.http_status >= 500:
            return self.backoff(attempt)
        return None


DEFAULT_RETRY_POLICY = RetryPolicy()


@dataclass
class Exchange:
    """The tries of one request: each failed try yields a delay or raises the final error.

    The sync hook and the async client share it, so both retry exactly alike.
    """

    policy: RetryPolicy
    action: str
    idempotent: bool
    base_url: str
    sent: str | None = None
    attempt: int = 0

    def delay_or_raise(
        self, outcome: TryOutcome, reply: Reply | None = None, error: Exception | None = None
    ) -> float:
        """After a failed try: seconds to wait before the next one, or raise the final error.

        The final error says what the transport reported in a few words, so it is not
        chained to the HTTP library's exceptions (their tracebacks add only noise).
        """
        self.attempt += 1
        delay = self.policy.next_delay(self.attempt, outcome, reply, idempotent=self.idempotent)
        if delay is None:
            raise error_after_tries(
                outcome is TryOutcome.NOT_SENT,
                reply,
                error,
                action=self.action,
                idempotent=self.idempotent,
                base_url=self.base_url,
                tries=self.attempt,
                sent=self.sent,
            ) from None
        return delay

    def describe(self, reply: Reply | None, error: Exception | None) -> str:
        what = reply.explain() if reply is not None else f"failed ({transport_failure(error)})"
        return f"Kaleyra {self.action}: try {self.attempt} of {self.policy.max_attempts} {what}"
