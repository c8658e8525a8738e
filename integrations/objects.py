"""Adding a Salesforce object to the sync (issue 16): any custom object (``Project__c``) or a standard one Rox has
no model of its own for (``Case``). The org's ``describeGlobal`` says which objects can be added; adding one reads
its describe and makes, in one transaction, a Rox object for it (``roxcrm.ObjectDefinition``), its object mapping
and its field mappings: Name, the owner, every lookup to an object Rox syncs as a Link field, and the fields the
admin chose, each as a custom Rox field of the matching type. The engine then syncs it like any other object (one
engine: ``integrations/engine`` plans, reads and writes added objects with the same code as the standard ones).

Removing an object stops its sync and archives it: its records, links, history and mappings stay and come back as
they were when it is added again (``removed_object`` says what would come back). Deleting its records as well is a
second, explicit step."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from integrations import schema
from integrations.models import (
    Conflict,
    DescribeCache,
    OutboxEntry,
    PendingReference,
    SalesforceConnection,
    SalesforceLink,
    SyncCursor,
    SyncError,
)
from integrations.salesforce.client import SalesforceClient
from integrations.schedules import schedules_sync
from mappings import services as mapping_services
from mappings.defaults import STANDARD_OBJECTS
from mappings.metadata import SalesforceField, SalesforceObject, rox_fields
from mappings.models import FieldMapping, MappingChange, ObjectMapping, Tab, mapping_in_words
from roxcrm.models import CustomField, ObjectDefinition, ObjectRecord, User
from roxcrm.objects import definition_of

# Objects that hold no records of their own to sync: history, sharing, feeds, change events, platform events, big
# objects, custom metadata, external objects, knowledge article versions.
UNSYNCABLE_SUFFIXES = (
    "__History",
    "__Share",
    "__Feed",
    "__Tag",
    "__ChangeEvent",
    "__e",
    "__b",
    "__mdt",
    "__x",
    "__xo",
    "__kav",
    "__ka",
    "__dlm",
    "History",
    "Share",
    "Feed",
    "ChangeEvent",
)
# Standard objects Rox handles itself or that are not CRM records.
NOT_ADDABLE = frozenset(
    {*STANDARD_OBJECTS, "User", "Group", "Pricebook2", "PricebookEntry", "RecordType", "Organization", "Profile"}
)
WRITING_RULES = ("read_write", "write_only", "prefer_salesforce")
NOT_ADDABLE_REASON = "{sobject} is synced by Rox already or is not a CRM record; it cannot be added."
DESCRIBE_FRESH = dt.timedelta(minutes=5)  # a describe read this recently is not read again to add its object
# Fields Rox maps itself (Name, the owner) or that Salesforce keeps (never offered as fields to map).
SYSTEM_FIELDS = frozenset(
    {
        "Id",
        "Name",
        "OwnerId",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
        "LastViewedDate",
        "LastReferencedDate",
        "LastActivityDate",
        "MasterRecordId",  # the record a merged one was merged into (standard objects)
    }
)


@dataclass(frozen=True)
class Addable:
    sobject: str
    label: str
    plural: str
    custom: bool
    createable: bool
    removed_at: dt.datetime | None = None  # removed from Rox before: adding it again restores it as it was


def syncable(summary: dict[str, Any]) -> bool:
    """Whether a ``describeGlobal`` entry is an object whose records can be synced: queryable and replicated (Rox
    reads by ``SystemModstamp``), with page layouts (business records, not setup data), not hidden or a setting."""
    name = summary.get("name", "")
    return (
        bool(summary.get("queryable"))
        and summary.get("retrieveable", True)
        and summary.get("replicateable", True)
        and summary.get("layoutable", True)
        and not summary.get("deprecatedAndHidden")
        and not summary.get("customSetting")
        and not name.endswith(UNSYNCABLE_SUFFIXES)
    )


def addable_objects(connection: SalesforceConnection) -> list[Addable]:
    """The org's objects the integration user can read that are not synced yet: custom objects first, then standard
    ones, each by label. One API call (``describeGlobal``)."""
    client = SalesforceClient(connection)
    try:
        summaries = client.describe_global()["sobjects"]
    finally:
        client.save_usage()
    synced = set(
        ObjectMapping.objects.filter(organization=connection.organization, sync_enabled=True).values_list(
            "sobject", flat=True
        )
    )
    removed = dict(
        ObjectDefinition.objects.filter(organization=connection.organization, archived_at__isnull=False).values_list(
            "sobject", "archived_at"
        )
    )
    found = [
        Addable(
            s["name"],
            s.get("label") or s["name"],
            s.get("labelPlural") or s["name"],
            bool(s.get("custom")),
            bool(s.get("createable")),
            removed.get(s["name"]),
        )
        for s in summaries
        if syncable(s) and s["name"] not in NOT_ADDABLE and s["name"] not in synced
    ]
    return sorted(found, key=lambda a: (not a.custom, a.label.lower()))


@dataclass(frozen=True)
class Preview:
    """What adding an object would map: its label, its fields (those Rox can map), the ones proposed."""

    sobject: str
    label: str
    fields: list[SalesforceField]
    proposed: list[SalesforceField]


@dataclass(frozen=True)
class Removed:
    """An added object removed from Rox (archived) and what adding it again restores: its records and its earlier
    mappings, each in words ("Status__c → Status, Read and Write"), on its earlier tab."""

    sobject: str
    label: str
    removed_at: dt.datetime
    records: int
    mappings: list[str]
    tab: str


def removed_object(organization: Any, sobject: str) -> Removed | None:
    """``sobject`` when it was added to Rox and removed since (its records kept), else None."""
    definition = definition_of(organization, ObjectDefinition.key_for(sobject))
    if definition is None or definition.archived_at is None:
        return None
    object_mapping = ObjectMapping.objects.filter(organization=organization, sobject=sobject).first()
    if object_mapping is None:
        return None
    labels = {key: field.label for key, field in rox_fields(organization, definition.key).items()}
    return Removed(
        sobject=sobject,
        label=definition.label,
        removed_at=definition.archived_at,
        records=ObjectRecord.objects.filter(organization=organization, object_type=definition.key).count(),
        mappings=[
            mapping_in_words(m.sf_field, labels.get(m.rox_field, m.rox_field), m.rule)
            for m in object_mapping.field_mappings.all()
        ],
        tab=object_mapping.tab,
    )


def object_preview(connection: SalesforceConnection, sobject: str) -> Preview:
    """Read ``sobject``'s describe (one call) for + Add object's second step. ``ValidationError`` when it cannot
    be added."""
    organization = connection.organization
    existing = ObjectMapping.objects.filter(organization=organization, sobject=sobject, sync_enabled=True)
    if existing.exists():
        raise ValidationError(f"{sobject} is synced already.")
    described, sf_object = _described(connection, sobject)
    linkable = linkable_sobjects(organization)
    mappable = [
        sf
        for sf in sf_object.sorted_fields()
        if sf.name not in SYSTEM_FIELDS
        and sf.name != sf_object.name_field
        and (sf.type != "reference" or _link_target(sf, linkable, sobject))
    ]
    return Preview(sobject, described.get("label") or sobject, mappable, _chosen_fields(organization, sf_object, None))


def object_add(
    connection: SalesforceConnection,
    sobject: str,
    *,
    fields: list[str] | None = None,
    rule: str = FieldMapping.Rule.READ_ONLY,
    tab: str = Tab.CUSTOM,
    user: User | None = None,
) -> ObjectMapping:
    """Add ``sobject`` to the sync, as CRM Mappings' **+ Add object** does. ``fields``: the Salesforce fields to map
    (besides Name); by default the owner and every lookup to an object Rox syncs. ``rule`` applies to each field
    Salesforce lets the integration user write (the others are Read Only; one Salesforce sets only on create, a
    detail's master, keeps it and is written when Rox creates the record). Raises ``ValidationError`` (nothing
    saved) with the reason.

    An object removed before (``removed_object``) is restored exactly as it was: its records, links and its
    earlier mappings, on its earlier tab; ``fields``, ``rule`` and ``tab`` are not applied to it (mapping the
    chosen fields over the earlier ones would leave the restored records' values under mappings they were not
    read with). + Add object says so before the admin adds it and offers no choices for it; the mappings are
    changed on CRM Mappings once it is back."""
    organization = connection.organization
    if sobject in NOT_ADDABLE:
        raise ValidationError(NOT_ADDABLE_REASON.format(sobject=sobject))
    if rule not in FieldMapping.Rule.values:
        raise ValidationError(f"“{rule}” is not a rule; use one of {', '.join(FieldMapping.Rule.values)}.")
    if tab not in Tab.values:
        raise ValidationError(f"“{tab}” is not a CRM Mappings tab; use one of {', '.join(Tab.values)}.")
    existing = ObjectMapping.objects.filter(organization=organization, sobject=sobject).first()
    key = ObjectDefinition.key_for(sobject)
    definition = definition_of(organization, key)
    if existing is not None and definition is not None and definition.archived_at is not None:
        return _restore(connection, existing, definition, user)
    if existing is not None:
        raise ValidationError(f"{sobject} is synced already (CRM Mappings, {existing.get_tab_display()} tab).")
    described, sf_object = _described(connection, sobject)
    chosen = _chosen_fields(organization, sf_object, fields)
    with transaction.atomic():
        definition = ObjectDefinition.objects.create(
            organization=organization,
            key=key,
            sobject=sobject,
            label=(described.get("label") or sobject)[:80],
            plural=(described.get("labelPlural") or described.get("label") or sobject)[:80],
            parent_tab="" if tab == Tab.CUSTOM else tab,
            created_by=user,
        )
        last = ObjectMapping.objects.filter(organization=organization, tab=tab).aggregate(Max("position"))
        object_mapping = ObjectMapping.objects.create(
            organization=organization,
            sobject=sobject,
            rox_object=key,
            tab=tab,
            position=(last["position__max"] or 0) + 1,
            read_only=not (sf_object.createable or sf_object.updateable),
        )
        MappingChange.objects.create(
            organization=organization,
            object_mapping=object_mapping,
            changed_by=user,
            summary=f"{sobject}: object added",
            after={"fields": [f.name for f in chosen], "rule": rule},
        )
        _map_basic(object_mapping, sf_object, rule, user)
        for sf in chosen:
            _map_field(object_mapping, sf, rule, user)
    schedules_sync(connection)
    _recheck(connection, user)
    return object_mapping


def _recheck(connection: SalesforceConnection, user: User | None) -> None:
    """The prerequisite checks again, now covering the added object (its access, its mapped fields): the
    connection asks for action at once if the integration user cannot read or edit it, and new entity writeback
    is gated on the object's Create permission."""
    from integrations import services

    services.preflight_run(connection=SalesforceConnection.objects.get(pk=connection.pk), user=user)


