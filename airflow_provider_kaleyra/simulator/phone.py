"""Phone numbers as the simulator reads them.

Kaleyra's own samples are redacted (``+18830907XXX``), and they must still be
accepted, so an ``X`` counts as a digit wherever a digit is expected.
"""

from __future__ import annotations

import re

#: ``+`` and 8 to 15 digits, ``X`` standing for a redacted digit.
INTERNATIONAL = re.compile(r"\+[0-9X]{8,15}")
#: A number without country code, allowed only when ``prefix`` supplies one.
LOCAL = re.compile(r"[0-9X]{1,15}")
#: The bridge is documented as "Integer", so the ``+`` is optional there.
BRIDGE = re.compile(r"\+?[0-9X]{8,15}")
PREFIX = re.compile(r"\+?[0-9]{1,4}")
MIN_DIGITS, MAX_DIGITS = 8, 15


def digits(number: str) -> str:
    """The comparable form of a number: no spaces, no leading ``+``."""
    return number.strip().lstrip("+")


def is_bridge(number: str) -> bool:
    return BRIDGE.fullmatch(number.strip()) is not None


def is_prefix(prefix: str) -> bool:
    return PREFIX.fullmatch(prefix.strip()) is not None


def dialled(number: str, prefix: str | None) -> str | None:
    """The full ``+<digits>`` number Kaleyra would dial, or None if it cannot be one."""
    number = number.strip()
    if INTERNATIONAL.fullmatch(number):
        return number
    if prefix and LOCAL.fullmatch(number):
        full = digits(prefix) + number
        if MIN_DIGITS <= len(full) <= MAX_DIGITS:
            return "+" + full
    return None
