"""The inbound sync's prepared custom field conversions (``inbound.custom_cleaner``, and ``custom_reader`` for a new
record's fields) give exactly what ``clean_value`` gives, value and error message alike, for the forms they take a
shortcut on and for everything near them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.engine.inbound import custom_cleaner, custom_reader
from integrations.engine.plan import FieldPlan
from roxcrm.custom_fields import clean_value
from roxcrm.models import CustomField


def outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        result = fn(value)
    except ValidationError as exc:
        return "error", exc.messages
    except (ArithmeticError, ValueError) as exc:  # not a person's message (a number past Decimal's precision, a
        # date and time Salesforce would never send): the same either way
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


# -- the prepared readers of a new record's custom fields (``inbound.custom_reader``) -------------------------------

READER_FIELDS = [
    *NUMBERS,
    *TEXTS,
    field("text"),
    field("text", max_length=5),
    field("long_text", max_length=8),
    field("phone"),
    field("picklist", options=["Won", "won", "Lost", " Open"]),
    field("date"),
    field("datetime"),
    field("checkbox"),
    field("text", required=True),
    field("number", decimal_places=2, required=True),
]
RAW_VALUES = [
    *EDGE_VALUES,
    False,
    0,
    -0.0,
    0.0,
    100.0,
    1e16,
    1e-05,
    0.0001,
    123456789012345678,
    1234567890123456789,
    12.345,
    -12.5,
    float("nan"),
    float("inf"),
    "Won",
    "won",
    "WON",
    " Open",
    "Open",
    "Lost ",
    "abcde",
    "abcdef",
    "abc  ",
    "\u00a0abc",
    "abc\u2003",
    "long text ",
    "+1 (415) 555-0100",
    "555-0100 x12",
    "()-",
    "2026-01-31",
    "2026-02-30",
    "0999-01-01",
    "2026-1-31",
    "2026-01-31T09:30:00.000+0000",
    "2026-01-31T09:30:00.123456+00:00",
    "2026-01-31T09:30:00+0100",
    "0999-01-31T09:30:00.000+0000",
    "true",
    "false",
    "yes",
]


def read_as_before(fp: FieldPlan, raw: Any) -> Any:
    """What a new record's custom field became before the readers: its canonical form, then ``clean_value``."""
    value = fp.salesforce_value({fp.sf_field: raw})
    return value, clean_value(fp.definition, value)


def plan_of(definition: CustomField) -> FieldPlan:
    return FieldPlan(
        sf_field="Field__c",
        rox_key="custom.field",
        rule="read_write",
        kind=definition.data_type,
        select=("Field__c",),
        definition=definition,
    )


def same_read(definition: CustomField, raw: Any) -> None:
    fp = plan_of(definition)
    expected = outcome(lambda v: read_as_before(fp, v), raw)
    got = outcome(custom_reader(fp), raw)
    if expected[0] == "value" and got[0] == "value":
        # (a pair, typed element by element: 1 and 1.0 or True are not the same stored value)
        expected = (expected[0], [(type(v), v) for v in expected[1][1]])
        got = (got[0], [(type(v), v) for v in got[1][1]])
    assert got == expected, (definition.data_type, raw)


@pytest.mark.parametrize("raw", RAW_VALUES, ids=repr)
def test_readers_give_the_canonical_and_stored_values_as_before(raw: Any) -> None:
    for definition in READER_FIELDS:
        same_read(definition, raw)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.from_regex(r"\A-?[0-9]{1,20}(\.[0-9]{1,6})?\Z"),
    )
)
def test_readers_convert_numbers_as_before(raw: Any) -> None:
    for definition in NUMBERS:
        same_read(definition, raw)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000+0000")),
        st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?(Z|\+0000))?\Z"),
        st.text(max_size=12),
    )
)
def test_readers_convert_dates_times_and_text_as_before(raw: str) -> None:
    for definition in (field("date"), field("datetime"), field("text", max_length=10), field("phone")):
        same_read(definition, raw)
