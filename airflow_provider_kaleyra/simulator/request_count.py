"""How many Kaleyra API requests the simulator was sent, per endpoint.

Tests and benchmarks read it to prove what a client costs (a shared call-log reader
must not send more listings when more waits share it). Every request to the Kaleyra
API counts, faulted ones too; the ``/_simulator/`` admin requests do not.
"""

from __future__ import annotations

import re
import threading
from collections import Counter

#: ``/v1/<SID>/voice/call-logs`` -> ``voice/call-logs``.
_ENDPOINT = re.compile(r"/v1/[^/]+/(?P<endpoint>.+?)/?")
CALL_LOGS = "voice/call-logs"
OUTBOUND = "voice/outbound"


def endpoint_of(path: str) -> str | None:
    match = _ENDPOINT.fullmatch(path)
    return match["endpoint"] if match else None


class RequestCount:
    """Thread-safe counts by endpoint (``voice/call-logs``, ``voice/outbound``...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, path: str) -> None:
        endpoint = endpoint_of(path)
        if endpoint is not None:
            with self._lock:
                self._counts[endpoint] += 1

    def of(self, endpoint: str) -> int:
        with self._lock:
            return self._counts[endpoint]

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
