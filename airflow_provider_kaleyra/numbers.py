"""One identity for a callee: the full E.164 number, ``+`` and ASCII digits.

Deduplication, the campaign fingerprint, the XCom record, the outbound form and the
call-log matching all use :func:`full_number`, so ``8830907301`` with prefix ``+91``
and ``+918830907301`` are one person, dialled once. Only ASCII digits are digits:
Python's ``\\d`` and ``str.isdigit`` also accept Devanagari, Arabic-Indic and
fullwidth digits, which Kaleyra would not dial as the author meant.
"""

from __future__ import annotations

import re

#: E.164: ``+``, a country code that does not start with 0, 8 to 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{7,14}", re.ASCII)
#: A number without its country code, to follow a ``prefix``.
NATIONAL = re.compile(r"[0-9]{1,14}", re.ASCII)
#: A country code, with or without ``+``.
PREFIX = re.compile(r"\+?[1-9][0-9]{0,3}", re.ASCII)
#: Separators people type inside numbers (ASCII only); removed before checking.
PUNCTUATION = re.compile(r"[ \t\-().]")
_DIGITS = frozenset("0123456789")


class NotANumber(ValueError):
    """Why a string is not a callee number; the caller names the parameter."""


def digits(number: object) -> str:
    """The ASCII digits of ``number``: the form in which numbers are compared."""
    return "".join(ch for ch in str(number) if ch in _DIGITS)


def country_code(prefix: str) -> str:
    """``"+91"`` -> ``"91"``; raises :class:`NotANumber` for anything but a country code."""
    text = str(prefix).strip()
    if not PREFIX.fullmatch(text):
        raise NotANumber("a country code such as '+91' or '1'")
    return text.lstrip("+")


def full_number(raw: str, prefix: str | None = None) -> str:
    """The full E.164 number that ``raw`` means, with ``prefix`` applied to a national number.

    A number that already starts with ``+`` is taken as full, prefix or not. A national
    number must not start with 0: whether Kaleyra drops a trunk 0 is not documented, so
    the author says which number is meant.
    """
    number = PUNCTUATION.sub("", raw)
    if number.startswith("+"):
        if E164.fullmatch(number):
            return number
        raise NotANumber("not E.164: '+', country code and number, 8 to 15 ASCII digits")
    if prefix is None:
        raise NotANumber("not E.164: '+', country code and number (or give prefix for national numbers)")
    if not NATIONAL.fullmatch(number):
        raise NotANumber(f"not a national number to follow prefix {prefix}: ASCII digits only")
    if number.startswith("0"):
        raise NotANumber(f"starts with 0; give the number without its trunk 0 to follow prefix {prefix}")
    full = f"+{country_code(prefix)}{number}"
    if not E164.fullmatch(full):
        raise NotANumber(f"with prefix {prefix} it is {full}, not 8 to 15 digits in all")
    return full


def same_number(a: object, b: object, country: str | None = None) -> bool:
    """Whether two spellings name one number: ``+`` or not, and, given the country
    code, with or without it."""
    da, db = digits(a), digits(b)
    if not da or not db:
        return False
    if da == db:
        return True
    return bool(country) and (da == f"{country}{db}" or db == f"{country}{da}")
