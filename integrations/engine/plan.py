"""What a sync of one object reads and how each Salesforce field becomes a Rox value: built from the object's
mappings and the org's cached describe. Broken mappings are left out, so the other fields keep syncing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models

from activities.models import Activity
from integrations.engine import values
from mappings.metadata import RoxField, SalesforceObject, rox_fields, salesforce_object
from mappings.models import FieldMapping, ObjectMapping
from mappings.validation import REFERENCE_TARGETS, field_status
from roxcrm.models import CrmRecord, CustomField
from roxcrm.objects import definition_of, is_standard, record_model

SYSTEM_FIELDS = ("Id", "SystemModstamp", "LastModifiedDate", "LastModifiedById", "IsDeleted")
MERGEABLE = {"Account", "Contact", "Lead"}
LEAD_CONVERSION = ("IsConverted", "ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId")
# Salesforce Id prefix -> the object it belongs to (for polymorphic lookups such as WhoId and WhatId).
PREFIX_OBJECTS = {"001": "Account", "003": "Contact", "006": "Opportunity", "00Q": "Lead", "01t": "Product2"}
SOBJECT_OF_ROX = {rox: sf for rox, sf in REFERENCE_TARGETS.items() if rox != "user"}
ROX_OF_SOBJECT = {sf: rox for rox, sf in SOBJECT_OF_ROX.items()}
ACTIVITY_OBJECTS = {"Task", "Event"}


def activity_sobject(activity_type: str) -> str:
    """The Salesforce object an activity of this type is written as: meetings are Events, the rest Tasks."""
    return "Event" if activity_type == Activity.Type.MEETING else "Task"


# What Rox reads of every Task and Event besides the mapped fields, to show them on the timeline.
ACTIVITY_EXTRA = {
    "Task": ("Description", "TaskSubtype", "Type", "CallDurationInSeconds", "CallType", "ActivityDate"),
    "Event": ("Description", "Location", "StartDateTime", "EndDateTime", "DurationInMinutes"),
}


@dataclass(frozen=True)
class FieldPlan:
    sf_field: str
    rox_key: str  # model field name, "custom.<api>", or "activity.*"
    rule: str
    kind: str  # a key of values.CANONICAL, or "managed"
    select: tuple[str, ...]  # what the query selects for it
    calculated: bool = False
    definition: CustomField | None = None
    model_field: models.Field | None = None
    targets: tuple[str, ...] = ()  # for lookups: the Salesforce objects it may point to

    @property
    def reads(self) -> bool:
        return self.rule in FieldMapping.READING_RULES

    @property
    def is_reference(self) -> bool:
        return self.kind == "reference"

    def salesforce_value(self, record: dict[str, Any]) -> Any:
        """The canonical value of this field in a Salesforce query result."""
        if self.kind == "owner":
            owner = record.get(self.select[0].split(".")[0]) or {}
            return values.canonical_email(owner.get("Email"))
        return values.CANONICAL[self.kind](record.get(self.sf_field))


@dataclass
class ObjectPlan:
    object_mapping: ObjectMapping
    sobject: str
    rox_object: str
    model: type[CrmRecord]
    describe: SalesforceObject
    fields: list[FieldPlan] = field(default_factory=list)
    # What every new record of the object is given besides its mapped values: for an added object (records in the
    # shared ``ObjectRecord`` table) its definition and key; nothing for a standard object.
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def added(self) -> bool:
        """An object the organization added (``ObjectDefinition``), not one of the standard ones."""
        return bool(self.identity)

    @property
    def read_fields(self) -> list[FieldPlan]:
        return [f for f in self.fields if f.reads]

    @property
    def formula_fields(self) -> list[FieldPlan]:
        return [f for f in self.fields if f.calculated and f.reads]

    def select_list(self) -> list[str]:
        selected = list(SYSTEM_FIELDS)
        if self.sobject in MERGEABLE and "MasterRecordId" in self.describe.fields:
            selected.append("MasterRecordId")
        if self.sobject == "Lead":
            selected += [f for f in LEAD_CONVERSION if f in self.describe.fields]
        for plan in self.read_fields:
            selected += plan.select
        if self.sobject in ACTIVITY_OBJECTS:
            selected += [f for f in ACTIVITY_EXTRA[self.sobject] if f in self.describe.fields]
        return list(dict.fromkeys(selected))


def build_plan(object_mapping: ObjectMapping) -> ObjectPlan | None:
    """The plan of one object, or None when the org's schema of it is not known (never described)."""
    organization = object_mapping.organization
    describe = salesforce_object(organization, object_mapping.sobject)
    if describe is None:
        return None
    model = record_model(object_mapping.rox_object)
    identity: dict[str, Any] = {}
    if not is_standard(object_mapping.rox_object):
        definition = definition_of(organization, object_mapping.rox_object)
        if definition is None or definition.archived_at is not None:
            return None  # removed from Rox: its records are kept, nothing syncs
        identity = {"definition_id": definition.pk, "object_type": definition.key}
    fields = rox_fields(organization, object_mapping.rox_object)
    definitions = {
        d.api_name: d
        for d in CustomField.objects.filter(organization=organization, object_type=object_mapping.rox_object)
    }
    plan = ObjectPlan(
        object_mapping, object_mapping.sobject, object_mapping.rox_object, model, describe, identity=identity
    )
    for mapping in object_mapping.field_mappings.all():
        status, _ = field_status(mapping, describe, fields)
        rox = fields.get(mapping.rox_field)
        sf = describe.fields.get(mapping.sf_field)
        if status == "broken" or rox is None or sf is None:
            continue
        plan.fields.append(_field_plan(mapping, rox, sf, model, definitions))
    return plan


