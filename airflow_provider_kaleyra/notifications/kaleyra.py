"""KaleyraCallNotifier: phone someone from an Airflow callback when a pipeline needs them.

Use it wherever Airflow takes a notifier: ``on_failure_callback``, ``on_retry_callback``,
``on_success_callback`` of a DAG or a task, and as the ``AsyncCallback`` of a Deadline
Alert (which awaits :meth:`KaleyraCallNotifier.async_notify` in the triggerer). The sync
and async paths validate with ``validation``, send with ``KaleyraHook.submit`` /
``KaleyraAsyncHook.submit`` and so share the wire format and the error classification.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_kaleyra import validation, wire
from airflow_provider_kaleyra._compat import BaseNotifier
from airflow_provider_kaleyra.connection import DEFAULT_CONN_ID
from airflow_provider_kaleyra.exceptions import KaleyraError, KaleyraOutcomeUnknownError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook


def _field(source: Any, name: str) -> Any:
    """``name`` of a context entry: an object (a task instance) or a dict (a Deadline's dag run)."""
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def _can_make_template_env(dag: Any) -> bool:
    """False for the scheduler's serialized DAG, which ``dag.test()`` (3.1 to 3.3) hands
    DAG-level callbacks; rendering then uses a plain sandboxed Jinja environment instead
    of failing. The DAG processor hands them the DAG itself."""
    return dag is None or hasattr(dag, "get_template_env")


def notification_correlation_token(context: Mapping[str, Any]) -> str:
    """A token for the calls of one notification, from whatever the callback context names.

    Task callbacks carry ``ti``; DAG callbacks a ``dag_run`` and usually a ``ti`` (or, in
    the DAG processor without the run's details, only ``dag`` and ``run_id``); a Deadline
    Alert only a ``dag_run`` dict and the ``deadline``.
    """
    ti = context.get("ti")
    dag_run = context.get("dag_run")
    deadline = context.get("deadline")
    return wire.correlation_token(
        "notification",
        _field(ti, "dag_id") or _field(dag_run, "dag_id") or _field(context.get("dag"), "dag_id"),
        _field(ti, "run_id") or _field(dag_run, "run_id") or context.get("run_id"),
        _field(ti, "task_id"),
        _field(ti, "map_index"),
        _field(ti, "try_number"),
        _field(deadline, "id"),
    )


class KaleyraCallNotifier(BaseNotifier):
    """Place a Kaleyra outbound call that plays a Flow Builder flow or speaks a text, from a callback.

    .. code-block:: python

        on_failure_callback = KaleyraCallNotifier(
            to="+918830907001",
            bridge="+6531651234",
            flow_id="SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb",
            custom="{{ dag.dag_id }} failed at {{ ti.task_id }}",
        )

    A failure to place the call (bad input, a refusal by Kaleyra, no answer) is logged
    with Kaleyra's code and message; it is raised as well only if ``raise_on_failure``.

    :param to: who is called: one E.164 number, a list, or a comma-separated string; all
        of them are dialled at once.
    :param flow_id: the Flow ID of the published Flow Builder flow the callee hears; give
        either ``flow_id`` or ``message``.
    :param message: a text Kaleyra speaks to the callee (text-to-speech, no flow needed),
        e.g. ``"{{ dag.dag_id }} failed at {{ ti.task_id }}"``.
    :param language: the language and region of ``message`` (``en-US`` by default).
    :param speed: ``slow``, ``medium`` (default) or ``fast``.
    :param bridge: the account's DID the call comes from, E.164.
    :param kaleyra_conn_id: the Airflow connection of type ``kaleyra``.
    :param custom: data attached to the call (a string, sent under ``"text"``, or a
        mapping); a flow can read it out, e.g. which DAG failed.
    :param prefix: a country code Kaleyra puts in front of ``to``.
    :param retry: how many times Kaleyra rings again when nobody answers.
    :param raise_on_failure: re-raise a failure to place the call after logging it. Off by
        default: a notifier that raises only adds noise to a failure that is being reported.
    :param context: the callback context; Airflow passes it to Deadline Alert callbacks.
    """

    template_fields: Sequence[str] = (
        "to",
        "flow_id",
        "message",
        "language",
        "speed",
        "bridge",
        "custom",
        "prefix",
        "kaleyra_conn_id",
    )

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        bridge: str,
        flow_id: str | None = None,
        message: str | None = None,
        language: str | None = None,
        speed: str | None = None,
        kaleyra_conn_id: str = DEFAULT_CONN_ID,
        custom: str | dict[str, Any] | None = None,
        prefix: str | None = None,
        retry: int | None = None,
        raise_on_failure: bool = False,
        context: Context | None = None,
    ) -> None:
        super().__init__(context=context)
        self.to = to
        self.flow_id = flow_id
        self.message = message
        self.language = language
        self.speed = speed
        if (flow_id is None) == (message is None):
            validation.check_flow_or_message(flow_id, message)  # neither or both: wrong however rendered
        self.bridge = bridge
        self.kaleyra_conn_id = kaleyra_conn_id
        self.custom = custom
        self.prefix = prefix
        self.retry = retry
        self.raise_on_failure = raise_on_failure
        # Rendering replaces the fields in place, and one notifier object serves every
        # task and callback it is attached to: each rendering starts from these.
        self._templates = {name: getattr(self, name) for name in self.template_fields}

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        for name, template in self._templates.items():
            setattr(self, name, template)
        self.__dict__.pop("hook", None)  # kaleyra_conn_id is templated
        if jinja_env is None and not _can_make_template_env(context.get("dag")):
            jinja_env = self.get_template_env(dag=None)
        super().render_template_fields(context, jinja_env)

    @cached_property
    def hook(self) -> KaleyraHook:
        from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

        return KaleyraHook(self.kaleyra_conn_id)

    def calls(self, context: Mapping[str, Any]) -> list[wire.OutboundCall]:
        """The validated requests for the rendered fields (more than 100 numbers make several)."""
        calls, _ = validation.outbound_calls(
            to=self.to,
            bridge=self.bridge,
            flow_id=self.flow_id,
            message=self.message,
            language=self.language,
            speed=self.speed,
            prefix=self.prefix,
            retry=self.retry,
            custom=self.custom,
            correlation_token=notification_correlation_token(context),
        )
        return calls

    def notify(self, context: Context) -> None:
        """Place the call (sync): task callbacks on the worker, DAG callbacks in the DAG processor."""
        try:
            for call in self.calls(context):
                self.hook.submit(call)
        except Exception as error:
            self._failed(error)
        else:
            self._placed()
        finally:
            if "hook" in self.__dict__:
                self.hook.close()

    async def async_notify(self, context: Context) -> None:
        """Place the call (async): Deadline Alerts in the triggerer."""
        # Deferred: httpx and the async hook are needed only here. Not cached like
        # ``hook``: its client belongs to this call's event loop and is closed with it.
        from airflow_provider_kaleyra.hooks.kaleyra_async import KaleyraAsyncHook

        try:
            calls = self.calls(context)
            async with KaleyraAsyncHook(self.kaleyra_conn_id) as hook:
                for call in calls:
                    await hook.submit(call)
        except Exception as error:
            self._failed(error)
        else:
            self._placed()

    def _placed(self) -> None:
        what = f"flow {self.flow_id}" if self.message is None else "a spoken message"
        self.log.info("Kaleyra accepted the call to %s with %s", self.to, what)

    def _failed(self, error: Exception) -> None:
        """Log why the call was not placed (or may not have been); raise it only if asked to."""
        if isinstance(error, KaleyraError):
            # An unknown outcome may have rung the callee: never say it was not placed.
            what = (
                "may have been placed (not sent again)"
                if isinstance(error, KaleyraOutcomeUnknownError)
                else "was not placed"
            )
            # The message names the request (numbers, bridge, flow), never the API key, and
            # Kaleyra's code, message and HTTP status once each (``wire.Reply.explain``).
            self.log.error("Kaleyra call notification to %s %s: %s", self.to, what, error)
        else:
            self.log.exception("Kaleyra call notification to %s was not placed: %s", self.to, error)
        if self.raise_on_failure:
            raise error


#: The lowercase spelling Airflow's notifiers offer (``send_slack_notification``...).
send_kaleyra_call = KaleyraCallNotifier
