"""One canonical form for a mapped value, whichever side it comes from, so that Salesforce's value, the shadow and
Rox's value compare equal exactly when they mean the same thing (and our own writes, read back, are recognised).

Canonical forms (JSON, stored as the shadow): text → the string, or None when empty; number → a plain decimal
string ("2500", "12.5"); checkbox → bool; date → "YYYY-MM-DD"; date and time → "YYYY-MM-DDTHH:MM:SSZ" (UTC,
seconds); multi-select → sorted list; web address → with its scheme; lookup → the Salesforce Id; owner → the
owner's lower-cased e-mail address.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models

from mappings.metadata import SalesforceField
from mappings.models import StaticValue
from mappings.validation import static_value_reserved

Canonical = Any


def is_blank(value: Canonical) -> bool:
    return value is None or value == "" or value == []


def canonical_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def canonical_number(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def canonical_date(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)[:10]


def parse_salesforce_datetime(value: str) -> dt.datetime:
    """``2026-11-27T10:15:02.000+0000`` (Salesforce's format) or ISO 8601 → an aware datetime."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def canonical_datetime(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = parse_salesforce_datetime(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def canonical_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def canonical_multi(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    items = value.split(";") if isinstance(value, str) else list(value)
    cleaned = sorted({str(item).strip() for item in items if str(item).strip()})
    return cleaned or None


def canonical_url(value: Any) -> str | None:
    text = canonical_text(value)
    if text is None:
        return None
    text = text.strip()
    return text if "://" in text else f"https://{text}"


def canonical_email(value: Any) -> str | None:
    text = canonical_text(value)
    return text.strip().lower() if text else None


# Rox field kind (a custom field data type, or "reference"/"owner") -> canonicaliser of a Salesforce or Rox value.
CANONICAL = {
    "text": canonical_text,
    "long_text": canonical_text,
    "phone": canonical_text,
    "picklist": canonical_text,
    "email": canonical_email,
    "url": canonical_url,
    "number": canonical_number,
    "currency": canonical_number,
    "percent": canonical_number,
    "date": canonical_date,
    "datetime": canonical_datetime,
    "checkbox": canonical_bool,
    "multi_picklist": canonical_multi,
    "reference": canonical_text,
    "owner": canonical_email,
    # Fields the activity writeback fills itself: kept as Salesforce returns them, for the shadow.
    "managed": lambda value: value,
}


def to_json(value: Any) -> Any:
    """A Python value as JSON for conflict logs and change history."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def python_value(model_field: models.Field, canonical: Any) -> Any:
    """A canonical value as the model field holds it."""
    if canonical is None:
        return (
            None if model_field.null else ("" if isinstance(model_field, models.CharField | models.TextField) else None)
        )
    if isinstance(model_field, models.BooleanField):
        return bool(canonical)
    if isinstance(model_field, models.DecimalField):
        try:
            return Decimal(canonical).quantize(Decimal(1).scaleb(-model_field.decimal_places))
        except InvalidOperation:
            return canonical
    if isinstance(model_field, models.IntegerField):
        try:
            number = Decimal(canonical)
        except InvalidOperation:
            return canonical
        return int(number) if number == number.to_integral() else canonical
    if isinstance(model_field, models.DateTimeField):
        return parse_salesforce_datetime(canonical) if isinstance(canonical, str) else canonical
    if isinstance(model_field, models.DateField):
        return dt.date.fromisoformat(canonical[:10]) if isinstance(canonical, str) else canonical
    return canonical


def to_salesforce(kind: str, canonical: Any) -> Any:
    """A canonical value as Salesforce's REST API takes it (JSON): numbers as numbers, multi-select joined by ";"."""
    if canonical is None or canonical == "" or canonical == []:
        return None
    if kind in ("number", "currency", "percent"):
        number = Decimal(canonical)
        return int(number) if number == number.to_integral() else float(number)
    if kind == "checkbox":
        return bool(canonical)
    if kind == "multi_picklist":
        return ";".join(canonical)
    if kind == "datetime":
        return canonical.replace("Z", ".000+0000") if isinstance(canonical, str) else canonical
    return canonical


def static_payload(
    statics: Iterable[StaticValue], sobject: str, describe: Mapping[str, SalesforceField], *, creating: bool
) -> dict[str, Any]:
    """The static values to send with one record of ``sobject``, typed for their fields; the one list of rules for
    records and activities alike. Left out, however the value was saved: one only for creates on an update, a
    field Salesforce computes or will not let the integration user set, any field Rox itself sets (its match keys,
    external ids, owner and relations: configuration never overwrites them), and an empty value nobody chose."""
    payload: dict[str, Any] = {}
    for static in statics:
        if static.when == StaticValue.When.CREATE_ONLY and not creating:
            continue
        sf = describe.get(static.sf_field)
        if sf is None or sf.calculated or not (sf.createable if creating else sf.updateable):
            continue
        if static_value_reserved(sobject, static.sf_field, sf):
            continue
        text = static.value.strip()
        if not text and not static.clear_field:
            continue
        payload[static.sf_field] = _static_to_salesforce(sf.type, static.value)
    return payload


def _static_to_salesforce(sf_type: str, value: str) -> Any:
    text = value.strip()
    if not text:
        return None
    if sf_type == "boolean":
        return text.lower() == "true"
    if sf_type in ("int", "double", "currency", "percent"):
        return to_salesforce("number", canonical_number(text))
    return value
