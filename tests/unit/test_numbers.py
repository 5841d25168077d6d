"""One identity for a callee: the full E.164 number, compared by its ASCII digits."""

from __future__ import annotations

import pytest

from airflow_provider_kaleyra import numbers

from .fakes import ARABIC_INDIC_ZERO, DEVANAGARI_ZERO, FULLWIDTH_ZERO, spelled


@pytest.mark.parametrize(
    ("raw", "prefix", "expected"),
    [
        ("+918830907301", None, "+918830907301"),
        ("+918830907301", "+1", "+918830907301"),  # a full number ignores the prefix
        ("+91 88309-07301", None, "+918830907301"),
        ("8830907301", "+91", "+918830907301"),
        ("8830907301", "91", "+918830907301"),
        ("(323) 678.9001", "+1", "+13236789001"),
        ("\t3236789001", "1", "+13236789001"),
    ],
)
def test_full_number_applies_the_prefix_to_national_numbers_only(raw: str, prefix: str | None, expected: str) -> None:
    assert numbers.full_number(raw, prefix) == expected


@pytest.mark.parametrize(
    ("raw", "prefix", "problem"),
    [
        pytest.param("+91" + spelled("8830907301", DEVANAGARI_ZERO), None, "ASCII digits", id="devanagari-digits"),
        pytest.param(spelled("+918830907301", FULLWIDTH_ZERO), None, "ASCII digits", id="fullwidth-digits"),
        pytest.param(spelled("+918830907301", ARABIC_INDIC_ZERO), None, "ASCII digits", id="arabic-indic-digits"),
        pytest.param(spelled("8830907301", DEVANAGARI_ZERO), "+91", "ASCII digits only", id="devanagari-national"),
        pytest.param(spelled("8830907301", FULLWIDTH_ZERO), "+91", "ASCII digits only", id="fullwidth-national"),
        pytest.param("08830907301", "+91", "starts with 0", id="trunk-zero"),
        pytest.param("1234", "+91", "+911234, not 8 to 15 digits", id="too-short-with-prefix"),
        pytest.param("88309073011234", "+91", "not 8 to 15 digits", id="too-long-with-prefix"),
        pytest.param("918830907301", None, "give prefix for national numbers", id="national-without-prefix"),
        pytest.param("+0918830907301", None, "not E.164", id="country-code-0"),
        pytest.param("+91883", None, "not E.164", id="too-short"),
        pytest.param("+91883O907301", None, "not E.164", id="letter-o"),
        pytest.param("8830907301", "+0", "country code", id="bad-prefix"),
    ],
)
def test_full_number_refuses_what_kaleyra_would_not_dial_as_meant(raw: str, prefix: str | None, problem: str) -> None:
    with pytest.raises(numbers.NotANumber) as caught:
        numbers.full_number(raw, prefix)
    assert problem in str(caught.value)


def test_not_a_number_is_a_value_error() -> None:
    assert issubclass(numbers.NotANumber, ValueError)


@pytest.mark.parametrize(("prefix", "code"), [("+91", "91"), ("91", "91"), (" +1 ", "1"), ("+1268", "1268")])
def test_country_code_strips_the_plus(prefix: str, code: str) -> None:
    assert numbers.country_code(prefix) == code


@pytest.mark.parametrize("prefix", ["", "+", "+0", "x91", "+12345", "+" + spelled("91", DEVANAGARI_ZERO)])
def test_country_code_refuses_anything_else(prefix: str) -> None:
    with pytest.raises(numbers.NotANumber):
        numbers.country_code(prefix)


def test_digits_are_ascii_only() -> None:
    assert numbers.digits("+91 (883) 090-7301") == "918830907301"
    assert numbers.digits("+91" + spelled("883", DEVANAGARI_ZERO)) == "91"


@pytest.mark.parametrize("zero", [DEVANAGARI_ZERO, FULLWIDTH_ZERO, ARABIC_INDIC_ZERO])
def test_other_scripts_digits_are_digits_to_python_but_not_here(zero: str) -> None:
    number = spelled("8830907301", zero)
    assert number.isdigit()  # what a check with str.isdigit or \d would let through
    assert numbers.digits(number) == ""
    assert numbers.digits(918830907301) == "918830907301"


@pytest.mark.parametrize(
    ("a", "b", "country"),
    [
        ("+918830907301", "+918830907301", None),
        ("918830907301", "+918830907301", None),  # without "+"
        ("+91 88309 07301", "918830907301", None),
        ("8830907301", "+918830907301", "91"),  # without the country code
        ("+918830907301", "8830907301", "91"),
    ],
)
def test_same_number_across_spellings(a: str, b: str, country: str | None) -> None:
    assert numbers.same_number(a, b, country)


@pytest.mark.parametrize(
    ("a", "b", "country"),
    [
        ("8830907301", "+918830907301", None),  # the country code is needed to drop it
        ("8830907301", "+918830907301", "1"),  # another country's code
        ("+918830907302", "+918830907301", "91"),
        ("", "", None),
        ("n/a", "+918830907301", "91"),
    ],
)
def test_different_numbers_are_not_the_same(a: str, b: str, country: str | None) -> None:
    assert not numbers.same_number(a, b, country)
