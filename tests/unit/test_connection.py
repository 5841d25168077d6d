"""From an Airflow connection to the settings every request uses, checked before any request."""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import Connection

from airflow_provider_kaleyra.connection import KaleyraSettings, settings_from_connection
from airflow_provider_kaleyra.exceptions import KaleyraConnectionConfigError, KaleyraPermanentError
from airflow_provider_kaleyra.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_kaleyra.hooks.kaleyra import KaleyraHook

from .fakes import SECRET_KEY, SID, connection_json


def settings(login: str | None = SID, password: str | None = SECRET_KEY, **extra: Any) -> KaleyraSettings:
    conn = Connection(
        conn_id="kaleyra_ops", conn_type="kaleyra", login=login, password=password, extra=json.dumps(extra)
    )
    return settings_from_connection(conn)


def refusal(**kwargs: Any) -> str:
    with pytest.raises(KaleyraConnectionConfigError) as caught:
        settings(**kwargs)
    assert isinstance(caught.value, KaleyraPermanentError)  # no Airflow retry fixes a connection
    return str(caught.value)


def test_a_good_connection_gives_every_setting() -> None:
    s = settings(region="IN", timeout="12.5", timezone="Asia/Kolkata")
    assert (s.conn_id, s.sid, s.api_key, s.region) == ("kaleyra_ops", SID, SECRET_KEY, "IN")
    assert (s.base_url, s.read_timeout, s.timezone) == ("https://api.in.kaleyra.io/", 12.5, "Asia/Kolkata")


def test_settings_never_show_the_key() -> None:
    assert SECRET_KEY not in repr(settings())


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"login": ""}, "Connection 'kaleyra_ops' has no Account SID"),
        ({"login": None}, "Connection 'kaleyra_ops' has no Account SID"),
        ({"password": ""}, "Connection 'kaleyra_ops' has no API key"),
        ({"password": "   "}, "Connection 'kaleyra_ops' has no API key"),
        ({"region": "US"}, "region='US' is not a Kaleyra region"),
        ({"base_url": "api.x"}, "base_url='api.x' must start with http:// or https://"),
        ({"timeout": "soon"}, "timeout='soon' must be a positive number"),
        ({"timeout": 0}, "timeout=0 must be a positive number"),
        ({"timeout": "inf"}, "timeout='inf' must be a positive number"),
        ({"timeout": "nan"}, "timeout='nan' must be a positive number"),
    ],
)
def test_connection_problems_are_named(kwargs: dict[str, Any], problem: str) -> None:
    assert problem in refusal(**kwargs)


@pytest.mark.parametrize("sid", ["HX/IN1", "HX IN1", "HX?x=1", "HX..", "HXİN1", "HX%2F"])
def test_a_sid_that_is_not_a_path_segment_is_refused(sid: str) -> None:
    text = refusal(login=sid)
    assert "Connection 'kaleyra_ops'" in text
    assert "Account SID (login field)" in text
    assert "only letters, digits, '_' and '-'" in text


@pytest.mark.parametrize("sid", ["HXIN169510844XXX", "hx_in-1"])
def test_sids_with_letters_digits_underscore_and_dash_are_fine(sid: str) -> None:
    assert settings(login=sid).sid == sid


@pytest.mark.parametrize(
    ("inside", "named"),
    [
        ("\n", "a line break"),
        ("\r", "a line break"),
        (" ", "a space"),
        ("\t", "a space"),
        ("\u200b", "the non-ASCII character U+200B"),
        ("\u00a0", "a space"),
        ("é", "the non-ASCII character U+00E9"),
        ("\x00", "the control character U+0000"),
        ("\x7f", "the control character U+007F"),
    ],
    ids=repr,
)
def test_a_key_that_cannot_travel_in_a_header_is_refused_without_showing_it(inside: str, named: str) -> None:
    key = SECRET_KEY[:13] + inside + SECRET_KEY[13:]
    text = refusal(password=key)
    assert "Connection 'kaleyra_ops'" in text
    assert "password" in text
    assert named in text
    for part in (SECRET_KEY[:13], SECRET_KEY[13:], "SECRET"):
        assert part not in text