def _described(connection: SalesforceConnection, sobject: str) -> tuple[dict[str, Any], SalesforceObject]:
    """``sobject``'s describe, raw and parsed, for adding it: read from Salesforce (one call) unless it was read in the
    last few minutes (+ Add object's field step has just read it). ``ValidationError`` when it cannot be added."""
    if sobject in NOT_ADDABLE:
        raise ValidationError(NOT_ADDABLE_REASON.format(sobject=sobject))
    recent = DescribeCache.objects.filter(
        connection=connection, sobject=sobject, fetched_at__gte=timezone.now() - DESCRIBE_FRESH
    )
    if not recent.exists():
        schema.describe_refresh(connection, [sobject])
    described = schema.describe_data(connection, sobject)
    sf_object = schema.salesforce_object(connection.organization, sobject)
    if described is None or sf_object is None:
        raise ValidationError(
            f"Salesforce has no object {sobject} that the integration user can read. Check its API name, and give "
            "the integration user Read on it (a permission set in Salesforce Setup)."
        )
    if not syncable(described):
        raise ValidationError(f"{sobject} holds no records Rox can sync (history, sharing, events or settings).")
    return described, sf_object


def object_remove(
    connection: SalesforceConnection, sobject: str, *, delete_records: bool = False, user: User | None = None
) -> int:
    """Stop syncing an added object. Its records, links and mappings are kept (archived, restored by adding it
    again) unless ``delete_records``: then they are deleted for good, with its custom fields. Returns how many
    records it had."""
    organization = connection.organization
    key = ObjectDefinition.key_for(sobject)
    definition = definition_of(organization, key)
    object_mapping = ObjectMapping.objects.filter(organization=organization, sobject=sobject).first()
    if definition is None or object_mapping is None:
        raise ValidationError(f"{sobject} is not an object added to Rox (standard objects are paused, not removed).")
    records = ObjectRecord.objects.filter(organization=organization, object_type=key)
    count = records.count()
    with transaction.atomic():
        if delete_records:
            mine = {"organization": organization, "rox_object": key}
            OutboxEntry.objects.filter(**mine).delete()
            SyncError.objects.filter(**mine).delete()
            Conflict.objects.filter(**mine).delete()
            links = SalesforceLink.objects.filter(**mine)
            PendingReference.objects.filter(child__in=links).delete()
            links.delete()
            records.delete()
            CustomField.objects.filter(organization=organization, object_type=key).delete()
            SyncCursor.objects.filter(connection=connection, sobject=sobject).delete()
            object_mapping.delete()
            definition.delete()
        else:
            definition.archived_at = timezone.now()
            definition.save(update_fields=["archived_at"])
            object_mapping.sync_enabled = False
            object_mapping.save(update_fields=["sync_enabled"])
            MappingChange.objects.create(
                organization=organization,
                object_mapping=object_mapping,
                changed_by=user,
                summary=f"{sobject}: object removed (its {count} records kept)",
            )
    schedules_sync(connection)
    _recheck(connection, user)  # a failing check of the removed object no longer asks for action
    return count


