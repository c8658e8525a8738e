"""Custom field definitions: their own validation, the validation of values against them, and the form field
that edits each data type. Values are stored as JSON in a record's ``custom_values``:

text, long text, e-mail, phone, URL, picklist → string; number, currency, percent → number (int when the scale is
0); date → ``YYYY-MM-DD``; date and time → ``YYYY-MM-DDTHH:MM:SSZ`` (UTC); checkbox → boolean;
multi-select picklist → list of strings in the definition's option order. An empty value is stored as absent.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

if TYPE_CHECKING:
    from roxcrm.models import CustomField, Organization

API_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
PHONE_RE = re.compile(r"^[0-9+().\-\s/x#*]{3,40}$", re.IGNORECASE)
MAX_DIGITS = 18  # Salesforce's largest number precision


def api_name_from_label(label: str) -> str:
    """``"Renewal date (FY)"`` → ``"renewal_date_fy"``: lower-case letters, digits and single underscores."""
    name = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"field_{name}".rstrip("_")
    return name[:60].rstrip("_")


def definitions_for(organization: Organization, object_type: str) -> QuerySet[CustomField]:
    from roxcrm.models import CustomField

    return CustomField.objects.filter(organization=organization, object_type=object_type).select_related("created_by")


def validate_definition(field: CustomField) -> None:
    """Check a definition is coherent; raise ``ValidationError`` keyed by the offending attribute."""
    errors: dict[str, str] = {}
    if field.api_name and not API_NAME_RE.match(field.api_name):
        errors["api_name"] = (
            "Use lower-case letters, digits and underscores, starting with a letter (at most 60 characters)."
        )
    data_type = field.data_type
    if data_type in field.TEXT_TYPES:
        ceiling = field.LENGTH_CEILING[data_type]
        if field.max_length and field.max_length > ceiling:
            errors["max_length"] = (
                f"A {field.get_data_type_display().lower()} field holds at most {ceiling} characters."
            )
    elif field.max_length:
        errors["max_length"] = "Only text fields have a maximum length."
    if data_type in field.NUMERIC_TYPES:
        if field.min_value is not None and field.max_value is not None and field.min_value > field.max_value:
            errors["max_value"] = "The maximum must not be below the minimum."
    else:
        if field.decimal_places:
            errors["decimal_places"] = "Only number, currency and percent fields have decimal places."
        if field.min_value is not None or field.max_value is not None:
            errors["min_value"] = "Only number, currency and percent fields have a minimum or maximum."
    if data_type in ("picklist", "multi_picklist"):
        options = field.options or []
        # The Django admin edits the list as JSON, which may hold any value at all.
        is_texts = isinstance(options, list) and all(isinstance(option, str) for option in options)
        cleaned = [option.strip() for option in options if option.strip()] if is_texts else []
        if not is_texts:
            errors["options"] = 'Options are a list of texts, e.g. ["Gold", "Silver"].'
        elif not cleaned:
            errors["options"] = "A picklist needs at least one option."
        elif len({option.lower() for option in cleaned}) != len(cleaned):
            errors["options"] = "Each option may appear only once."
        elif any(len(option) > 255 or ";" in option for option in cleaned):
            errors["options"] = "Options are at most 255 characters and cannot contain ';'."
        if is_texts:
            field.options = cleaned
    elif field.options:
        errors["options"] = "Only picklists have options."
    if data_type == "link":
        from roxcrm.objects import link_targets

        if field.target not in {obj.key for obj in link_targets(field.organization_id)}:
            errors["target"] = "Choose the object whose records this field links to."
    elif field.target:
        errors["target"] = "Only Link fields link to another object."
    if data_type == "checkbox" and field.required:
        errors["required"] = "A checkbox is always either ticked or not, so it cannot be required."
    if errors:
        raise ValidationError(errors)


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def clean_value(field: CustomField, value: Any) -> Any:
    """Validate ``value`` (a Python value from a form, or JSON from the API or the sync) against ``field`` and
    return its stored JSON form, or ``None`` for empty. Raises ``ValidationError`` with a message for people."""
    if is_empty(value):
        if field.required:
            raise ValidationError(f"{field.label} is required.")
        return None
    cleaner = _CLEANERS[field.data_type]
    return cleaner(field, value)


def _clean_text(field: CustomField, value: Any) -> str:
    if not isinstance(value, str):
        if isinstance(value, bool | list | dict):
            raise ValidationError(f"{field.label} must be text.")
        value = str(value)
    if field.data_type != "long_text":
        value = value.strip()
    limit = field.effective_max_length
    if limit is not None and len(value) > limit:
        raise ValidationError(f"{field.label} is {len(value)} characters long; the limit is {limit}.")
    return value


def _clean_email(field: CustomField, value: Any) -> str:
    text = _clean_text(field, value).lower()
    try:
        EmailValidator()(text)
    except ValidationError:
        raise ValidationError(f"{field.label}: “{text}” is not a valid e-mail address.") from None
    return text


def _clean_phone(field: CustomField, value: Any) -> str:
    text = _clean_text(field, value)
    if not PHONE_RE.match(text) or not any(ch.isdigit() for ch in text):
        raise ValidationError(f"{field.label}: “{text}” is not a phone number.")
    return text


def _clean_url(field: CustomField, value: Any) -> str:
    text = _clean_text(field, value)
    candidate = text if "://" in text else f"https://{text}"
    try:
        URLValidator(schemes=["http", "https"])(candidate)
    except ValidationError:
        raise ValidationError(f"{field.label}: “{text}” is not a valid web address.") from None
    return candidate


def _clean_number(field: CustomField, value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValidationError(f"{field.label} must be a number.")
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ValidationError(f"{field.label}: “{value}” is not a number.") from None
    if not number.is_finite():
        raise ValidationError(f"{field.label}: “{value}” is not a number.")
    scale = field.effective_decimal_places
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > scale:
        places = "no decimal places" if scale == 0 else f"at most {scale} decimal place{'s' if scale > 1 else ''}"
        raise ValidationError(f"{field.label} allows {places}; “{value}” has more.")
    too_long = ValidationError(f"{field.label} has more than {MAX_DIGITS} digits.")
    if number.adjusted() + 1 + scale > MAX_DIGITS:
        raise too_long  # before quantize, which fails outright past the decimal context's precision
    number = number.quantize(Decimal(1).scaleb(-scale))
    if len(number.as_tuple().digits) > MAX_DIGITS:
        raise too_long
    if field.min_value is not None and number < field.min_value:
        raise ValidationError(f"{field.label} must be at least {field.min_value.normalize():f}.")
    if field.max_value is not None and number > field.max_value:
        raise ValidationError(f"{field.label} must be at most {field.max_value.normalize():f}.")
    return int(number) if scale == 0 else float(number)


def _clean_date(field: CustomField, value: Any) -> str:
    if isinstance(value, dt.datetime):
        raise ValidationError(f"{field.label} must be a date without a time.")
    if isinstance(value, dt.date):
        return value.isoformat()
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_date(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValidationError(f"{field.label}: “{value}” is not a date (use YYYY-MM-DD).")
    return parsed.isoformat()


def _clean_datetime(field: CustomField, value: Any) -> str:
    parsed = value if isinstance(value, dt.datetime) else None
    if parsed is None and isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValidationError(
            f"{field.label}: “{value}” is not a date and time (use ISO 8601, e.g. 2026-01-31T09:30:00Z)."
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
    return parsed.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean_checkbox(field: CustomField, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise ValidationError(f"{field.label} must be true or false.")


def _clean_picklist(field: CustomField, value: Any) -> str:
    text = str(value).strip()
    for option in field.options:
        if option.lower() == text.lower():
            return option
    raise ValidationError(f"{field.label}: “{text}” is not one of its options ({', '.join(field.options)}).")


def _clean_multi_picklist(field: CustomField, value: Any) -> list[str] | None:
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set):
        raise ValidationError(f"{field.label} must be a list of options.")
    chosen = {_clean_picklist(field, item) for item in items if not is_empty(item)}
    if not chosen:
        if field.required:
            raise ValidationError(f"{field.label} is required.")
        return None
    return [option for option in field.options if option in chosen]


def _clean_link(field: CustomField, value: Any) -> int:
    """A Link holds the id of one record of its target object, of the same organization."""
    from roxcrm.objects import records_of, rox_object

    target = rox_object(field.organization_id, field.target)
    what = target.label.lower() if target else "linked"
    if hasattr(value, "pk") and not isinstance(value, str):
        value = value.pk
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        raise ValidationError(f"{field.label} must be a {what} record.")
    pk = int(value)
    if not (0 < pk < 2**63) or not records_of(field.organization_id, field.target).filter(pk=pk).exists():
        raise ValidationError(f"{field.label}: there is no such {what} record in this organization.")
    return pk


_CLEANERS = {
    "link": _clean_link,
    "text": _clean_text,
    "long_text": _clean_text,
    "email": _clean_email,
    "phone": _clean_phone,
    "url": _clean_url,
    "number": _clean_number,
    "currency": _clean_number,
    "percent": _clean_number,
    "date": _clean_date,
    "datetime": _clean_datetime,
    "checkbox": _clean_checkbox,
    "picklist": _clean_picklist,
    "multi_picklist": _clean_multi_picklist,
}


def form_field(field: CustomField, *, disabled: bool = False) -> forms.Field:
    """The Django form field that edits ``field``. Its ``clean`` gives a Python value that ``clean_value`` accepts."""
    common: dict[str, Any] = {
        "label": field.label,
        "required": field.required and field.data_type != "checkbox",
        "help_text": field.help_text,
        "disabled": disabled,
    }
    data_type = field.data_type
    if data_type == "long_text":
        return forms.CharField(
            max_length=field.effective_max_length, widget=forms.Textarea(attrs={"rows": 4}), **common
        )
    if data_type == "email":
        return forms.EmailField(max_length=field.effective_max_length, **common)
    if data_type == "url":
        return forms.URLField(max_length=field.effective_max_length, assume_scheme="https", **common)
    if data_type in ("text", "phone"):
        return forms.CharField(max_length=field.effective_max_length, **common)
    if data_type in field.NUMERIC_TYPES:
        scale = field.effective_decimal_places
        return forms.DecimalField(
            max_digits=MAX_DIGITS,
            decimal_places=scale,
            min_value=field.min_value,
            max_value=field.max_value,
            widget=forms.NumberInput(attrs={"step": str(Decimal(1).scaleb(-scale))}),
            **common,
        )
    if data_type == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if data_type == "datetime":
        return forms.DateTimeField(
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), **common
        )
    if data_type == "checkbox":
        return forms.BooleanField(**common)
    if data_type == "link":
        from roxcrm.objects import records_of

        return forms.ModelChoiceField(
            queryset=records_of(field.organization_id, field.target).filter(removed_at=None), **common
        )
    choices = [(option, option) for option in field.options]
    if data_type == "picklist":
        return forms.ChoiceField(choices=[("", "—"), *choices], **common)
    return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **common)


def initial_value(field: CustomField, stored: Any) -> Any:
    """The stored JSON value turned into what ``form_field`` displays."""
    if stored is None:
        return None
    if field.data_type == "date":
        return parse_date(stored)
    if field.data_type == "datetime":
        parsed = parse_datetime(stored)
        return timezone.localtime(parsed) if parsed else None
    if field.data_type in field.NUMERIC_TYPES:
        # 467000.0 as "467000.00" for a currency: the field's decimal places, as the page shows it.
        number = _decimal(stored)
        try:
            return number.quantize(Decimal(1).scaleb(-field.effective_decimal_places)) if number is not None else stored
        except InvalidOperation:  # more digits than a Decimal context holds: shown as stored
            return stored
    return stored


def _decimal(stored: Any) -> Decimal | None:
    """A stored number as a ``Decimal`` (``None`` for anything that is not one)."""
    if isinstance(stored, bool):
        return None
    try:
        number = Decimal(str(stored))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def display_value(field: CustomField, stored: Any) -> str:
    """A stored value as text for record pages."""
    if stored is None:
        return ""
    if field.data_type == "checkbox":
        return "Yes" if stored else "No"
    if field.data_type == "multi_picklist":
        return ", ".join(stored)
    if field.data_type == "datetime":
        parsed = parse_datetime(stored)
        return timezone.localtime(parsed).strftime("%Y-%m-%d %H:%M") if parsed else str(stored)
    if field.data_type in field.NUMERIC_TYPES:
        number = _decimal(stored)
        if number is None:
            return str(stored)
        places = field.effective_decimal_places
        return f"{number:.{places}f}%" if field.data_type == "percent" else f"{number:,.{places}f}"
    if field.data_type == "link":
        from roxcrm.objects import records_of

        linked = records_of(field.organization_id, field.target).filter(pk=stored).first()
        return str(linked) if linked is not None else f"(record {stored}, no longer in Rox)"
    return str(stored)


def holding(api_name: str, stored: Any) -> Q:
    """Records whose custom value ``api_name`` is ``stored`` (a stored form: text, a number, a Link's record id):
    on PostgreSQL a containment test, answered by the GIN index on ``custom_values`` (a key's equality is not);
    elsewhere the extracted key's equality."""
    if connection.vendor == "postgresql":
        return Q(custom_values__contains={api_name: stored})
    return Q(**{f"custom_values__{api_name}": stored})


def filter_by_custom_value(queryset: QuerySet[Any], field: CustomField, value: Any) -> QuerySet[Any]:
    """Records whose custom ``field`` holds ``value`` (validated and stored-form first).

    On PostgreSQL this is a JSON containment test (``custom_values @> {...}``), which the GIN index on
    ``custom_values`` answers; SQLite has no such index and compares the extracted key.
    """
    stored = clean_value(field, value)
    if stored is None:
        raise ValidationError(f"Give a value of {field.label} to filter by.")
    if connection.vendor == "postgresql":
        # For a multi-select picklist, containment means "holds at least these options".
        return queryset.filter(holding(field.api_name, stored))
    if field.data_type == "multi_picklist":
        for option in stored:
            queryset = queryset.filter(**{f"custom_values__{field.api_name}__icontains": f'"{option}"'})
        return queryset
    return queryset.filter(**{f"custom_values__{field.api_name}": stored})
