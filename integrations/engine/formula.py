"""Formula fields: Salesforce computes them when read, and a change of their inputs elsewhere (a parent's field)
does not move the record's SystemModstamp, so the incremental sync cannot see it. They are refreshed on their own:
all linked records on a schedule (only ``Id`` and the formula fields, page by page), and a changed parent's
children at once (one ``IN`` query per child object and chunk of parents)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from integrations.engine import values
from integrations.engine.locks import BUSY, object_lock
from integrations.engine.plan import ROX_OF_SOBJECT, FieldPlan, ObjectPlan, build_plan
from integrations.engine.runs import recorded_run
from integrations.models import SalesforceConnection, SalesforceLink, SyncCursor, SyncRun
from integrations.salesforce import soql
from integrations.salesforce.client import SalesforceClient
from mappings.defaults import STANDARD_OBJECTS
from mappings.models import ObjectMapping
from roxcrm.bulk import bulk_update
from roxcrm.custom_fields import clean_value
from roxcrm.models import CustomField, ObjectDefinition
from roxcrm.sync_path import SyncChange, records_locked, records_sync_update

# Parent object -> (child object, the child's lookup to it).
CHILDREN = {
    "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId")),
    "Opportunity": (("OpportunityLineItem", "OpportunityId"),),
    "Product2": (("OpportunityLineItem", "Product2Id"),),
}
IN_CHUNK = 500
log = logging.getLogger(__name__)


def refresh_formulas(connection: SalesforceConnection, sobject: str) -> SyncRun | None:
    """Re-read the mapped formula fields of every record of ``sobject``, under the object's run lock; None when it
    maps none, or when another run of the object holds the lock (the hourly check comes back)."""
    plan = _plan(connection, sobject)
    if plan is None or not plan.formula_fields:
        return None
    with object_lock(connection, sobject, wait=settings.SALESFORCE_WRITEBACK_WAIT_SECONDS) as held:
        return _refresh_formulas(connection, plan) if held else None


def _refresh_formulas(connection: SalesforceConnection, plan: ObjectPlan) -> SyncRun:
    sobject = plan.sobject
    updated = 0
    with recorded_run(connection, SyncRun.Kind.FORMULA, sobject) as run:
        run.tally = lambda: {"updated": updated}
        query = soql.select(["Id", *[f.sf_field for f in plan.formula_fields]], sobject, order_by="Id")
        for record_page in _pages(run.client, query):
            updated += _apply(plan, record_page)
        SyncCursor.objects.update_or_create(
            connection=connection, sobject=sobject, defaults={"formula_refreshed_at": timezone.now()}
        )
    return run.record


def refresh_due(connection: SalesforceConnection) -> str:
    """Refresh the objects whose formula fields were last refreshed longer ago than the configured period."""
    from integrations.engine.plan import object_plans

    due_before = timezone.now() - dt.timedelta(hours=settings.SALESFORCE_FORMULA_REFRESH_HOURS)
    done = []
    for plan in object_plans(connection.organization):
        if not plan.formula_fields:
            continue
        cursor = SyncCursor.objects.filter(connection=connection, sobject=plan.sobject).first()
        if cursor and cursor.formula_refreshed_at and cursor.formula_refreshed_at > due_before:
            continue
        run = refresh_formulas(connection, plan.sobject)
        done.append(f"{plan.sobject}: {BUSY}" if run is None else f"{plan.sobject}: {run.counts['updated']} updated")
    return "; ".join(done) or "nothing due"


def refresh_children(connection: SalesforceConnection, parent: str, parent_ids: Iterable[str]) -> int:
    """After parents changed: their children's mapped formula fields, one IN query per child object and chunk,
    each child object under its own run lock (a child busy for longer than the writeback wait is left to the
    scheduled refresh)."""
    ids = list(dict.fromkeys(parent_ids))
    updated = 0
    for child, lookup in _children(connection, parent):
        plan = _plan(connection, child)
        if plan is None or not plan.formula_fields:
            continue
        with object_lock(connection, child, wait=settings.SALESFORCE_WRITEBACK_WAIT_SECONDS) as held:
            if not held:
                log.info("Formula refresh of %s children skipped: %s", child, BUSY)
                continue
            updated += _refresh_children(connection, plan, lookup, ids)
    return updated


def _refresh_children(connection: SalesforceConnection, plan: ObjectPlan, lookup: str, parent_ids: list[str]) -> int:
    """One child object's formula fields, for the children of these parents, as a recorded formula refresh run."""
    updated = 0
    with recorded_run(connection, SyncRun.Kind.FORMULA, plan.sobject) as run:
        run.tally = lambda: {"updated": updated, "parents": len(parent_ids)}
        fields = ["Id", *[f.sf_field for f in plan.formula_fields]]
        for start in range(0, len(parent_ids), IN_CHUNK):
            where = f"{lookup} IN {soql.literal_list(parent_ids[start : start + IN_CHUNK])}"
            for record_page in _pages(run.client, soql.select(fields, plan.sobject, where=where)):
                updated += _apply(plan, record_page)
    return updated


