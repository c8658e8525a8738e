"""Salesforce merges: the losing record comes back deleted with ``MasterRecordId`` = the survivor. In Rox the
loser's links, activities and custom values move to the survivor's record; the loser is kept, hidden, with a note."""

from __future__ import annotations

import datetime as dt

from activities.models import Activity
from integrations.engine.plan import ObjectPlan
from integrations.models import SalesforceLink
from roxcrm.models import Contact, Opportunity
from roxcrm.sync_path import records_mark_removed, records_sync_add_custom, records_sync_set

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
        label = f"Salesforce merge of {plan.sobject}"
        for model, name in CHILDREN.get(plan.rox_object, []):
            children = model.objects.filter(organization=organization, **{f"{name}_id": loser_id})
            records_sync_set(
                model=model,
                record_ids=children.values_list("pk", flat=True),
                values={f"{name}_id": survivor_id},
                at=at,
                label=label,
            )
        loser = plan.model.objects.get(pk=loser_id)
        records_sync_add_custom(
            model=plan.model, record_id=survivor_id, custom=loser.custom_values or {}, at=at, label=label
        )
        reason = f"Merged in Salesforce into “{plan.model.objects.get(pk=survivor_id)}”"
    records_mark_removed(model=plan.model, record_ids=[loser_id], reason=reason, at=at)
