"""The org database: one SQLite table per sObject with typed columns, in ``DIR/org.sqlite3`` (WAL mode).

Readers use one connection per thread; writers share a process-wide lock and ``BEGIN IMMEDIATE`` so that writes
never fail on a busy database. sfsim's own bookkeeping lives in tables whose names start with ``_sfsim_``.
"""

import contextlib
import functools
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import defaults, ids
from .schema import Schema, SObject, activity_targets, build_schema, builtin_custom_fields

# Lookups and match keys sync tools filter on (children by parent, contacts and leads by e-mail, accounts by name).
INDEXED_COLUMNS = {
    "AccountId",
    "OpportunityId",
    "WhoId",
    "WhatId",
    "ParentId",
    "AssigneeId",
    "PermissionSetId",
    "Pricebook2Id",
    "Product2Id",
    "ProfileId",
    "ContactId",
    "ConvertedAccountId",
    "Email",
}
INDEXED_BY_OBJECT = {("Account", "Name"), ("Account", "Website")}

META_DDL = """
CREATE TABLE IF NOT EXISTS _sfsim_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _sfsim_seq (prefix TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _sfsim_custom_fields (object TEXT NOT NULL, name TEXT NOT NULL, spec TEXT NOT NULL,
    PRIMARY KEY (object, name));
CREATE TABLE IF NOT EXISTS _sfsim_custom_objects (name TEXT PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _sfsim_deleted (id TEXT PRIMARY KEY, object TEXT NOT NULL, deleted_date TEXT NOT NULL,
    batch TEXT NOT NULL, hard INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS _sfsim_deleted_obj ON _sfsim_deleted (object, deleted_date);
CREATE INDEX IF NOT EXISTS _sfsim_deleted_batch ON _sfsim_deleted (batch);
CREATE TABLE IF NOT EXISTS _sfsim_passwords (user_id TEXT PRIMARY KEY, password TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _sfsim_tokens (token TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL,
    client_id TEXT NOT NULL, scope TEXT NOT NULL, issued REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
    extra TEXT);
CREATE TABLE IF NOT EXISTS _sfsim_bulk_jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _sfsim_deploy_requests (id TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _sfsim_generation (id INTEGER PRIMARY KEY CHECK (id = 0), n INTEGER NOT NULL);
INSERT OR IGNORE INTO _sfsim_generation (id, n) VALUES (0, 0);
"""


