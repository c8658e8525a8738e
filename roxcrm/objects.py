"""Every kind of record an organization has, by key: the standard objects (each its own model) and the objects it
added (``ObjectDefinition``: a Salesforce custom object such as ``Project__c``, or a standard one such as ``Case``,
whose records share the ``ObjectRecord`` table). Code that works on "any object" asks here, so an added object is
one definition row and never a second copy of the code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.apps import apps
from django.db.models import QuerySet
from django.urls import reverse

from roxcrm.custom_fields import holding
from roxcrm.models import CrmRecord, ObjectDefinition, ObjectRecord, ObjectType

# A string, not an import, for activities: activities depends on roxcrm, never the other way round.
STANDARD_MODELS = {
    "account": "roxcrm.Account",
    "contact": "roxcrm.Contact",
    "opportunity": "roxcrm.Opportunity",
    "lead": "roxcrm.Lead",
    "product": "roxcrm.Product",
    "opportunity_line_item": "roxcrm.OpportunityLineItem",
    "activity": "activities.Activity",
}
# The objects a Link field may point to besides added ones (activities are not parents of anything).
LINKABLE_STANDARD = ("account", "contact", "opportunity", "lead", "product")


@dataclass(frozen=True)
class RoxObject:
    key: str
    label: str
    plural: str
    definition: ObjectDefinition | None = None

    @property
    def added(self) -> bool:
        return self.definition is not None


def is_standard(key: str) -> bool:
    return key in STANDARD_MODELS


def record_model(key: str) -> type[CrmRecord]:
    """The model holding ``key``'s records: a standard object's own model, else ``ObjectRecord`` (whose rows of
    every added object are told apart by ``object_type``: use ``records_of`` to query them)."""
    if key in STANDARD_MODELS:
        return apps.get_model(STANDARD_MODELS[key])
    return ObjectRecord


def records_of(organization: Any, key: str) -> QuerySet[Any]:
    """The organization's records of ``key`` (``organization`` or its id)."""
    organization_id = getattr(organization, "pk", organization)
    records = record_model(key).objects.filter(organization_id=organization_id)
    return records if is_standard(key) else records.filter(object_type=key)


def record_by_code(organization: Any, key: str, code: Any) -> CrmRecord | None:
    """The organization's record of ``key`` with this code (a UUID or its text), or None for any other value."""
    try:
        parsed = code if isinstance(code, uuid.UUID) else uuid.UUID(str(code))
    except ValueError:
        return None
    return records_of(organization, key).filter(code=parsed).first()


def definition_of(organization: Any, key: str) -> ObjectDefinition | None:
    organization_id = getattr(organization, "pk", organization)
    return ObjectDefinition.objects.filter(organization_id=organization_id, key=key).first()


def rox_object(organization: Any, key: str) -> RoxObject | None:
    """``key``'s names, or None when the organization has no such object (an archived one still counts: its
    records are kept)."""
    standard = dict(ObjectType.choices)
    if key in standard:
        label = str(standard[key])
        return RoxObject(key, label, f"{label}s" if not label.endswith("y") else f"{label[:-1]}ies")
    if key == "opportunity_line_item":
        return RoxObject(key, "Opportunity product", "Opportunity products")
    definition = definition_of(organization, key)
    if definition is None:
        return None
    return RoxObject(key, definition.label, definition.plural, definition)


def link_targets(organization: Any) -> list[RoxObject]:
    """The objects a Link field may point to: the standard parents, then the organization's added objects."""
    found = [obj for key in LINKABLE_STANDARD if (obj := rox_object(organization, key)) is not None]
    organization_id = getattr(organization, "pk", organization)
    for definition in ObjectDefinition.objects.filter(organization_id=organization_id, archived_at=None):
        found.append(RoxObject(definition.key, definition.label, definition.plural, definition))
    return found


def custom_field_objects(organization: Any) -> list[tuple[str, str]]:
    """(key, label) of every object that can have custom fields: the standard ones, then the added ones."""
    organization_id = getattr(organization, "pk", organization)
    added = ObjectDefinition.objects.filter(organization_id=organization_id, archived_at=None)
    return [*((value, str(label)) for value, label in ObjectType.choices), *((d.key, d.label) for d in added)]


def has_owner(organization: Any, key: str) -> bool:
    """Whether records of the added object ``key`` have an owner. A Salesforce master-detail child (a
    ``Milestone__c`` under its project) has no ``OwnerId`` of its own, so adding it maps no owner: its pages then
    show no Owner column, filter or field. An object no Salesforce object is mapped to (made in Rox only) has one.

    The mapping is read through the app registry by name, as ``STANDARD_MODELS`` names activities: ``mappings``
    depends on ``roxcrm``, never the other way round."""
    if not apps.is_installed("mappings"):
        return True
    object_mapping = apps.get_model("mappings", "ObjectMapping")
    organization_id = getattr(organization, "pk", organization)
    mapped = object_mapping.objects.filter(organization_id=organization_id, rox_object=key)
    if not mapped.exists():
        return True
    return mapped.filter(field_mappings__rox_field="owner").exists()


class LinkedRecords(NamedTuple):
    """The records of one added object whose Link field holds a parent record (an account's projects)."""

    title: str
    records: QuerySet[Any]  # the live ones, by name
    listing: str  # the object's list, filtered to this parent
    link: Any  # the Link field (``CustomField``)
    definition: ObjectDefinition


def linked_to(organization: Any, record: CrmRecord) -> list[LinkedRecords]:
    """The records of added objects whose Link fields hold ``record`` (an account's projects), one section per Link
    field, for the record's page."""
    from roxcrm.models import CustomField

    links = CustomField.objects.filter(
        organization=organization, data_type=CustomField.DataType.LINK, target=record.object_type
    ).order_by("object_type", "position")
    definitions = {
        d.key: d
        for d in ObjectDefinition.objects.filter(
            organization=organization, archived_at=None, key__in=[f.object_type for f in links]
        )
    }
    per_object: dict[str, int] = {}
    for link in links:
        per_object[link.object_type] = per_object.get(link.object_type, 0) + 1
    found = []
    for link in links:
        definition = definitions.get(link.object_type)
        if definition is None:
            continue
        title = definition.plural if per_object[link.object_type] == 1 else f"{definition.plural} ({link.label})"
        rows = records_of(organization, link.object_type).filter(holding(link.api_name, record.pk), removed_at=None)
        listing = reverse("object_record_list", args=[record.organization.slug, link.object_type])
        found.append(
            LinkedRecords(
                title,
                rows.select_related("owner").order_by("name"),
                f"{listing}?{link.api_name}={record.code}",
                link,
                definition,
            )
        )
    return found
