"""How the call-log listing is written: the simulator's own form, or a form the real Kaleyra may use.

Kaleyra does not document its call-log answer, so the simulator can play several: a
:class:`CallLogStyle` names one. Its defaults are the simulator's own form (the one
the provider was first written against); :data:`REAL_WORLD` is a plausible real answer, built
from the placeholder names Kaleyra documents for ``dlrurl``. A style changes only how
``/v1/<SID>/voice/call-logs`` answers, never the calls themselves nor the admin views.

Fields:

- ``code``: the success code of the listing (``""`` for none at all); ``omit_error``
  leaves the envelope's ``error`` key out instead of sending ``{}``.
- ``plus``: numbers (callee and bridge) as recorded, or without their leading ``+``.
- ``times``: ``iso`` (ISO 8601 with offset), ``iso_naive`` (``YYYY-MM-DD HH:MM:SS``
  without offset, in ``timezone``), ``epoch`` (integer seconds), ``epoch_ms`` (integer
  milliseconds) or ``epoch_string`` (seconds as a string).
- ``timezone``: for ``iso_naive``: ``"UTC"``, an IANA name (``"Asia/Kolkata"``), an
  offset string (``"+05:30"``) or an offset in minutes (``330``).
- ``fields``: ``default`` (``id, to, bridge, flow_id, status, start_time, duration``)
  or ``placeholders`` (``id, callee, caller, bridge, status, starttime, endtime,
  billsec, flow_id``; ``caller`` is the bridge).
- ``numeric_flow_id``: records carry a stable integer derived from the Flow ID.
- ``ignore_filters``: the listing ignores ``bridge``, ``start_time``, ``end_time``,
  ``status`` and ``call_id`` and returns every call of the account (still paged).
- ``echo_custom``: records carry the submitted ``custom`` (and its correlation token).
- ``shape``: ``calls`` (``data`` = ``{"calls", "total", "page", "limit"}``) or
  ``list`` (``data`` is the bare list of calls, no total).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

TIMES = ("iso", "iso_naive", "epoch", "epoch_ms", "epoch_string")
FIELDS = ("default", "placeholders")
SHAPES = ("calls", "list")
_CHOICES: dict[str, tuple[str, ...]] = {"times": TIMES, "fields": FIELDS, "shape": SHAPES}
_FLAGS = ("omit_error", "plus", "numeric_flow_id", "ignore_filters", "echo_custom")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
#: The admin body may name a preset to start from; every other key is a field.
PRESET_KEY = "preset"


def resolve_timezone(value: str | int) -> dt.tzinfo:
    """``"UTC"``, an IANA name, ``"+05:30"`` or minutes east of UTC, as a tzinfo."""
    if isinstance(value, bool):
        raise ValueError(f"timezone: {value!r} is neither a zone name nor minutes")
    if isinstance(value, int):
        if abs(value) >= 24 * 60:
            raise ValueError(f"timezone: {value} minutes is not an offset from UTC")
        return dt.timezone(dt.timedelta(minutes=value))
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"timezone: {value!r} is neither a zone name nor minutes")
    text = value.strip()
    if text.upper() in ("UTC", "Z"):
        return dt.timezone.utc
    offset = _OFFSET.fullmatch(text)
    if offset:
        sign, hours, minutes = offset.groups()
        return resolve_timezone((-1 if sign == "-" else 1) * (int(hours) * 60 + int(minutes)))
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # A missing tz database looks the same as a wrong name: say how to do without it.
        raise ValueError(f"timezone: unknown zone {text!r}; give an IANA name, '+05:30' or minutes") from None


#: The code of a successful listing by default. Kaleyra documents none; the provider accepts any.
LISTED = "RBC3200"


@dataclass(frozen=True)
class CallLogStyle:
    """One way of writing the call-log listing; see the module docstring for each field."""

    code: str = LISTED
    omit_error: bool = False
    plus: bool = True
    times: str = "iso"
    timezone: str | int = "UTC"
    fields: str = "default"
    numeric_flow_id: bool = False
    ignore_filters: bool = False
    echo_custom: bool = True
    shape: str = "calls"

    def __post_init__(self) -> None:
        if not isinstance(self.code, str):
            raise ValueError(f'code: {self.code!r}; expected a string ("" for none)')
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: {getattr(self, name)!r}; expected true or false")
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name}: {getattr(self, name)!r}; expected one of {', '.join(choices)}")
        resolve_timezone(self.timezone)

    @property
    def zone(self) -> dt.tzinfo:
        return resolve_timezone(self.timezone)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULT_STYLE = CallLogStyle()
#: A plausible real answer: undocumented success code, bare digits, epoch seconds,
#: Kaleyra's ``dlrurl`` placeholder names, numeric flow ids and no ``custom``.
REAL_WORLD = CallLogStyle(
    code="RBC3000",
    plus=False,
    times="epoch",
    fields="placeholders",
    numeric_flow_id=True,
    echo_custom=False,
)
PRESETS: dict[str, CallLogStyle] = {"default": DEFAULT_STYLE, "real": REAL_WORLD}
FIELD_NAMES = tuple(f.name for f in dataclasses.fields(CallLogStyle))


def _check_names(names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(FIELD_NAMES))
    if unknown:
        raise ValueError(f"unknown call-log style fields {unknown}; expected some of {', '.join(FIELD_NAMES)}")


def style_from(base: CallLogStyle | str | None = None, **fields: Any) -> CallLogStyle:
    """``base`` (a style or a preset name; the default style if None) with ``fields`` changed.

    :raises ValueError: an unknown preset, field name or value, with a sentence saying which.
    """
    if isinstance(base, str):
        if base not in PRESETS:
            raise ValueError(f"preset: unknown call-log style {base!r}; expected one of {', '.join(PRESETS)}")
        base = PRESETS[base]
    _check_names(fields)
    return dataclasses.replace(base if base is not None else DEFAULT_STYLE, **fields)


def style_from_json(body: Any) -> CallLogStyle:
    """The style a ``POST /_simulator/call-log-style`` body describes.

    The body names the whole style: fields it leaves out take the default, or the
    value of the preset named under ``"preset"``.
    """
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object of call-log style fields")
    fields = dict(body)
    preset = fields.pop(PRESET_KEY, None)
    if preset is not None and not isinstance(preset, str):
        raise ValueError(f"preset: {preset!r}; expected one of {', '.join(PRESETS)}")
    return style_from(preset, **fields)


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def field_from_text(name: str, text: str) -> Any:
    """A field's value from a command-line string: flags read true/false, minutes read as int."""
    _check_names([name])
    if name in _FLAGS:
        lowered = text.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise ValueError(f"{name}: {text!r}; expected true or false")
    if name == "timezone" and re.fullmatch(r"-?\d+", text.strip()):
        return int(text)
    return text


def style_from_text(preset: str | None, pairs: Mapping[str, str]) -> CallLogStyle:
    """The style of ``--call-log-style PRESET --call-log NAME=VALUE...``."""
    return style_from(preset, **{name: field_from_text(name, value) for name, value in pairs.items()})