def _children(connection: SalesforceConnection, parent: str) -> list[tuple[str, str]]:
    """(child object, its lookup to ``parent``) for the standard children and for every added object that looks
    ``parent`` up through a mapped Link field (a project's formula on its account's industry)."""
    found = list(CHILDREN.get(parent, ()))
    # Only the added objects with a Link field to the parent's Rox object are planned (not every added object).
    linking = CustomField.objects.filter(
        organization=connection.organization,
        data_type=CustomField.DataType.LINK,
        target=ROX_OF_SOBJECT.get(parent) or ObjectDefinition.key_for(parent),
    ).values("object_type")
    added = ObjectMapping.objects.filter(
        organization=connection.organization, sync_enabled=True, rox_object__in=linking
    ).exclude(sobject__in=[*STANDARD_OBJECTS])
    for mapping in added:
        plan = build_plan(mapping)
        if plan is None or not plan.formula_fields:
            continue
        found += [(plan.sobject, f.sf_field) for f in plan.fields if f.is_reference and parent in f.targets]
    return found


def _plan(connection: SalesforceConnection, sobject: str) -> ObjectPlan | None:
    mapping = ObjectMapping.objects.filter(
        organization=connection.organization, sobject=sobject, sync_enabled=True
    ).first()
    return build_plan(mapping) if mapping else None


def _pages(client: SalesforceClient, query: str) -> Any:
    page = client.query(query)
    while True:
        yield page["records"]
        if page.get("done", True):
            return
        page = client.query_more(page["nextRecordsUrl"])


def _apply(plan: ObjectPlan, records: list[dict[str, Any]]) -> int:
    """Formula values that differ from Rox's are taken (a formula field is always Read Only)."""
    organization = plan.object_mapping.organization
    links = {
        link.sf_id: link
        for link in SalesforceLink.objects.filter(
            organization=organization, sobject=plan.sobject, sf_id__in=[r["Id"] for r in records], deleted_at=None
        )
    }
    with transaction.atomic():
        # Read under the rows' locks: a person's edit saved meanwhile is kept, and the refresh moves the version.
        rox = {r.pk: r for r in records_locked(plan.model, [link.record_id for link in links.values()])}
        changes, touched = [], []
        for record in records:
            link = links.get(record["Id"])
            current = rox.get(link.record_id) if link else None
            if current is None:
                continue
            change = SyncChange(record=current)
            for fp in plan.formula_fields:
                sf_value = fp.salesforce_value(record)
                link.shadow[fp.sf_field] = sf_value
                if _current(fp, current) != sf_value:
                    _set(fp, sf_value, change)
            touched.append(link)
            if change.values or change.custom:
                changes.append(change)
        records_sync_update(model=plan.model, changes=changes, at=timezone.now(), label="Salesforce formula refresh")
        bulk_update(SalesforceLink, touched, ["shadow"])
    return len(changes)


def _current(fp: FieldPlan, record: Any) -> Any:
    if fp.definition is not None:
        return values.CANONICAL[fp.kind]((record.custom_values or {}).get(fp.definition.api_name))
    assert fp.model_field is not None
    return values.CANONICAL[fp.kind](getattr(record, fp.model_field.attname))


def _set(fp: FieldPlan, sf_value: Any, change: SyncChange) -> None:
    if fp.definition is not None:
        try:
            change.custom[fp.definition.api_name] = clean_value(fp.definition, sf_value)
        except ValidationError:
            return  # an unstorable formula value keeps Rox's; the inbound sync reports it as a record error
    elif fp.model_field is not None:
        change.values[fp.model_field.attname] = values.python_value(fp.model_field, sf_value)
