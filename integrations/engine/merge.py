"""Salesforce merges: the losing record comes back deleted with ``MasterRecordId`` = the survivor. In Rox the
loser's links, activities and custom values move to the survivor's record; the loser is kept, hidden, with a note."""

from __future__ import annotations

import datetime as dt

from activities.models import Activity
from integrations.engine.plan import ObjectPlan
from integrations.models import SalesforceLink
from roxcrm.models import Contact, Opportunity
from roxcrm.sync_path import records_mark_removed

# Rox object -> (model, foreign key name) of the children that follow a merged parent.
CHILDREN = {
    "account": [(Contact, "account"), (Opportunity, "account"), (Activity, "account")],
    "contact": [(Activity, "contact")],
    "lead": [(Activity, "lead")],
}


def merge_records(*, plan: ObjectPlan, loser_id: int, survivor_sf_id: str, at: dt.datetime) -> None:
    organization = plan.object_mapping.organization
    survivor_link = SalesforceLink.objects.filter(
        organization=organization, sobject=plan.sobject, sf_id=survivor_sf_id
    ).first()
    reason = f"Merged in Salesforce into {survivor_sf_id}"
    if survivor_link is not None and survivor_link.record_id != loser_id:
        survivor_id = survivor_link.record_id
        for model, name in CHILDREN.get(plan.rox_object, []):
            model.objects.filter(organization=organization, **{f"{name}_id": loser_id}).update(
                **{f"{name}_id": survivor_id}
            )
        loser = plan.model.objects.get(pk=loser_id)
        survivor = plan.model.objects.get(pk=survivor_id)
        missing = {k: v for k, v in (loser.custom_values or {}).items() if k not in (survivor.custom_values or {})}
        if missing:
            plan.model.objects.filter(pk=survivor_id).update(
                custom_values={**(survivor.custom_values or {}), **missing}
            )
        reason = f"Merged in Salesforce into “{survivor}”"
    records_mark_removed(model=plan.model, record_ids=[loser_id], reason=reason, at=at)
