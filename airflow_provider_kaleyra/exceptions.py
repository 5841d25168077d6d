"""The errors this provider raises, and the one place an answer becomes an error.

Two families decide what Airflow does next:

* :class:`KaleyraPermanentError` subclasses ``AirflowFailException``: the task fails
  without Airflow retries, because sending the same thing again cannot help or could
  dial people twice.
* :class:`KaleyraTransientError` is a plain ``AirflowException``: Airflow's task
  retries (if the user configured any) may succeed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_kaleyra._compat import AirflowException, AirflowFailException
from airflow_provider_kaleyra.wire import Disposition, Reply, nothing_done

if TYPE_CHECKING:
    from collections.abc import Iterator


class KaleyraError(AirflowException):
    """Base class: Kaleyra's ``code``, ``message``, the HTTP status and what was sent.

    ``sent`` is a redacted summary (numbers, bridge, flow); never the API key.
    """

    def __init__(
        self,
        text: str,
        *,
        code: str | None = None,
        message: str | None = None,
        http_status: int | None = None,
        sent: str | None = None,
    ) -> None:
        self.text = text
        self.code = code
        self.kaleyra_message = message
        self.http_status = http_status
        self.sent = sent
        super().__init__(f"{text} [sent: {sent}]" if sent else text)


class KaleyraPermanentError(KaleyraError, AirflowFailException):
    """Retrying cannot help: wrong credentials, unknown flow, invalid input, unknown code."""


class KaleyraTransientError(KaleyraError):
    """Kaleyra did not act on the request; the same request may succeed later."""

    def __init__(
        self,
        text: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        message: str | None = None,
        http_status: int | None = None,
        sent: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(text, code=code, message=message, http_status=http_status, sent=sent)


class KaleyraInputError(KaleyraPermanentError, ValueError):
    """A parameter is invalid; raised before anything is sent."""

    def __init__(self, parameter: str, value: object, problem: str) -> None:
        self.parameter = parameter
        self.value = value
        super().__init__(f"{parameter}={value!r}: {problem}")


class KaleyraConnectionConfigError(KaleyraPermanentError):
    """The Airflow connection is missing a field or holds a bad value."""


class KaleyraOutcomeUnknownError(KaleyraPermanentError):
    """The request may have reached Kaleyra and nothing says whether it dialled.

    No answer came back, or an answer that does not prove nothing was done (a code this
    provider does not know, a 5xx, a proxy's page). Kaleyra documents no idempotency
    key, so sending it again could ring the same people twice; the task fails without
    retry and says so, naming the code when there was one.
    """


class KaleyraCallsFailedError(KaleyraTransientError):
    """Too many calls ended badly for the policy; an Airflow retry may do better."""


class KaleyraCallsTimeoutError(KaleyraTransientError):
    """The deadline passed while some numbers had no final status yet."""


class KaleyraFlowBrokenError(KaleyraPermanentError):
    """Kaleyra ended calls with a configuration status (flow or bridge broken): no retry helps."""


class KaleyraNobodyAnsweredError(KaleyraPermanentError):
    """Every step of an escalation chain was called and nobody answered; a retry would not call again."""


def error_for_reply(reply: Reply, *, action: str, sent: str | None = None) -> KaleyraError:
    """The exception for a Kaleyra answer that is not success."""
    text = f"Kaleyra refused to {action}: {reply.explain()}"
    if reply.disposition is Disposition.TRANSIENT:
        return KaleyraTransientError(
            text,
            retry_after=reply.retry_after,
            code=reply.code,
            message=reply.message,
            http_status=reply.http_status,
            sent=sent,
        )
    return KaleyraPermanentError(
        text, code=reply.code, message=reply.message, http_status=reply.http_status, sent=sent
    )


def cause_chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what caused it, down to the operating system's error.

    requests and urllib3 keep the cause in ``reason`` or the first argument as well as
    in ``__cause__``/``__context__``; every link is visited once.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        first = current.args[0] if current.args else None
        current = (
            (reason if isinstance(reason, BaseException) else None)
            or current.__cause__
            or current.__context__
            or (first if isinstance(first, BaseException) else None)
        )


def transport_failure(error: BaseException | None) -> str:
    """What the network said, in a few words: the innermost cause of a transport error.

    ``ConnectionRefusedError: [Errno 111] Connection refused`` rather than the five
    chained messages (and tracebacks) of requests and urllib3 that wrap it.
    """
    if error is None:
        return "no answer"
    root = list(cause_chain(error))[-1]
    return f"{type(root).__name__}: {root}" if str(root) else type(root).__name__


def error_after_tries(
    nothing_sent: bool,
    reply: Reply | None,
    error: Exception | None,
    *,
    action: str,
    idempotent: bool,
    base_url: str,
    tries: int,
    sent: str | None,
) -> KaleyraError:
    """The exception once no try is left: Kaleyra's answer, no connection, or no answer.

    For a request that dials (not ``idempotent``), only an answer that proves nothing
    was done (``wire.nothing_done``) is a refusal; any other is an unknown outcome.
    """
    if reply is not None:
        if idempotent or nothing_done(reply.code, reply.http_status):
            return error_for_reply(reply, action=action, sent=sent)
        return KaleyraOutcomeUnknownError(
            f"Kaleyra answered the request to {action} with {reply.explain()}, which does not say whether it "
            "dialled; it is not sent again automatically (that could dial the same people twice)",
            code=reply.code,
            message=reply.message,
            http_status=reply.http_status,
            sent=sent,
        )
    if nothing_sent or idempotent:
        return KaleyraTransientError(
            f"Could not reach Kaleyra at {base_url} to {action} after {tries} tries "
            f"({transport_failure(error)}); check the connection's region or base_url and the network",
            sent=sent,
        )
    return KaleyraOutcomeUnknownError(
        f"No answer from Kaleyra to the request to {action} ({transport_failure(error)}); it may have been "
        "accepted, so it is not sent again automatically (that could dial the same people twice)",
        sent=sent,
    )
