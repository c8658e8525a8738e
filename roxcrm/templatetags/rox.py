"""Template helpers for record pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import template
from django.db import models
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def object_label(key: str, organization: Any) -> str:
    """A Rox object's name as people read it: "Opportunity product", an added object's label ("Project")."""
    from roxcrm.objects import rox_object

    found = rox_object(organization, key)
    return found.label if found else key.replace("_", " ")


@register.filter
def field_label(model_or_record: Any, name: str) -> str:
    """The verbose name of a model field, capitalised."""
    return str(model_or_record._meta.get_field(name).verbose_name).capitalize()


@register.simple_tag
def field_value(record: models.Model, name: str) -> str:
    """A record's field as text (or a link, for a related record or a website)."""
    field = record._meta.get_field(name)
    value = getattr(record, name)
    if value is None or value == "" or value == []:
        return mark_safe('<span class="muted">—</span>')
    if field.choices:
        return getattr(record, f"get_{name}_display")()
    if isinstance(value, models.Model):
        url = value.get_absolute_url() if hasattr(value, "get_absolute_url") and hasattr(value, "code") else None
        return format_html('<a href="{}">{}</a>', url, value) if url else str(value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Decimal):
        return f"{value:,.2f}" if field.decimal_places else f"{value:,}"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int) and name.endswith("_count"):
        return f"{value:,}"
    if isinstance(value, list):
        return format_html_join(", ", "{}", ((item,) for item in value))
    if isinstance(field, models.URLField):
        return format_html('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>', value, value)
    if isinstance(field, models.EmailField):
        return format_html('<a href="mailto:{}">{}</a>', value, value)
    return str(value)
