"""The drain: Rox → Salesforce for one object, from the outbox, one loop for records and activities.

Under the object's run lock: rows a dead run left in flight are released, the pending rows are claimed (with
``record_ids``, a person's save waiting for the answer, only those records' rows), the target reads first if it
needs to (records: Salesforce's changes, so a newer Salesforce value wins), and the writer sends the rows chunk by
chunk inside one recorded run (``runs.py``). Every claimed row ends written, waiting for a retry, failed and shown,
or held for review (``outbox.py``): a drain stopped by the API budget, the connection or Salesforce puts what it has
not settled back to pending. Two targets, each only building and applying its chunks: ``RecordWriter``
(``writeback.py``: update through sObject Collections or Bulk API 2.0, create after a match-key look-up) and
``ActivityWriter`` (``activity_writeback.py``: Tasks and Events upserted on ``RoxActivityId__c``)."""

from __future__ import annotations

import datetime as dt
import functools

from integrations import outbox
from integrations.engine.activity_writeback import ActivityWriter
from integrations.engine.locks import BUSY, acquire, release
from integrations.engine.plan import ACTIVITY_OBJECTS, build_plan
from integrations.engine.runner import Progress
from integrations.engine.runs import recorded_run
from integrations.engine.writeback import RecordWriter
from integrations.engine.writing import ChunkWriter, DrainResult
from integrations.models import OutboxEntry, SalesforceConnection, SyncCursor, SyncRun
from integrations.salesforce.errors import BudgetExhaustedError, ConfigurationError, SalesforceError
from mappings.models import ObjectMapping

BUDGET_PAUSE = dt.timedelta(minutes=15)  # rows of a drain the API budget stopped wait this long
CONFIGURATION_PAUSE = dt.timedelta(minutes=5)  # ... and those of a drain stopped by the connection's set-up


def writer_for(sobject: str) -> type[ChunkWriter]:
    return ActivityWriter if sobject in ACTIVITY_OBJECTS else RecordWriter


def drain(
    connection: SalesforceConnection,
    sobject: str,
    *,
    limit: int = 100_000,
    progress: Progress | None = None,
    record_ids: list[int] | None = None,
) -> DrainResult:
    """Write ``sobject``'s pending outbox rows to Salesforce (with ``record_ids``, only those records' rows).
    Returns without running when the object is not mapped or paused, its schema unknown, or another run of it holds
    the lock (the one-minute sweep comes back for what is left)."""
    writer = writer_for(sobject)
    object_mapping = ObjectMapping.objects.filter(organization=connection.organization, sobject=sobject).first()
    if object_mapping is None:
        return DrainResult(None, skipped_reason="the object is not mapped")
    if writer.sync_required and not object_mapping.sync_enabled:
        return DrainResult(None, skipped_reason="the object's sync is paused")
    plan = build_plan(object_mapping)
    if plan is None:
        return DrainResult(None, skipped_reason="Salesforce's schema of the object is not known")
    cursor, _ = SyncCursor.objects.get_or_create(connection=connection, sobject=sobject)
    token = acquire(cursor)
    if token is None:
        return DrainResult(None, skipped_reason=BUSY)
    try:
        outbox.release_stuck(connection.organization_id, sobject)
        entries = outbox.claim(connection.organization_id, sobject, limit, record_ids=record_ids)
        if not entries:
            return DrainResult(None, skipped_reason="nothing to write")
        result = DrainResult(None)
        plan, read = writer.read_first(connection, object_mapping, plan, cursor, record_ids, result)
        with recorded_run(
            connection, SyncRun.Kind.WRITEBACK, sobject, on_failure=functools.partial(_put_back, entries)
        ) as run:
            result.run = run.record
            run.tally = result.counts
            if read is not None:
                run.other_calls = read.api_calls
                if read.outcome == SyncRun.Outcome.PAUSED:
                    raise BudgetExhaustedError(read.error)
            target = writer(connection, plan, run.client, run.record, result, progress)
            target.write(entries)
            target.after()
            run.warnings = bool(result.failed or result.review)
        return result
    finally:
        release(cursor, token)


def _put_back(entries: list[OutboxEntry], exc: SalesforceError) -> None:
    """The drain stopped: the rows it claimed and did not settle wait again (those it settled stay settled)."""
    if isinstance(exc, BudgetExhaustedError):
        delay: dt.timedelta | None = BUDGET_PAUSE
    elif isinstance(exc, ConfigurationError):
        delay = CONFIGURATION_PAUSE
    else:
        delay = None
    outbox.back_to_pending(entries, delay, exc)
