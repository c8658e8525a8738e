"""SOQL is built here and only here: every literal goes through ``literal``, so no value can change a query."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", '"': '\\"'}


def literal(value: Any) -> str:
    """A Python value as a SOQL literal: quoted and escaped strings, unquoted numbers, dates and datetimes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return format(Decimal(str(value)), "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("SOQL datetimes must be timezone-aware.")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return "'" + "".join(_ESCAPES.get(ch, ch) for ch in text) + "'"


def literal_list(values: Iterable[Any]) -> str:
    """``('a', 'b')`` for an ``IN`` clause; an empty list is refused because SOQL rejects ``IN ()``."""
    items = [literal(v) for v in values]
    if not items:
        raise ValueError("An IN list needs at least one value.")
    return "(" + ", ".join(items) + ")"


def identifier(name: str) -> str:
    """An object or field name (``Account``, ``Owner.Email``, ``RoxActivityId__c``), checked, never quoted."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"Not a Salesforce identifier: {name!r}")
    return name


def select(fields: Iterable[str], sobject: str, where: str = "", order_by: str = "", limit: int | None = None) -> str:
    """``SELECT f1, f2 FROM X [WHERE ...] [ORDER BY ...] [LIMIT n]`` with checked identifiers. ``where`` must be
    built from ``literal``/``literal_list`` values."""
    parts = [f"SELECT {', '.join(identifier(f) for f in fields)} FROM {identifier(sobject)}"]
    if where:
        parts.append(f"WHERE {where}")
    if order_by:
        parts.append(f"ORDER BY {order_by}")
    if limit is not None:
        parts.append(f"LIMIT {int(limit)}")
    return " ".join(parts)
