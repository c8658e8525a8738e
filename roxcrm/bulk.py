"""Batch inserts and updates for the sync paths, fast on PostgreSQL.

Django's ``bulk_create`` and ``bulk_update`` build one large statement per batch whose parameters psycopg converts in
Python (``bulk_update`` also builds a CASE per field and row), which costs far more than the database work for
thousands of rows. On PostgreSQL these use ``COPY``: inserts take their ids from the table's sequence first (one
query) and copy the rows in; updates copy the new values into a temporary table and apply them in one UPDATE ... FROM.
Other databases (SQLite in development) use Django's own methods.
"""

from __future__ import annotations

import json
import operator
import zlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connections, models, transaction
from django.db.models.base import ModelState

M = TypeVar("M", bound=models.Model)
DJANGO_BATCH = 500
# json.dumps(..., ensure_ascii=False) without making an encoder for each call.
_JSON_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
_SEQUENCES: dict[str, str] = {}  # a table's id sequence, by table name (found once a process)


def bulk_insert(model: type[M], objects: Sequence[M]) -> list[M]:
    """Insert ``objects`` (unsaved) and return them with their primary keys set."""
    objects = list(objects)
    if not objects:
        return objects
    connection = connections[model.objects.db]  # the connection itself, not the per-attribute proxy
    if connection.vendor != "postgresql":
        return model.objects.bulk_create(objects, batch_size=DJANGO_BATCH)
    table = model._meta.db_table
    pk = model._meta.pk
    fields = [f for f in model._meta.concrete_fields if f is not pk]
    with connection.cursor() as cursor:
        if table not in _SEQUENCES:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, pk.column])
            _SEQUENCES[table] = cursor.fetchone()[0]
        # The sequence named once, not looked up once a row (which costs more than taking the numbers).
        cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [_SEQUENCES[table], len(objects)])
        ids = [row[0] for row in cursor.fetchall()]
        for obj, new_id in zip(objects, ids, strict=True):
            obj.pk = new_id
            obj._state.adding = False
            obj._state.db = "default"
        # Plain values are read all at once (one attrgetter, in C); the others through their preparers.
        prepared = [(f, _preparer(f, connection)) for f in fields]
        plain = [f for f, prep in prepared if prep is None]
        special = [(f, prep) for f, prep in prepared if prep is not None]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in [pk, *plain, *(f for f, _ in special)])
        read_plain = operator.attrgetter(pk.attname, *(f.attname for f in plain))
        prepare = [prep for _, prep in special]
        with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                row = read_plain(obj) if plain else (obj.pk,)
                copy.write_row((*row, *[prep(obj) for prep in prepare]) if prepare else row)
    return objects


def _preparer(field: models.Field, connection: Any) -> Callable[[models.Model], Any] | None:
    """How to turn one field of an object into the value COPY writes: None for a plain value, which goes as it is
    (psycopg adapts it); only fields that need Django's conversion (JSON, auto timestamps) take the slower, general
    way."""
    plain = (
        models.CharField,
        models.TextField,
        models.IntegerField,
        models.BooleanField,
        models.DecimalField,
        models.DateField,  # and DateTimeField: aware datetimes go as they are (the connection's time zone is UTC)
        models.UUIDField,
        models.ForeignKey,
    )
    attname = field.attname
    if isinstance(field, plain) and not getattr(field, "auto_now", False) and not getattr(field, "auto_now_add", False):
        return None
    if isinstance(field, models.JSONField) and field.encoder is None:
        # COPY's text format: the JSON text itself, which PostgreSQL parses into jsonb.
        encode, nullable = _JSON_ENCODE, field.null
        return lambda obj: (
            None if (value := getattr(obj, attname)) is None and nullable else "{}" if value == {} else encode(value)
        )
    return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), connection)