def _restore(
    connection: SalesforceConnection, object_mapping: ObjectMapping, definition: ObjectDefinition, user: User | None
) -> ObjectMapping:
    with transaction.atomic():
        definition.archived_at = None
        definition.save(update_fields=["archived_at"])
        object_mapping.sync_enabled = True
        object_mapping.save(update_fields=["sync_enabled"])
        MappingChange.objects.create(
            organization=connection.organization,
            object_mapping=object_mapping,
            changed_by=user,
            summary=f"{object_mapping.sobject}: object added again (its records and earlier mappings restored)",
        )
    schedules_sync(connection)
    _recheck(connection, user)
    return object_mapping


def linkable_sobjects(organization: Any) -> dict[str, str]:
    """Salesforce object → the Rox object a lookup to it becomes a Link to: the synced standard parents and every
    added object."""
    from mappings.validation import REFERENCE_TARGETS

    found = {sf: rox for rox, sf in REFERENCE_TARGETS.items() if rox != "user"}
    for definition in ObjectDefinition.objects.filter(organization=organization):
        found[definition.sobject] = definition.key
    return found


def _chosen_fields(organization: Any, sf_object: SalesforceObject, fields: list[str] | None) -> list[SalesforceField]:
    """The fields to map besides Name (and the owner): the admin's, or the lookups to objects Rox syncs."""
    linkable = linkable_sobjects(organization)
    if fields is None:
        return [
            sf
            for sf in sf_object.sorted_fields()
            if sf.type == "reference" and sf.name not in SYSTEM_FIELDS and _link_target(sf, linkable, sf_object.name)
        ]
    unknown = [name for name in fields if name not in sf_object.fields]
    if unknown:
        raise ValidationError(f"{sf_object.name} has no field {', '.join(unknown)} the integration user can read.")
    chosen = []
    for name in dict.fromkeys(fields):
        sf = sf_object.fields[name]
        if name in SYSTEM_FIELDS or name == sf_object.name_field:
            continue  # mapped as a basic field
        if sf.type == "reference" and not _link_target(sf, linkable, sf_object.name):
            raise ValidationError(
                f"{name} looks up {', '.join(sf.reference_to) or 'nothing'}, which Rox does not sync: add that "
                "object first."
            )
        chosen.append(sf)
    return chosen


