"""The weekly reconciliation of Ids: records Salesforce no longer has at all (hard-deleted, or emptied from the
recycle bin, which the incremental sync cannot see) are marked deleted in Rox, never hard-deleted here."""

from __future__ import annotations

from django.utils import timezone

from integrations.engine.plan import object_plans
from integrations.models import SalesforceConnection, SalesforceLink, SyncCursor, SyncRun
from integrations.salesforce import soql
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import SalesforceError
from roxcrm.sync_path import records_mark_removed

CHUNK = 5_000


def reconcile(connection: SalesforceConnection, sobject: str) -> SyncRun:
    plans = object_plans(connection.organization, only=sobject)
    run = SyncRun.objects.create(
        connection=connection, kind=SyncRun.Kind.RECONCILE, sobject=sobject, started_at=timezone.now()
    )
    client = SalesforceClient(connection)
    missing: list[int] = []
    try:
        # Every Id Salesforce still has, deleted ones included (those the incremental sync handles itself).
        present: set[str] = set()
        page = client.query(soql.select(["Id"], sobject), include_deleted=True)
        while True:
            present.update(r["Id"] for r in page["records"])
            if page.get("done", True):
                break
            page = client.query_more(page["nextRecordsUrl"])
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
        run.outcome = SyncRun.Outcome.SUCCEEDED
    except SalesforceError as exc:
        run.outcome, run.error = SyncRun.Outcome.FAILED, str(exc)
    run.finished_at, run.api_calls, run.counts = timezone.now(), client.calls, {"deleted": len(missing)}
    run.save()
    client.save_usage()
    return run


def reconcile_all(connection: SalesforceConnection) -> str:
    results = [reconcile(connection, plan.sobject) for plan in object_plans(connection.organization)]
    return "; ".join(f"{r.sobject}: {r.counts.get('deleted', 0)} gone" for r in results)
