"""Running the inbound sync of one object (under the object's run lock, ``locks.py``): the query from the cursor minus
the overlap, paging (REST, or a Bulk API 2.0 job for a large
first read), retries of transient failures, the API budget, and the run's record."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import functools
import logging
import random
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.engine import values
from integrations.engine.inbound import Counts, InboundPage, Preview, resolve_waiting
from integrations.engine.locks import BUSY, acquire, object_lock, release
from integrations.engine.plan import ObjectPlan, build_plan
from integrations.engine.runs import recorded_run
from integrations.models import PendingReference, SalesforceConnection, SalesforceLink, SyncCursor, SyncRun
from integrations.salesforce import soql
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import (
    SalesforceError,
    SessionExpiredError,
    TransientError,
)
from mappings.models import ObjectMapping
from roxcrm.bulk import refresh_statistics

log = logging.getLogger(__name__)
T = TypeVar("T")
Progress = Callable[[Counts, int | None], None]
RETRY_DELAYS = (0.5, 2.0, 5.0)
BULK_BATCH = 2_000  # rows of a Bulk API result page applied at once (the size of a REST page)
BULK_PAGE = 100_000  # rows of a Bulk API result page (one call each)
STATISTICS_AFTER = 10_000  # rows read before the database's statistics are first refreshed (then at each doubling)


@dataclass
class RunResult:
    run: SyncRun | None
    previews: list[Preview]
    skipped_reason: str = ""


def sync_object(
    connection: SalesforceConnection,
    sobject: str,
    *,
    full: bool = False,
    progress: Progress | None = None,
    user: Any = None,
) -> RunResult:
    """Bring Rox up to date with Salesforce's ``sobject``. Returns without running when the object's sync is off,
    its schema is unknown, or another worker is running it right now."""
    ready = _locked_object(connection, sobject)
    if isinstance(ready, RunResult):
        return ready
    object_mapping, plan, cursor, token = ready
    try:
        run = pull(connection, plan, cursor, full=full, progress=progress, user=user)
        if schema_changed(run) and (plan := schema_recheck(connection, object_mapping)) is not None:
            run = pull(connection, plan, cursor, full=full, progress=progress, user=user)
        if plan is not None and run.outcome != SyncRun.Outcome.FAILED:
            # Fields mapped since the first read are filled on the records read before, under the same lock.
            _backfill_pending(connection, plan, cursor, user=user)
    finally:
        release(cursor, token)
    return RunResult(run, [])


def backfill(connection: SalesforceConnection, sobject: str, *, user: Any = None) -> RunResult:
    """Fill the fields mapped since the object's first read (``SyncCursor.backfill_fields``) on every record Rox
    has already: a read of ``Id`` and those fields only (Bulk above the threshold), applied by the engine's rules
    (a field new to a record's shadow takes Salesforce's value, a blank never clears Rox's). Under the object's
    lock; a busy object keeps its fields waiting for its next run, which fills them."""
    ready = _locked_object(connection, sobject)
    if isinstance(ready, RunResult):
        return ready
    _, plan, cursor, token = ready
    try:
        run = _backfill_pending(connection, plan, cursor, user=user)
    finally:
        release(cursor, token)
    return RunResult(run, [], "" if run is not None else "no field is waiting to be filled")


def _locked_object(
    connection: SalesforceConnection, sobject: str
) -> RunResult | tuple[ObjectMapping, ObjectPlan, SyncCursor, str]:
    """The object's mapping, plan and cursor with its run lock taken (the token to release it with), or why it
    cannot run now (its sync is off, its schema unknown, another run holds it)."""
    object_mapping = ObjectMapping.objects.filter(organization=connection.organization, sobject=sobject).first()
    if object_mapping is None or not object_mapping.sync_enabled:
        return RunResult(None, [], "the object's sync is off")
    plan = build_plan(object_mapping)
    if plan is None:
        return RunResult(None, [], "Salesforce's schema of the object is not known (refresh it)")
    cursor, _ = SyncCursor.objects.get_or_create(connection=connection, sobject=sobject)
    token = acquire(cursor)
    if token is None:
        return RunResult(None, [], BUSY)
    return object_mapping, plan, cursor, token


def _backfill_pending(
    connection: SalesforceConnection, plan: ObjectPlan, cursor: SyncCursor, *, user: Any = None
) -> SyncRun | None:
    cursor.refresh_from_db(fields=["backfill_fields", "backfilled_at"])
    waiting = list(cursor.backfill_fields or [])
    if not waiting:
        return None
    fields = [f for f in plan.read_fields if f.sf_field in waiting]
    run = None
    if fields and cursor.backfilled_at is not None:
        narrow = dataclasses.replace(plan, fields=fields)
        run = pull(connection, narrow, cursor, user=user, backfill=sorted(f.sf_field for f in fields))
        if run.outcome == SyncRun.Outcome.FAILED:
            return run  # the fields stay waiting; the next run tries again
    # Done (or nothing left to fill: unmapped since, or the first read is still to come and reads them anyway).
    with transaction.atomic():
        locked = SyncCursor.objects.select_for_update().get(pk=cursor.pk)
        locked.backfill_fields = [f for f in locked.backfill_fields or [] if f not in waiting]
        locked.save(update_fields=["backfill_fields"])
    return run


def schema_changed(run: SyncRun) -> bool:
    """Whether a run failed because Salesforce no longer has a field it asked for (deleted or renamed there)."""
    return run.outcome == SyncRun.Outcome.FAILED and run.error.startswith("INVALID_FIELD")


def schema_recheck(connection: SalesforceConnection, object_mapping: ObjectMapping) -> ObjectPlan | None:
    """Salesforce refused a field: read the object's describe again at once (not when someone clicks Refresh
    schema), so the mappings it broke turn Broken and the connection asks for action, and return the plan of the
    fields that still work (the caller runs again with it)."""
    from integrations import schema, status

    try:
        schema.describe_refresh(connection, [object_mapping.sobject])
    except SalesforceError as exc:
        log.warning("Could not read %s's describe again: %s", object_mapping.sobject, exc)
        return None
    connection.refresh_from_db()
    status.connection_evaluate(connection)
    connection.save(update_fields=["status", "action_reason"])
    return build_plan(object_mapping)


def pull(
    connection: SalesforceConnection,
    plan: ObjectPlan,
    cursor: SyncCursor,
    *,
    full: bool = False,
    progress: Progress | None = None,
    user: Any = None,
    overlap: dt.timedelta | None = None,
    formulas_later: list[str] | None = None,
    backfill: list[str] | None = None,
) -> SyncRun:
    """One inbound run of ``plan``'s object; the caller holds the object's lock (``acquire``).

    ``overlap`` replaces ``SALESFORCE_SYNC_OVERLAP_MINUTES`` (the writeback's read before it writes needs none: the
    scheduled runs catch records that become visible late). With ``formulas_later``, the Salesforce Ids whose
    children's formula fields need a refresh are added to it for the caller to refresh after its own work. With
    ``backfill`` (the plan's fields, just mapped), every record is read again to fill them on the records Rox has;
    the cursor stays where it is."""
    sobject = plan.sobject
    cursor.refresh_from_db()
    if backfill:
        full = True
    with recorded_run(connection, SyncRun.Kind.INBOUND, sobject, user=user) as run:
        page = InboundPage(plan, run.record, force=full, backfill=bool(backfill))
        total: int | None = None  # (the tally reads it when it is called)
        run.tally = lambda: {**page.counts.as_dict(), "total": total}
        client = run.client
        since = (
            None
            if full or cursor.cursor is None
            else cursor.cursor - (overlap if overlap is not None else settings_overlap())
        )
        query = _query(plan, since)
        # Children of this object still waiting for a parent that is in Rox by now are linked first (a wait that a
        # page missed, however that happened, never outlives the child's next run).
        page.counts.linked_late = resolve_waiting(connection.organization_id, child_object=plan.rox_object)
        # The first page tells the size: a large first read switches to a Bulk API job (the page is the only call
        # it costs); anything else goes on page by page, so the calls are exactly the pages.
        first = _with_retries(lambda: client.query(query, include_deleted=True))
        total = first["totalSize"]
        use_bulk = since is None and total > settings.SALESFORCE_BULK_THRESHOLD and not first.get("done", True)
        run.record.details = {
            "mode": "bulk" if use_bulk else "rest",
            "since": since.isoformat() if since else None,
            **({"backfill": backfill} if backfill else {}),
        }
        pages = _bulk_pages(client, plan, query, run.record, total) if use_bulk else _rest_pages(client, query, first)
        analyze_at = STATISTICS_AFTER
        # Closed as soon as the loop ends, however it ends: its helper thread stops and a Bulk result's files go.
        with contextlib.closing(pages):
            for records in pages:
                page.apply(records)
                if page.counts.fetched >= analyze_at:
                    # A large read grows the tables the next pages look up in (by object: the links' statistics must
                    # know this object's rows): PostgreSQL's statistics are refreshed as the read doubles.
                    refresh_statistics(plan.model, SalesforceLink, PendingReference, at_least=1_000, grown_by=0)
                    analyze_at *= 2
                if records and not backfill:
                    newest = values.parse_salesforce_datetime(records[-1]["SystemModstamp"])
                    # Every record stamped before the page's last one is read; equal stamps are re-read next time.
                    SyncCursor.objects.filter(pk=cursor.pk).update(cursor=newest)
                run.checkpoint()
                if progress:
                    progress(page.counts, total)
        if since is None and not backfill:
            SyncCursor.objects.filter(pk=cursor.pk).update(backfilled_at=timezone.now())
        run.warnings = bool(page.counts.failed)
        if formulas_later is None:
            refresh_children_formulas(connection, plan, page.changed_ids)
        else:
            formulas_later.extend(page.changed_ids)
    record = run.record
    SyncCursor.objects.filter(pk=cursor.pk).update(last_run=record)
    if record.outcome in (SyncRun.Outcome.SUCCEEDED, SyncRun.Outcome.WARNINGS):
        SalesforceConnection.objects.filter(pk=connection.pk).update(last_sync_at=record.finished_at)
    return record


def settings_overlap() -> dt.timedelta:
    return dt.timedelta(minutes=settings.SALESFORCE_SYNC_OVERLAP_MINUTES)


def refresh_children_formulas(connection: SalesforceConnection, plan: ObjectPlan, changed_ids: list[str]) -> None:
    """After parents changed, their children's mapped cross-object formula fields may have changed too without their
    SystemModstamp moving: refresh them now, one IN query per child object."""
    if not changed_ids:
        return
    from integrations.engine.formula import refresh_children

    refresh_children(connection, plan.sobject, changed_ids)


def dry_run(connection: SalesforceConnection, sobject: str, *, sample: int = 20) -> RunResult:
    """Test the mapping: the ``sample`` most recently changed records, each Salesforce value beside the Rox value it
    would become, and every record that would fail and why. Writes nothing to Rox."""
    object_mapping = ObjectMapping.objects.filter(organization=connection.organization, sobject=sobject).first()
    plan = build_plan(object_mapping) if object_mapping else None
    if plan is None:
        return RunResult(None, [], "Salesforce's schema of the object is not known (refresh it)")
    client = SalesforceClient(connection)
    query = soql.select(plan.select_list(), plan.sobject, order_by="SystemModstamp DESC, Id DESC", limit=sample)
    page = InboundPage(plan, None, dry_run=True, force=True)
    page.apply(client.query(query)["records"])
    client.save_usage()
    return RunResult(None, page.previews)


def retry_records(connection: SalesforceConnection, sobject: str, sf_ids: list[str]) -> int:
    """Read these records again (after a fix in Salesforce or in Rox's fields) and apply them, under the object's
    run lock; their open errors are resolved when they now sync. Returns how many still fail; ``TransientError``
    when another run of the object holds the lock past the writeback wait."""
    object_mapping = ObjectMapping.objects.filter(organization=connection.organization, sobject=sobject).first()
    plan = build_plan(object_mapping) if object_mapping else None
    if plan is None or not sf_ids:
        return len(sf_ids)
    with object_lock(connection, sobject, wait=settings.SALESFORCE_WRITEBACK_WAIT_SECONDS) as held:
        if not held:
            raise TransientError(f"Try again in a moment: {BUSY} ({sobject}).", code="BUSY")
        return _retry_records(connection, plan, sf_ids)


def _retry_records(connection: SalesforceConnection, plan: ObjectPlan, sf_ids: list[str]) -> int:
    run = read_records(connection, plan, sf_ids)
    if run.outcome in (SyncRun.Outcome.FAILED, SyncRun.Outcome.PAUSED):
        raise SalesforceError(run.error)
    return run.counts.get("failed", 0)


def read_records(connection: SalesforceConnection, plan: ObjectPlan, sf_ids: list[str]) -> SyncRun:
    """Read these records by Id and apply them (the caller holds the object's lock), as a recorded inbound run that
    does not move the cursor; their earlier inbound errors are resolved, and opened again if they still fail."""
    from integrations.models import SyncError

    sobject = plan.sobject
    with recorded_run(connection, SyncRun.Kind.INBOUND, sobject) as run:
        page = InboundPage(plan, run.record, force=True)
        run.tally = page.counts.as_dict
        open_errors = SyncError.objects.filter(
            organization=connection.organization, sobject=sobject, sf_id__in=sf_ids, resolved_at=None
        )
        previous = list(open_errors.values_list("pk", flat=True))
        for start in range(0, len(sf_ids), 200):
            where = f"Id IN {soql.literal_list(sf_ids[start : start + 200])}"
            query = soql.select(plan.select_list(), sobject, where=where)
            page.apply(run.client.query(query, include_deleted=True)["records"])
        SyncError.objects.filter(pk__in=previous).update(resolved_at=timezone.now())
        run.warnings = bool(page.counts.failed)
    return run.record


def _query(plan: ObjectPlan, since: dt.datetime | None) -> str:
    where = f"SystemModstamp >= {soql.literal(since)}" if since else ""
    return soql.select(plan.select_list(), plan.sobject, where=where, order_by="SystemModstamp, Id")


def _with_retries(call: Callable[[], Any]) -> Any:
    """Retry transient failures (timeouts, 5xx, UNABLE_TO_LOCK_ROW) with exponential backoff and jitter. An expired
    session on a helper thread is not retried there: the thread that owns the client repeats the call."""
    for attempt, delay in enumerate((*RETRY_DELAYS, None)):
        try:
            return call()
        except SessionExpiredError:
            raise
        except TransientError:
            if delay is None:
                raise
            time.sleep(delay * (0.5 + random.random()) * settings.SALESFORCE_RETRY_SCALE)
            log.info("Retrying a Salesforce call after a transient failure (attempt %s)", attempt + 2)
    raise AssertionError("unreachable")


def helper_result(future: Future[T], again: Callable[[], T]) -> T:
    """A helper thread's API result; a call it could not make because the access token expired (helpers never
    refresh it) is made again on this thread, which does."""
    try:
        return future.result()
    except SessionExpiredError:
        return again()


def _rest_pages(
    client: SalesforceClient, query: str, first: dict[str, Any] | None = None
) -> Generator[list[dict[str, Any]], None, None]:
    """A query's pages, each next one asked for on a helper thread while the caller applies the one before (the
    API's answer and the database's work overlap instead of adding up). Not through ``_read_ahead``: a page the
    helper could not fetch for an expired session is fetched again here, which a generator run on the helper could
    not resume from."""
    page = first or _with_retries(lambda: client.query(query, include_deleted=True))
    with ThreadPoolExecutor(1, thread_name_prefix="rox-inbound-read") as reads:
        while True:
            if page.get("done", True):
                yield page["records"]
                return
            fetch = functools.partial(_with_retries, functools.partial(client.query_more, page["nextRecordsUrl"]))
            ahead = reads.submit(fetch)
            try:
                yield page["records"]
            except BaseException:
                ahead.cancel()  # the caller stopped: a call not started is not made (one started is waited for)
                raise
            page = helper_result(ahead, fetch)


def _bulk_pages(
    client: SalesforceClient, plan: ObjectPlan, query: str, run: SyncRun, total: int
) -> Generator[list[dict[str, Any]], None, None]:
    """A Bulk API 2.0 queryAll job read page by page (100,000 rows each); falls back to REST paging if the job
    fails before its first page. ``total`` (the first REST page's count) paces the job's status polls."""
    converter = _CsvRows(plan)
    try:
        chunks = client.bulk_query(plan.sobject, query, page_size=BULK_PAGE, expected=total, retry=_with_retries)
        first = next(chunks, None)
    except SalesforceError as exc:
        log.warning("Bulk query of %s failed (%s); reading it page by page instead", plan.sobject, exc)
        run.details["mode"] = "rest"
        run.details["bulk_failed"] = str(exc)
        yield from _rest_pages(client, query)
        return
    if first is None:
        return

    def batches() -> Generator[list[dict[str, Any]], None, None]:
        yield from converter.rows(first)
        for chunk in chunks:
            yield from converter.rows(chunk)

    yield from _read_ahead(batches())


def _read_ahead(items: Generator[T, None, None]) -> Iterator[T]:
    """What ``items`` yields, the next one made on a helper thread while the caller works on this one: a Bulk API
    result's next rows are parsed (and its next page downloaded) while the database stores the rows before. Errors
    reach the caller as they would without the helper; a caller that stops early closes ``items`` after it."""
    end = object()
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="rox-inbound-read") as reads:
            ahead = reads.submit(next, items, end)
            while (item := ahead.result()) is not end:
                ahead = reads.submit(next, items, end)
                try:
                    yield item
                except BaseException:
                    ahead.cancel()  # as above
                    raise
    finally:
        items.close()  # (the pool has waited for its last call: nothing runs ``items`` any more)


class _CsvRows:
    """Bulk API results are CSV: turn each row into the shape a REST query returns (types from the describe,
    nested relationship values, null for empty)."""

    def __init__(self, plan: ObjectPlan) -> None:
        self.types = {name: f.type for name, f in plan.describe.fields.items()}

    def rows(self, text: TextIO) -> Iterator[list[dict[str, Any]]]:
        """A result page's rows, ``BULK_BATCH`` at a time: a page of 100,000 rows is read from its file and applied
        in REST-page-sized batches, so the engine's memory does not grow with the page."""
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        # Each column's conversion, chosen once a page rather than once a cell: plain columns first, in one loop;
        # relationship columns (Owner.Email) nested under their relationship, null when all of theirs are.
        plain = [(i, column, self._converter(column)) for i, column in enumerate(header) if "." not in column]
        nested: dict[str, list[tuple[int, str, Callable[[str], Any]]]] = {}
        for i, column in enumerate(header):
            if "." in column:
                parent, child = column.split(".", 1)
                nested.setdefault(parent, []).append((i, child, self._converter(column)))
        result: list[dict[str, Any]] = []
        for row in reader:
            if len(result) == BULK_BATCH:
                yield result
                result = []
            record = {column: (None if row[i] == "" else convert(row[i])) for i, column, convert in plain}
            for parent, columns in nested.items():
                values = {child: (None if row[i] == "" else convert(row[i])) for i, child, convert in columns}
                record[parent] = values if any(v is not None for v in values.values()) else None
            result.append(record)
        if result:
            yield result

    def _converter(self, column: str) -> Callable[[str], Any]:
        """How a non-empty cell of ``column`` becomes the value a REST query gives (empty cells are null)."""
        kind = self.types.get(column, "string")
        if kind == "boolean":
            return lambda raw: raw.lower() == "true"
        if kind == "int":
            return lambda raw: int(float(raw))
        if kind in ("double", "currency", "percent"):
            return float
        return str
