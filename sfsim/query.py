"""Running SOQL: the first page, query locators for the next ones, and the record lookups REST reads use."""

import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from . import defaults
from .errors import SFError
from .http import Ctx
from .runtime import Locator
from .soql import Compiled, RecordBuilder, compile_soql

if TYPE_CHECKING:
    from .org import Org


class ConnectionPool:
    """Read connections for queries; a query that needs more pages keeps its connection in a locator."""

    def __init__(self, store, size: int = 8):
        self.store = store
        self.size = size
        self._idle: list = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self.store.new_connection()

    def put(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.rollback()
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(conn)
                return
        conn.close()


def batch_size(ctx: Ctx) -> int:
    header = ctx.headers.get("sforce-query-options", "")
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(defaults.QUERY_MIN_BATCH, min(int(value), defaults.QUERY_PAGE_SIZE))
    return defaults.QUERY_PAGE_SIZE


def prefix_types(org: "Org") -> dict[str, str]:
    return {o.key_prefix: o.name for o in org.store.schema.objects.values()}


def compile_for(ctx: Ctx, q: str, query_all: bool) -> Compiled:
    if not q:
        raise SFError("MALFORMED_QUERY", "Invalid query: query string is empty")
    return compile_soql(
        q, ctx.org.store.schema, ctx.perms, query_all=query_all, now=ctx.org.clock.now(), tooling=ctx.tooling
    )


def _page(ctx: Ctx, compiled: Compiled, rows: list, total: int, done: bool, next_url: str | None) -> dict:
    base = f"{ctx.base}/tooling/sobjects/" if compiled.tooling else f"{ctx.base}/sobjects/"
    records = RecordBuilder(compiled, base, prefix_types(ctx.org)).records(rows)
    ctx.org.stats.add_records("query", len(records))
    out = {"totalSize": total, "done": done}
    if next_url:
        out["nextRecordsUrl"] = next_url
    out["records"] = records
    return out


def run_query(ctx: Ctx, q: str, query_all: bool) -> dict:
    org = ctx.org
    compiled = compile_for(ctx, q, query_all)
    org.stats.query(compiled.obj.name)
    store = org.store
    if compiled.is_count:
        n = store.conn.execute(compiled.count_sql, compiled.count_params).fetchone()[0]
        if compiled.limit is not None:
            n = min(n, compiled.limit)
        return {"totalSize": n, "done": True, "records": []}
    # Inside a composite allOrNone transaction the query must see the uncommitted writes before it.
    own = store.conn if store.conn.in_transaction else None
    conn = own or org.pool.get()
    if own is None:
        conn.execute("BEGIN")
    total = conn.execute(compiled.count_sql, compiled.count_params).fetchone()[0]
    total = max(total - compiled.offset, 0)
    if compiled.limit is not None:
        total = min(total, compiled.limit)
    cursor = conn.execute(compiled.sql, compiled.params)
    page = batch_size(ctx)
    rows = cursor.fetchmany(page)
    if len(rows) >= total:
        cursor.close()
        if own is None:
            org.pool.put(conn)
        return _page(ctx, compiled, rows, total, True, None)
    if own is not None:
        # Keep the rest on a private snapshot, re-running the query there past the rows already returned.
        conn = org.pool.get()
        conn.execute("BEGIN")
        cursor = conn.execute(compiled.sql, compiled.params)
        cursor.fetchmany(len(rows))
    loc = Locator(org.locators.new_id(), conn, cursor, compiled, total, len(rows), ctx.user_id, query_all)
    loc.last_page = (0, rows)
    org.locators.add(loc)
    return _page(ctx, compiled, rows, total, False, _next_url(ctx, loc, query_all))


def _next_url(ctx: Ctx, loc: Locator, query_all: bool) -> str:
    kind = "queryAll" if query_all else "query"
    prefix = f"{ctx.base}/tooling" if loc.compiled.tooling else ctx.base
    return f"{prefix}/{kind}/{loc.id}-{loc.position}"


def query_more(ctx: Ctx, locator: str) -> dict:
    org = ctx.org
    loc_id, _, offset_text = locator.partition("-")
    loc = org.locators.get(loc_id)
    if loc is None or loc.user_id != ctx.user_id or not offset_text.isdigit():
        raise SFError("INVALID_QUERY_LOCATOR", "invalid query locator")
    offset = int(offset_text)
    with loc.lock:
        loc.last_used = time.monotonic()
        if loc.last_page is not None and offset == loc.last_page[0] and offset != loc.position:
            rows = loc.last_page[1]
            position = offset + len(rows)
        elif offset == loc.position:
            rows = loc.cursor.fetchmany(batch_size(ctx))
            loc.last_page = (offset, rows)
            loc.position += len(rows)
            position = loc.position
        else:
            raise SFError("INVALID_QUERY_LOCATOR", "invalid query locator")
        done = position >= loc.total or not rows
        next_url = None if done else f"{_next_url(ctx, loc, loc.query_all).rsplit('-', 1)[0]}-{position}"
        compiled = loc.compiled
    if done and position >= loc.total:
        # Keep nothing once the last page is out; a retry of it gets INVALID_QUERY_LOCATOR like Salesforce.
        org.locators.drop(loc_id)
    return _page(ctx, compiled, rows, loc.total, done, next_url)