def _field_plan(
    mapping: FieldMapping,
    rox: RoxField,
    sf: Any,
    model: type[CrmRecord],
    definitions: dict[str, CustomField],
) -> FieldPlan:
    key, rox_type, target = mapping.rox_field, rox.type, rox.target
    common = {"sf_field": mapping.sf_field, "rox_key": key, "rule": mapping.rule, "calculated": sf.calculated}
    if key.startswith("custom."):
        # A Link field is a lookup held in the custom values: to its target's Salesforce object.
        targets = (rox.target_sobject,) if rox_type == "reference" else ()
        return FieldPlan(
            kind=rox_type, select=(mapping.sf_field,), definition=definitions[key[7:]], targets=targets, **common
        )
    if key.startswith("activity."):
        targets = tuple(sf.reference_to) if sf.type == "reference" else ()
        return FieldPlan(kind="managed", select=(mapping.sf_field,), targets=targets, **common)
    model_field = model._meta.get_field(key)
    if rox_type == "reference" and target == "user":
        relationship = (
            mapping.sf_field[:-2] if mapping.sf_field.endswith("Id") else mapping.sf_field.replace("__c", "__r")
        )
        return FieldPlan(kind="owner", select=(f"{relationship}.Email",), model_field=model_field, **common)
    if rox_type == "reference":
        return FieldPlan(
            kind="reference",
            select=(mapping.sf_field,),
            model_field=model_field,
            targets=(SOBJECT_OF_ROX[target],),
            **common,
        )
    kind = rox_type if rox_type in values.CANONICAL else "text"
    if sf.type == "multipicklist":
        kind = "multi_picklist"
    return FieldPlan(kind=kind, select=(mapping.sf_field,), model_field=model_field, **common)


def object_plans(organization: Any, *, only: str | None = None) -> list[ObjectPlan]:
    """Plans of the organization's objects whose sync is on, parents first (Product2 → Account → Contact, Lead →
    Opportunity → OpportunityLineItem → Task, Event)."""
    from mappings.defaults import STANDARD_OBJECTS

    order = {name: i for i, name in enumerate(STANDARD_OBJECTS)}
    mappings = ObjectMapping.objects.filter(organization=organization, sync_enabled=True).prefetch_related(
        "field_mappings"
    )
    if only:
        mappings = mappings.filter(sobject=only)
    plans = [p for p in (build_plan(m) for m in mappings) if p is not None]
    standard = sorted((p for p in plans if not p.added), key=lambda p: order.get(p.sobject, len(order)))
    return [*standard, *_parents_first([p for p in plans if p.added])]


def _parents_first(plans: list[ObjectPlan]) -> list[ObjectPlan]:
    """Added objects after the standard ones, each after the added objects its lookups point to (a Milestone__c
    after its Project__c); a cycle of lookups keeps the objects' order by name."""
    remaining = sorted(plans, key=lambda p: p.sobject)
    names = {p.sobject for p in remaining}
    done: list[ObjectPlan] = []
    while remaining:
        placed = {p.sobject for p in done}
        ready = [
            p
            for p in remaining
            if all(
                t in placed or t not in names or t == p.sobject for f in p.fields if f.is_reference for t in f.targets
            )
        ]
        step = ready or remaining[:1]
        done += step
        remaining = [p for p in remaining if p not in step]
    return done