def _link_target(sf: SalesforceField, linkable: dict[str, str], own: str) -> str:
    targets = [linkable.get(t) or (ObjectDefinition.key_for(own) if t == own else "") for t in sf.reference_to]
    return targets[0] if len(targets) == 1 and targets[0] else ""


def _rule_for(sf: SalesforceField, rule: str) -> str:
    """The rule a field is mapped with: the admin's, but Read Only for a field nobody can write. A field Salesforce
    sets only on create (a master-detail that cannot be reparented) keeps a writing rule: Rox writes it when it
    creates the record (a new detail needs its master) and never after."""
    if rule in WRITING_RULES and sf.read_only_in_salesforce:
        return FieldMapping.Rule.READ_ONLY
    return rule


def _map_basic(object_mapping: ObjectMapping, sf_object: SalesforceObject, rule: str, user: User | None) -> None:
    """The name and the owner: the basic fields of an added object (the name is what a create is matched by). The
    name is the field the describe marks as the name: Name, or a standard object's own (Case's CaseNumber)."""
    basic = [(sf_object.name_field, "name"), ("OwnerId", "owner")]
    for position, (sf_field, rox_field) in enumerate(basic):
        sf = sf_object.fields.get(sf_field)
        if sf is None:
            continue  # a detail of a master-detail has no owner of its own
        mapping = FieldMapping(
            object_mapping=object_mapping,
            sf_field=sf_field,
            rox_field=rox_field,
            rule=_rule_for(sf, rule),
            is_basic=True,
            position=position,
        )
        mapping_services.field_mapping_save(mapping=mapping, user=user)


def _map_field(object_mapping: ObjectMapping, sf: SalesforceField, rule: str, user: User | None) -> None:
    organization = object_mapping.organization
    key = object_mapping.rox_object
    if sf.type == "reference" and sf.label.endswith(" ID"):
        # A standard lookup's label names the Id ("Account ID"): the Link field shows the record, so "Account".
        sf = dataclasses.replace(sf, label=sf.label.removesuffix(" ID"))
    field = mapping_services.custom_field_draft(organization=organization, object_type=key, sf=sf)
    if sf.type == "reference":
        field.data_type = CustomField.DataType.LINK
        field.target = _link_target(sf, linkable_sobjects(organization), object_mapping.sobject)
        field.max_length = None
    field.editable_in_rox = not sf.read_only_in_salesforce
    mapping_services.custom_field_create_and_map(
        object_mapping=object_mapping, field=field, sf_field=sf.name, rule=_rule_for(sf, rule), user=user
    )
