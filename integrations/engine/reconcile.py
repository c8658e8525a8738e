"""The weekly reconciliation of Ids: records Salesforce no longer has at all (hard-deleted, or emptied from the
recycle bin, which the incremental sync cannot see) are marked deleted in Rox, never hard-deleted here.

It runs under the object's run lock: Salesforce's Ids and Rox's links are read while no other job of the object
(a writeback creating records, an inbound page linking them) can add one in between."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from integrations.engine.locks import BUSY, object_lock
from integrations.engine.plan import object_plans
from integrations.engine.runs import recorded_run
from integrations.models import SalesforceConnection, SalesforceLink, SyncCursor, SyncRun
from integrations.salesforce import soql
from roxcrm.sync_path import records_mark_removed

CHUNK = 5_000
EVERY = dt.timedelta(days=7)


def reconcile(connection: SalesforceConnection, sobject: str, *, wait: float | None = None) -> SyncRun | None:
    """Reconcile ``sobject``'s Ids now; None when another run of the object still holds its lock after ``wait``
    seconds (``SALESFORCE_WRITEBACK_WAIT_SECONDS`` by default): the next hourly check tries again."""
    wait = settings.SALESFORCE_WRITEBACK_WAIT_SECONDS if wait is None else wait
    with object_lock(connection, sobject, wait=wait) as held:
        return _reconcile(connection, sobject) if held else None


def _reconcile(connection: SalesforceConnection, sobject: str) -> SyncRun:
    plans = object_plans(connection.organization, only=sobject)
    missing: list[int] = []
    with recorded_run(connection, SyncRun.Kind.RECONCILE, sobject) as run:
        run.tally = lambda: {"deleted": len(missing)}
        # Every Id Salesforce still has, deleted ones included (those the incremental sync handles itself).
        present: set[str] = set()
        page = run.client.query(soql.select(["Id"], sobject), include_deleted=True)
        while True:
            present.update(r["Id"] for r in page["records"])
            if page.get("done", True):
                break
            page = run.client.query_more(page["nextRecordsUrl"])
        gone = SalesforceLink.objects.filter(
            organization=connection.organization, sobject=sobject, deleted_at=None
        ).values_list("pk", "sf_id", "record_id")
        now = timezone.now()
        pks = []
        for pk, sf_id, record_id in gone.iterator(chunk_size=CHUNK):
            if sf_id not in present:
                pks.append(pk)
                missing.append(record_id)
        SalesforceLink.objects.filter(pk__in=pks).update(deleted_at=now)
        if plans and missing:
            records_mark_removed(
                model=plans[0].model, record_ids=missing, reason="Deleted in Salesforce (no longer found)", at=now
            )
        SyncCursor.objects.filter(connection=connection, sobject=sobject).update(reconciled_at=now)
    return run.record


def reconcile_due(connection: SalesforceConnection) -> str:
    """Reconcile each object read in full at least once whose last reconciliation (or first full read) is a week
    old. Checked every hour, so an object skipped because another run held it is tried again within the hour."""
    due_before = timezone.now() - EVERY
    cursors = {c.sobject: c for c in SyncCursor.objects.filter(connection=connection)}
    results = []
    for plan in object_plans(connection.organization):
        cursor = cursors.get(plan.sobject)
        last = cursor and (cursor.reconciled_at or cursor.backfilled_at)
        if not last or last > due_before:
            continue
        run = reconcile(connection, plan.sobject)
        results.append(f"{plan.sobject}: {BUSY}" if run is None else f"{plan.sobject}: {run.counts['deleted']} gone")
    return "; ".join(results) or "nothing due"