@functools.cache
def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "org.sqlite3"
        self._local = threading.local()
        self.write_lock = threading.RLock()
        self._schema_lock = threading.Lock()
        self._bumped = False  # the open write transaction changed the set-up (guarded by write_lock)
        # Id counters of the open write transaction, read from the database at its first allocation: another
        # process (the CLI's `seed`) may have allocated Ids since this process's last transaction.
        self._seq: dict[str, int] | None = None
        conn = self._connect()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(META_DDL)
        self._local.conn = conn
        # The set-up generation the in-memory schema reflects (read first: a later change makes it look stale).
        self.schema_generation = self.generation()
        self.schema = self._load_schema(conn)
        with self.transaction() as tx:
            self._ensure_tables(tx)

    # -- connections -----------------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=60000")
        # A small page cache per connection: memory must not grow with the org (the OS caches the file).
        conn.execute("PRAGMA cache_size=-4000")
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def new_connection(self) -> sqlite3.Connection:
        """A private connection, for a query locator that keeps its own snapshot open between pages."""
        return self._connect()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested calls join the outer one (composite and allOrNone rely on that)."""
        conn = self.conn
        with self.write_lock:
            if conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            self._bumped = False
            self._seq = None
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                if self._bumped:
                    # The schema may hold the rolled-back change: rebuild it at the next sync.
                    self.schema_generation = -1
                raise
            else:
                conn.execute("COMMIT")

    @contextlib.contextmanager
    def setup_transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that changes the set-up (scenario, settings, users, permissions): it bumps the
        generation so that every server on this data directory reloads what it keeps in memory."""
        with self.transaction() as conn:
            self.bump_generation(conn)
            yield conn

    @contextlib.contextmanager
    def savepoint(self, conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("SAVEPOINT rec")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK TO rec")
            conn.execute("RELEASE rec")
            raise
        else:
            conn.execute("RELEASE rec")

    # -- the set-up generation -------------------------------------------------------------------------------------
    # One counter, bumped in the same transaction as every change to the schema, scenario, settings, users or
    # permissions, by whichever process makes it (a server, or the CLI's `scenario` and `seed` beside a running
    # server). A server reads it once per request (Org.sync) and reloads its caches when it moved.
    def generation(self) -> int:
        return self.conn.execute("SELECT n FROM _sfsim_generation").fetchone()[0]

    def bump_generation(self, conn: sqlite3.Connection) -> int:
        """Marks a set-up change inside the caller's write transaction; returns the new generation."""
        n = conn.execute("UPDATE _sfsim_generation SET n = n + 1 RETURNING n").fetchall()[0][0]
        self._bumped = True
        with self._schema_lock:
            if self.schema_generation == n - 1:
                # Only reload_schema changes custom fields, and it rebuilds the schema itself: a schema that was
                # current stays current, so this process's next sync need not rebuild it.
                self.schema_generation = n
        return n

    # -- ids -------------------------------------------------------------------------------------------------------
    def _advance(self, conn: sqlite3.Connection, key: str, count: int) -> int:
        """Moves the counter ``key`` on by ``count`` inside the caller's write transaction; returns its old value."""
        if self._seq is None:
            self._seq = dict(conn.execute("SELECT prefix, n FROM _sfsim_seq").fetchall())
        start = self._seq.get(key, 0)
        end = start + count
        self._seq[key] = end
        conn.execute(
            "INSERT INTO _sfsim_seq (prefix, n) VALUES (?, ?) ON CONFLICT(prefix) DO UPDATE SET n = ?",
            (key, end, end),
        )
        return start

    def new_ids(self, conn: sqlite3.Connection, prefix: str, count: int = 1) -> list[str]:
        """Allocates Ids inside the caller's write transaction (a rollback gives them back)."""
        start = self._advance(conn, prefix, count)
        return [ids.make_id(prefix, n) for n in range(start + 1, start + count + 1)]

    def next_auto_number(self, conn: sqlite3.Connection, object_name: str, first: int, count: int = 1) -> int:
        """The next value of an object's Auto Number Name (``first`` for its first record); ``count`` takes that
        many values at once (the first is returned)."""
        return first + self._advance(conn, f"auto:{object_name}", count)

    def allocate_id(self, prefix: str) -> str:
        with self.transaction() as conn:
            return self.new_ids(conn, prefix)[0]

    # -- settings --------------------------------------------------------------------------------------------------
    def setting(self, key: str, default: object = None) -> Any:
        row = self.conn.execute("SELECT value FROM _sfsim_settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: object) -> None:
        with self.setup_transaction() as tx:
            tx.execute(
                "INSERT INTO _sfsim_settings (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    # -- schema ----------------------------------------------------------------------------------------------------
    def custom_field_specs(self, conn: sqlite3.Connection | None = None) -> list[dict]:
        conn = conn or self.conn
        return [json.loads(s) for (s,) in conn.execute("SELECT spec FROM _sfsim_custom_fields ORDER BY rowid")]

    def custom_object_specs(self, conn: sqlite3.Connection | None = None) -> list[dict]:
        """The custom objects created through the control API (or the demo seed), in creation order."""
        conn = conn or self.conn
        return [json.loads(s) for (s,) in conn.execute("SELECT spec FROM _sfsim_custom_objects ORDER BY rowid")]

    def _build(self, conn: sqlite3.Connection | None = None) -> Schema:
        return build_schema(self.custom_field_specs(conn), self.custom_object_specs(conn))

    def _load_schema(self, conn: sqlite3.Connection) -> Schema:
        if conn.execute("SELECT 1 FROM _sfsim_settings WHERE key = 'initialized'").fetchone() is None:
            with self.write_lock:
                conn.execute("BEGIN IMMEDIATE")
                for spec in builtin_custom_fields():
                    conn.execute(
                        "INSERT OR IGNORE INTO _sfsim_custom_fields (object, name, spec) VALUES (?, ?, ?)",
                        (spec["object"], spec["name"], json.dumps(spec)),
                    )
                conn.execute("INSERT INTO _sfsim_settings (key, value) VALUES ('initialized', 'true')")
                conn.execute("COMMIT")
        return self._build(conn)

    def _existing_columns(self, conn: sqlite3.Connection, table: str) -> list[str]:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({quote(table)})")]

    def _ensure_tables(self, conn: sqlite3.Connection) -> None:
        for o in self.schema.objects.values():
            self.ensure_table(conn, o)

    def ensure_table(self, conn: sqlite3.Connection, o: SObject) -> None:
        existing = self._existing_columns(conn, o.name)
        if not existing:
            cols = ", ".join(f"{quote(f.name)} {f.sql_type}" for f in o.stored_fields)
            conn.execute(f"CREATE TABLE {quote(o.name)} ({cols})")
            conn.execute(f"CREATE UNIQUE INDEX {quote(o.name + '_id')} ON {quote(o.name)} (Id)")
            conn.execute(f"CREATE INDEX {quote(o.name + '_modstamp')} ON {quote(o.name)} (SystemModstamp, Id)")
        else:
            lower = {c.lower() for c in existing}
            for f in o.stored_fields:
                if f.name.lower() not in lower:
                    conn.execute(f"ALTER TABLE {quote(o.name)} ADD COLUMN {quote(f.name)} {f.sql_type}")
        for f in o.stored_fields:
            if (
                f.name in INDEXED_COLUMNS
                or (o.name, f.name) in INDEXED_BY_OBJECT
                or f.external_id
                or (f.custom and f.type == "reference")
            ):
                self._index(conn, o.name, f.name)

    def _index(self, conn: sqlite3.Connection, table: str, column: str) -> None:
        conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(table + '_' + column)} ON {quote(table)} ({quote(column)})")

    def save_custom_field(self, conn: sqlite3.Connection, spec: dict) -> None:
        conn.execute(
            "INSERT INTO _sfsim_custom_fields (object, name, spec) VALUES (?, ?, ?) "
            "ON CONFLICT(object, name) DO UPDATE SET spec = excluded.spec",
            (spec["object"], spec["name"], json.dumps(spec)),
        )
        self.reload_schema(conn)

    def delete_custom_field(self, conn: sqlite3.Connection, object_name: str, name: str) -> None:
        conn.execute("DELETE FROM _sfsim_custom_fields WHERE object = ? AND name = ?", (object_name, name))
        self.drop_columns(conn, object_name, name)
        self.reload_schema(conn)

    def save_custom_object(self, conn: sqlite3.Connection, spec: dict, fields: list[dict]) -> None:
        """Creates a custom object with its custom fields (one schema rebuild, which creates its table)."""
        conn.execute("INSERT INTO _sfsim_custom_objects (name, spec) VALUES (?, ?)", (spec["name"], json.dumps(spec)))
        conn.executemany(
            "INSERT INTO _sfsim_custom_fields (object, name, spec) VALUES (?, ?, ?)",
            [(f["object"], f["name"], json.dumps(f)) for f in fields],
        )
        self.reload_schema(conn)

    def delete_custom_objects(self, conn: sqlite3.Connection, names: list[str]) -> None:
        """Drops custom objects: their definitions, custom fields, tables, Auto Number counters and recycle bin."""
        for name in names:
            conn.execute("DELETE FROM _sfsim_custom_objects WHERE name = ?", (name,))
            conn.execute("DELETE FROM _sfsim_custom_fields WHERE object = ?", (name,))
            conn.execute("DELETE FROM _sfsim_deleted WHERE object = ?", (name,))
            conn.execute("DELETE FROM _sfsim_seq WHERE prefix = ?", (f"auto:{name}",))
            conn.execute(f"DROP TABLE IF EXISTS {quote(name)}")
        self._seq = None  # the counters changed under the cache
        self.reload_schema(conn)

    def drop_columns(self, conn: sqlite3.Connection, object_name: str, name: str) -> None:
        """Drops a custom field's column(s) and its index; its values are gone, as in Salesforce."""
        for target in activity_targets(object_name):
            o = self.schema.get(target)
            f = o.field(name) if o else None
            if f is not None and f.stored:
                conn.execute(f"DROP INDEX IF EXISTS {quote(o.name + '_' + f.name)}")
                conn.execute(f"ALTER TABLE {quote(o.name)} DROP COLUMN {quote(f.name)}")

    def reload_schema(self, conn: sqlite3.Connection) -> None:
        """Rebuilds the schema after a custom field change, inside the write transaction that made it."""
        n = self.bump_generation(conn)
        with self._schema_lock:
            schema = self._build(conn)
            self.schema = schema
            self.schema_generation = n
        for o in schema.objects.values():
            self.ensure_table(conn, o)

    def refresh_schema(self, generation: int) -> None:
        """Rebuilds the schema from the database unless it already reflects ``generation`` (a change made by another
        process, or a rolled-back one of this process)."""
        with self._schema_lock:
            if self.schema_generation >= generation:
                return
            self.schema = self._build()
            self.schema_generation = generation

    # -- plain helpers ---------------------------------------------------------------------------------------------
    def org_id(self) -> str:
        return self.setting("org_id")

    def table_rows(self, table: str) -> int:
        return self.conn.execute(f"SELECT COUNT(*) FROM {quote(table)}").fetchone()[0]


DEFAULT_SETTINGS = {
    "daily_api_requests": defaults.DAILY_API_REQUESTS,
    "session_lifetime_seconds": defaults.SESSION_LIFETIME_SECONDS,
    "org_api_enabled": True,
    "deploy_in_progress_polls": defaults.DEPLOY_IN_PROGRESS_POLLS,
}