class Builder:
    """Unsaved instances of ``model`` from ``{attname: value}`` dicts, without ``Model.__init__`` (which resolves
    every field's default through the field machinery: most of the cost of building thousands of rows). Fields
    missing from a dict get their default, as ``__init__`` would give them; foreign keys are set by ``attname``
    (``organization_id``). For the batch paths only: nothing here runs ``clean``."""

    def __init__(self, model: type[M], **cached: models.Model) -> None:
        self.model = model
        self.defaults = [(f.attname, f._get_default) for f in model._meta.concrete_fields]
        self.cached = cached  # related objects to put in each instance's cache (organization=...)

    def build(self, values: dict[str, Any]) -> M:
        obj = self.model.__new__(self.model)
        state = obj.__dict__
        for attname, default in self.defaults:
            state[attname] = values[attname] if attname in values else default()
        obj._state = ModelState()
        if self.cached:
            obj._state.fields_cache.update(self.cached)
        return obj


def bulk_update(model: type[M], objects: Sequence[M], field_names: Sequence[str]) -> None:
    """Save ``field_names`` of ``objects`` (which have primary keys)."""
    objects = list(objects)
    if not objects or not field_names:
        return
    connection = connections[model.objects.db]
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, list(field_names), batch_size=DJANGO_BATCH)
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    pk = model._meta.pk
    fields = [model._meta.get_field(name) for name in field_names]
    column_list = ", ".join(quote(f.column) for f in [pk, *fields])
    assignments = ", ".join(f"{quote(f.column)} = t.{quote(f.column)}" for f in fields)
    # One temporary table per session and set of columns, emptied at each commit: creating and dropping one per call
    # costs more than the update itself.
    temporary = quote(f"bulk_{model._meta.db_table}_{zlib.crc32(column_list.encode()):08x}")
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        # (Made again after a rollback that took it away: "if not exists" is a catalog look-up otherwise.)
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {temporary} ON COMMIT DELETE ROWS AS "
            f"SELECT {column_list} FROM {table} WITH NO DATA"
        )
        cursor.execute(f"DELETE FROM {temporary}")  # rows of an earlier call in the same transaction
        with cursor.cursor.copy(f"COPY {temporary} ({column_list}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row([obj.pk, *(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields)])
        key = quote(pk.column)
        cursor.execute(f"UPDATE {table} SET {assignments} FROM {temporary} t WHERE {table}.{key} = t.{key}")


def refresh_statistics(
    *tables: type[models.Model], at_least: int = 5_000, grown_by: float = 1.0, detail: int = 10
) -> list[str]:
    """ANALYZE the tables of ``tables`` whose statistics have gone stale; returns the tables analyzed.

    PostgreSQL plans every query by its table statistics, which autovacuum refreshes only now and then (and never
    when it is off). A backfill grows tables from nothing to hundreds of thousands of rows within minutes; with
    statistics that still say "empty" (or, for the links, "no rows of this object") the planner turns index look-ups
    into scans of every row of the object, and a page that took milliseconds takes seconds. A table is analyzed when
    the rows changed since its last analysis reach ``at_least`` and ``grown_by`` times the rows it was analyzed
    with. ``detail`` is the statistics target used (PostgreSQL's default is 100): 10 samples 3,000 rows instead of
    30,000, a tenth of the time, and is plenty to plan these look-ups; autovacuum's next full analysis refines it.
    Other databases: nothing to do."""
    connection = connections[tables[0].objects.db]
    if connection.vendor != "postgresql":
        return []
    names = [model._meta.db_table for model in tables]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.relname, s.n_mod_since_analyze, GREATEST(c.reltuples, 0) FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid WHERE s.relname = ANY(%s)",
            [names],
        )
        stale = [name for name, changed, rows in cursor.fetchall() if changed >= max(at_least, grown_by * rows)]
        if stale:
            cursor.execute(f"SET LOCAL default_statistics_target = {int(detail)}")
        for name in stale:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(name)}")
    return stale