def test_a_zero_width_space_at_the_start_of_the_key_is_refused() -> None:
    # str.strip() keeps U+200B: it is not whitespace to Python, but no header can carry it.
    text = refusal(password="\u200b" + SECRET_KEY)
    assert "U+200B" in text
    assert SECRET_KEY not in text


def test_whitespace_around_the_key_is_a_copy_and_paste_artefact() -> None:
    assert settings(password=f"  {SECRET_KEY}\n").api_key == SECRET_KEY


# --------------------------------------------------------------------------- time zone


def test_timezone_defaults_to_utc() -> None:
    assert settings().timezone == "UTC"
    assert settings(timezone="").timezone == "UTC"
    assert settings(timezone=None).timezone == "UTC"


@pytest.mark.parametrize("name", ["Asia/Kolkata", "Asia/Singapore", "Europe/Rome", "UTC"])
def test_timezone_takes_an_iana_name(name: str) -> None:
    assert settings(timezone=name).timezone == name


def test_timezone_from_the_older_extra_field_name() -> None:
    assert settings(extra__kaleyra__timezone="Asia/Kolkata").timezone == "Asia/Kolkata"


@pytest.mark.parametrize("bad", ["Mars/Olympus_Mons", "IST+5:30", "India", 5], ids=repr)
def test_a_bad_timezone_is_refused_naming_it(bad: object) -> None:
    text = refusal(timezone=bad)
    assert "Connection 'kaleyra_ops'" in text
    assert f"timezone={str(bad)!r} is not a time zone name" in text


# --------------------------------------------------------------------------- through the hook


def test_the_hook_reads_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", connection_json(timeout="12.5", timezone="Asia/Kolkata"))
    s = KaleyraHook().settings
    assert (s.conn_id, s.read_timeout, s.timezone) == ("kaleyra_default", 12.5, "Asia/Kolkata")


def test_the_hook_refuses_a_bad_key_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "kaleyra", "login": SID, "password": SECRET_KEY + "\u200b"}
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_DEFAULT", json.dumps(conn))
    with pytest.raises(KaleyraConnectionConfigError, match=r"Connection 'kaleyra_default'.*password") as caught:
        _ = KaleyraHook().settings
    assert SECRET_KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "base"),
    [
        ({"region": "EU"}, "https://api.eu.kaleyra.io/"),
        ({"region": " na "}, "https://api.na.kaleyra.ai/"),
        ({"extra__kaleyra__region": "IN"}, "https://api.in.kaleyra.io/"),
        ({"region": "NA", "base_url": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080"),
        ({}, "https://api.ap.kaleyra.io/"),
    ],
)
def test_base_url_from_region_or_override(extra: dict, base: str) -> None:
    assert settings(**extra).base_url == base


# --------------------------------------------------------------------------- the connection form


def test_the_form_declares_the_timezone_field() -> None:
    assert set(CONN_FIELDS) == {"region", "base_url", "timeout", "timezone"}
    assert "Asia/Kolkata" in CONN_FIELDS["timezone"]["description"]
    assert UI_FIELD_BEHAVIOUR["placeholders"]["timezone"] == "UTC"


def test_the_legacy_form_widgets_include_every_declared_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow < 3.2 builds the form from the hook; its UI packages are stood in for here."""

    def module(name: str, **attributes: Any) -> None:
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(**attributes))

    def string_field(label: str, **kwargs: Any) -> dict[str, Any]:
        return {"label": label, **kwargs}

    module("flask_appbuilder", fieldwidgets=None)
    module("flask_appbuilder.fieldwidgets", BS3TextFieldWidget=lambda: "widget")
    module("flask_babel", lazy_gettext=lambda text: text)
    module("wtforms", StringField=string_field)
    module("wtforms.validators", Optional=lambda: "optional", any_of=lambda values: ("any_of", tuple(values)))
    widgets = KaleyraHook.get_connection_form_widgets()
    assert set(widgets) == set(CONN_FIELDS)
    assert widgets["timezone"]["label"] == CONN_FIELDS["timezone"]["label"]
    assert widgets["timezone"]["validators"] == ["optional"]
    assert widgets["region"]["validators"] == [("any_of", ("SG", "IN", "EU", "NA"))]
