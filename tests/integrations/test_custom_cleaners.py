"""The inbound sync's prepared custom field conversion (``inbound.custom_cleaner``) gives exactly what
``clean_value`` gives, value and error message alike, for the canonical forms it takes a shortcut on and for
everything near them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.engine.inbound import custom_cleaner
from roxcrm.custom_fields import clean_value
from roxcrm.models import CustomField


def outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        result = fn(value)
    except ValidationError as exc:
        return "error", exc.messages
    except ArithmeticError as exc:  # clean_value's own (a number past Decimal's precision): the same either way
        return type(exc).__name__, str(exc)
    return "value", (type(result), result)


def same(definition: CustomField, value: Any) -> None:
    assert outcome(custom_cleaner(definition), value) == outcome(lambda v: clean_value(definition, v), value), value


def field(data_type: str, **extra: Any) -> CustomField:
    return CustomField(data_type=data_type, label="Field", api_name="field", **extra)


NUMBERS = [
    field("number"),
    field("number", decimal_places=2),
    field("number", decimal_places=4),
    field("currency"),
    field("currency", decimal_places=0),
    field("percent", decimal_places=2),
    field("number", decimal_places=2, min_value=Decimal("0"), max_value=Decimal("100")),
]
TEXTS = [field("email"), field("email", max_length=20), field("url"), field("url", max_length=30)]
EDGE_VALUES = [
    None,
    "",
    " ",
    "0",
    "-0",
    "-0.0",
    "12",
    "12.5",
    "12.50",
    "12.345",
    "1e5",
    "1,000",
    " 12 ",
    "007",
    "123456789012345678",
    "1234567890123456789",
    "9999999999999999.99",
    "99999999999999999.9",
    "0.0001",
    "-12.34",
    "abc",
    "NaN",
    "Infinity",
    True,
    12,
    12.5,
    "ann@example.com",
    "Ann@Example.COM",
    "ann..b@example.com",
    ".ann@example.com",
    "ann@example",
    "ann@-example.com",
    "ann@example-.com",
    "ann@exa_mple.com",
    "ann@localhost",
    "a" * 70 + "@example.com",
    "ann b@example.com",
    " ann@example.com",
    "ann@example.c",
    "ann@xn--bcher-kva.example",
    "https://example.com",
    "http://www.example.com/a/b_c.d~e%20f",
    "HTTPS://EXAMPLE.COM",
    "https://example.com/a b",
    "https://-example.com",
    "https://example-.com",
    "https://example.com:8080/",
    "https://exa_mple.com",
    "https://example",
    "ftp://example.com",
    "example.com",
    "https://" + "a" * 64 + ".com",
    "https://" + "a." * 130 + "com",
    "https://example.com/?q=1",
    "2026-01-31T09:30:00Z",
    "2026-02-30T09:30:00Z",
    "2026-01-31T24:00:00Z",
    "0999-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-01-31T09:30:00+01:00",
    "2026-01-31T09:30:00.123Z",
    "2026-01-31",
]


@pytest.mark.parametrize("value", EDGE_VALUES)
def test_edge_values_convert_as_clean_value_does(value: Any) -> None:
    for definition in [*NUMBERS, *TEXTS, field("datetime"), field("text"), field("picklist", options=["A", "B"])]:
        same(definition, value)


def test_required_fields_refuse_blanks_as_clean_value_does() -> None:
    for data_type in ("number", "email", "url", "datetime"):
        same(field(data_type, required=True), None)
        same(field(data_type, required=True), "")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"\A-?[0-9]{1,20}(\.[0-9]{1,6})?\Z"),
        st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: format(d.normalize(), "f")),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.text(alphabet="0123456789.-e, ", max_size=12),
    )
)
def test_numbers_convert_as_clean_value_does(value: str) -> None:
    for definition in NUMBERS:
        same(definition, value)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"\A[a-zA-Z0-9_+.-]{1,12}@([a-z0-9-]{1,8}\.){1,3}[a-zA-Z0-9-]{1,6}\Z"),
        st.emails().map(str),
        st.text(alphabet="aZ0_+.-@ ", max_size=20),
    )
)
def test_emails_convert_as_clean_value_does(value: str) -> None:
    for definition in TEXTS[:2]:
        same(definition, value)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"\A(https?|ftp)://([a-zA-Z0-9_-]{1,10}\.){1,3}[a-zA-Z0-9-]{1,6}(/[a-zA-Z0-9._~%/ -]{0,10})?\Z"),
        st.text(alphabet="htps:/.aZ0-_ ", max_size=30),
    )
)
def test_web_addresses_convert_as_clean_value_does(value: str) -> None:
    for definition in TEXTS[2:]:
        same(definition, value)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
        st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z"),
    )
)
def test_datetimes_convert_as_clean_value_does(value: str) -> None:
    same(field("datetime"), value)
