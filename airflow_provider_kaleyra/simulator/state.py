"""What the simulated Kaleyra account knows: keys, published flows, numbers, dials.

Kept apart from HTTP so endpoints stay thin and a later feature (calls that move
through statuses) can hang its own state next to the ledger without touching them.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_kaleyra.simulator import phone
from airflow_provider_kaleyra.simulator.call_log_style import DEFAULT_STYLE, CallLogStyle
from airflow_provider_kaleyra.simulator.calls import CallScript
from airflow_provider_kaleyra.simulator.ledger import Dial, Ledger
from airflow_provider_kaleyra.simulator.request_count import RequestCount

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

VOICE_OUT = "voice_out"
ACTIVE = "Active"


@dataclass(frozen=True)
class SubscribedNumber:
    """A DID on the account; only an Active ``voice_out`` number may be a bridge."""

    number: str
    capabilities: tuple[str, ...] = (VOICE_OUT,)
    status: str = ACTIVE

    @property
    def can_dial_out(self) -> bool:
        return self.status == ACTIVE and VOICE_OUT in self.capabilities


def as_subscribed(number: str | SubscribedNumber) -> SubscribedNumber:
    return number if isinstance(number, SubscribedNumber) else SubscribedNumber(number)


class SimulatorState:
    """Everything the endpoints read or change, behind one lock."""

    def __init__(
        self,
        accounts: Mapping[str, str],
        flows: Iterable[str],
        numbers: Iterable[str | SubscribedNumber],
        call_log_style: CallLogStyle = DEFAULT_STYLE,
    ) -> None:
        self._lock = threading.RLock()
        self.accounts: dict[str, str] = dict(accounts)
        self._initial_flows = frozenset(flows)
        self._flows: set[str] = set(self._initial_flows)
        self.numbers: tuple[SubscribedNumber, ...] = tuple(as_subscribed(n) for n in numbers)
        self.ledger = Ledger()
        #: Kaleyra API requests received, per endpoint; see ``request_count``.
        self.requests = RequestCount()
        #: How and when accepted calls end; see ``calls``.
        self.calls = CallScript()
        #: How the call-log listing is written; see ``call_log_style``. Replaced whole, never changed.
        self._initial_call_log_style = call_log_style
        self.call_log_style = call_log_style

    # ------------------------------------------------------------------ credentials

    def authenticates(self, sid: str, api_key: str | None) -> bool:
        expected = self.accounts.get(sid)
        if expected is None or api_key is None:
            return False
        return hmac.compare_digest(expected.encode(), api_key.encode())

    # ------------------------------------------------------------------ flows

    def published_flows(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._flows)

    def publish(self, *flow_ids: str) -> None:
        with self._lock:
            self._flows.update(flow_ids)

    def unpublish(self, *flow_ids: str) -> None:
        with self._lock:
            self._flows.difference_update(flow_ids)

    # ------------------------------------------------------------------ numbers

    def can_bridge(self, number: str) -> bool:
        wanted = phone.digits(number)
        return any(n.can_dial_out and phone.digits(n.number) == wanted for n in self.numbers)

    # ------------------------------------------------------------------ dials

    def accept(self, flow_id: str, dials: list[Dial]) -> bool:
        """Record ``dials`` if ``flow_id`` is published (or empty: a spoken message), atomically with that check."""
        with self._lock:
            if flow_id and flow_id not in self._flows:
                return False
            self.ledger.record(dials)
            return True

    def reset(self) -> None:
        """Forget every dial and request; restore the flows, outcomes and call-log style it started with."""
        with self._lock:
            self.ledger.clear()
            self.requests.clear()
            self._flows = set(self._initial_flows)
            self.calls.reset()
            self.call_log_style = self._initial_call_log_style
