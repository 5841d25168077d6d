"""Reading the outbound request body into flat string fields.

Kaleyra's sample is sent with ``curl -d 'to=+18830907XXX'``: curl does not encode
the ``+``, and Kaleyra echoes it back as a ``+``. A strict form decoder would turn it
into a space, so in number fields a ``+`` is taken literally (``%2B``, what HTTP
libraries send, decodes to ``+`` too). JSON bodies are accepted as well.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, unquote_plus

if TYPE_CHECKING:
    from airflow_provider_kaleyra.simulator.messages import Request

#: Fields that only ever hold phone numbers, where ``+`` cannot mean a space.
NUMBER_FIELDS = frozenset({"to", "bridge", "prefix"})


class BodyError(ValueError):
    """The body could not be read at all."""


def decode_form(body: str) -> dict[str, str]:
    """``application/x-www-form-urlencoded``; a repeated field keeps its last value."""
    fields: dict[str, str] = {}
    for pair in body.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        name = unquote_plus(raw_name).strip()
        fields[name] = unquote(raw_value) if name in NUMBER_FIELDS else unquote_plus(raw_value)
    return fields


def _flatten(name: str, value: Any) -> str:
    # The form carries strings; a JSON client may send lists, objects or numbers.
    if name == "to" and isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode_json(body: str) -> dict[str, str]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise BodyError("not valid JSON") from None
    if not isinstance(parsed, dict):
        raise BodyError("a JSON body must be an object")
    return {str(k): _flatten(str(k), v) for k, v in parsed.items() if v is not None}


def read_fields(request: Request) -> dict[str, str]:
    """The body's fields, whichever of the two encodings the client used."""
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    if "json" in request.content_type or text.lstrip().startswith("{"):
        return decode_json(text)
    return decode_form(text)
