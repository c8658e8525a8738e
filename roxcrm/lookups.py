"""``field__any=values``: ``field__in=values`` for the long lists the sync paths look up (thousands of Salesforce
Ids, record ids, e-mails a page), cheaper to send.

Django writes ``IN (%s, %s, ...)`` with one parameter per value, and psycopg turns each into SQL text in Python:
for 2,000 values that costs more than the database's work. On PostgreSQL this sends the values as one text
parameter instead, ``field = ANY(string_to_array(%s, ',')::type[])``; values that contain the separator, and other
databases, get the ordinary ``IN``. Same results either way.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import models
from django.db.models.lookups import In

SEPARATOR = ","


class AnyOf(In):
    lookup_name = "any"

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if not self.rhs_is_direct_value():
            return super().as_sql(compiler, connection)
        field = self.lhs.output_field
        values = []
        for value in dict.fromkeys(self.rhs):
            if value is None:
                continue
            text = str(field.get_db_prep_value(value, connection, prepared=True))
            if SEPARATOR in text:
                return super().as_sql(compiler, connection)
            values.append(text)
        if not values:
            raise EmptyResultSet
        lhs, lhs_params = self.process_lhs(compiler, connection)
        db_type = field.cast_db_type(connection)
        return f"{lhs} = ANY(string_to_array(%s, '{SEPARATOR}')::{db_type}[])", [
            *lhs_params,
            SEPARATOR.join(values),
        ]


def register() -> None:
    models.Field.register_lookup(AnyOf)
