"""Changing mappings: each change is validated against the org's schema, saved, and recorded (who, when, before,
after) in ``MappingChange``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from mappings import metadata
from mappings.defaults import OBJECTS
from mappings.metadata import SalesforceField
from mappings.models import ActivitySettings, FieldMapping, MappingChange, ObjectMapping, StaticValue
from roxcrm.custom_fields import api_name_from_label
from roxcrm.models import CustomField, Organization, User
from roxcrm.services import custom_field_save


def mappings_ensure_defaults(*, organization: Organization) -> list[ObjectMapping]:
    """Every synced object with its basic field mappings, created with the defaults the first time."""
    existing = {m.sobject: m for m in ObjectMapping.objects.filter(organization=organization)}
    with transaction.atomic():
        for sobject, spec in OBJECTS.items():
            if sobject in existing:
                continue
            mapping = ObjectMapping.objects.create(
                organization=organization,
                sobject=sobject,
                rox_object=spec.rox_object,
                tab=spec.tab,
                position=spec.position,
                read_only=spec.read_only,
            )
            FieldMapping.objects.bulk_create(
                FieldMapping(
                    object_mapping=mapping, sf_field=sf_field, rox_field=rox_field, rule=rule, is_basic=True, position=i
                )
                for i, (sf_field, rox_field, rule) in enumerate(spec.basic)
            )
            existing[sobject] = mapping
    return sorted(existing.values(), key=lambda m: (m.tab, m.position))


def _record(
    object_mapping: ObjectMapping, user: User | None, summary: str, before: Any = None, after: Any = None
) -> None:
    MappingChange.objects.create(
        organization=object_mapping.organization,
        object_mapping=object_mapping,
        changed_by=user,
        summary=summary[:255],
        before=before,
        after=after,
    )


def _as_dict(instance: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in fields}


OBJECT_SETTINGS = ("sync_enabled", "sync_frequency", "new_entity_writeback")
FIELD_MAPPING_FIELDS = ("sf_field", "rox_field", "rule")
STATIC_FIELDS = ("sf_field", "value", "clear_field", "when")


def object_mapping_settings(
    *,
    object_mapping: ObjectMapping,
    user: User | None,
    sync_enabled: bool,
    sync_frequency: int,
    new_entity_writeback: bool,
) -> ObjectMapping:
    """Pause or resume the object's sync, set its frequency, switch new entity writeback (validated)."""
    before = _as_dict(object_mapping, OBJECT_SETTINGS)
    object_mapping.sync_enabled = sync_enabled
    object_mapping.sync_frequency = sync_frequency
    object_mapping.new_entity_writeback = new_entity_writeback
    object_mapping.full_clean()
    after = _as_dict(object_mapping, OBJECT_SETTINGS)
    if before != after:
        with transaction.atomic():
            object_mapping.save(update_fields=list(OBJECT_SETTINGS))
            _record(object_mapping, user, f"{object_mapping.sobject}: settings changed", before, after)
    return object_mapping


def field_mapping_save(*, mapping: FieldMapping, user: User | None) -> FieldMapping:
    """Add a mapping or change one (a basic row's Salesforce field, any row's rule), validated first."""
    before = _as_dict(FieldMapping.objects.get(pk=mapping.pk), FIELD_MAPPING_FIELDS) if mapping.pk else None
    if before and mapping.is_basic and before["rox_field"] != mapping.rox_field:
        raise ValidationError({"rox_field": "A basic field's Rox side is fixed; only its Salesforce field can change."})
    mapping.full_clean()
    after = _as_dict(mapping, FIELD_MAPPING_FIELDS)
    if before == after:
        return mapping
    with transaction.atomic():
        if mapping.pk is None:
            last = FieldMapping.objects.filter(object_mapping=mapping.object_mapping).order_by("-position").first()
            mapping.position = (last.position + 1) if last else 0
        mapping.save()
        metadata.mapping_saved(mapping, before)
        verb = "changed" if before else "added"
        _record(
            mapping.object_mapping,
            user,
            f"{mapping.object_mapping.sobject}.{mapping.sf_field} ↔ {mapping.rox_field}: mapping {verb}",
            before,
            after,
        )
    return mapping


def field_mapping_remove(*, mapping: FieldMapping, user: User | None) -> None:
    if mapping.is_basic:
        raise ValidationError("Basic fields cannot be removed: Rox uses them to find and link records.")
    with transaction.atomic():
        _record(
            mapping.object_mapping,
            user,
            f"{mapping.object_mapping.sobject}.{mapping.sf_field} ↔ {mapping.rox_field}: mapping removed",
            _as_dict(mapping, FIELD_MAPPING_FIELDS),
            None,
        )
        mapping.delete()


def static_value_save(*, static: StaticValue, user: User | None) -> StaticValue:
    before = _as_dict(StaticValue.objects.get(pk=static.pk), STATIC_FIELDS) if static.pk else None
    static.full_clean()
    after = _as_dict(static, STATIC_FIELDS)
    if before == after:
        return static
    with transaction.atomic():
        static.save()
        _record(
            static.object_mapping,
            user,
            f"{static.object_mapping.sobject}.{static.sf_field}: static value {'changed' if before else 'added'}",
            before,
            after,
        )
    return static


def static_value_remove(*, static: StaticValue, user: User | None) -> None:
    with transaction.atomic():
        _record(
            static.object_mapping,
            user,
            f"{static.object_mapping.sobject}.{static.sf_field}: static value removed",
            _as_dict(static, STATIC_FIELDS),
            None,
        )
        static.delete()


def picklist_add_options(*, definition: CustomField, options: tuple[str, ...], user: User | None) -> CustomField:
    """Add Salesforce picklist values that a Rox picklist lacks (the one-click fix on a mapping row)."""
    known = {o.lower() for o in definition.options}
    definition.options = [*definition.options, *[o for o in options if o.lower() not in known]]
    definition.full_clean()
    return custom_field_save(field=definition, user=user)


# Salesforce field type -> the Rox data type a new custom field gets for it.
ROX_TYPE_FOR = {
    "string": "text",
    "combobox": "text",
    "id": "text",
    "reference": "text",
    "textarea": "long_text",
    "email": "email",
    "phone": "phone",
    "url": "url",
    "picklist": "picklist",
    "multipicklist": "multi_picklist",
    "boolean": "checkbox",
    "int": "number",
    "double": "number",
    "currency": "currency",
    "percent": "percent",
    "date": "date",
    "datetime": "datetime",
}


def custom_field_draft(*, organization: Organization, object_type: str, sf: SalesforceField) -> CustomField:
    """An unsaved custom Rox field shaped like ``sf``: matching type, length, scale and picklist values."""
    data_type = ROX_TYPE_FOR.get(sf.type, "text")
    field = CustomField(
        organization=organization,
        object_type=object_type,
        label=sf.label[:80],
        api_name=free_api_name(organization=organization, object_type=object_type, label=sf.label),
        data_type=data_type,
    )
    if data_type in ("text", "email", "phone", "url", "long_text") and sf.length:
        field.max_length = min(sf.length, CustomField.LENGTH_CEILING[data_type])
    if data_type in ("number", "currency", "percent"):
        field.decimal_places = min(sf.scale, 8)
    if data_type in ("picklist", "multi_picklist"):
        field.options = list(sf.picklist_values) or ["—"]
    return field


def free_api_name(*, organization: Organization, object_type: str, label: str) -> str:
    """An API name derived from ``label`` that no custom field of the object uses yet."""
    base = api_name_from_label(label)[:55]
    name, n = base, 1
    while CustomField.objects.filter(organization=organization, object_type=object_type, api_name=name).exists():
        n += 1
        name = f"{base}_{n}"
    return name


def custom_field_create_and_map(
    *,
    object_mapping: ObjectMapping,
    field: CustomField,
    sf_field: str,
    rule: str,
    user: User | None,
) -> FieldMapping:
    """+ Add Field: create the custom Rox field and map it to ``sf_field`` in one step; neither is saved if the
    mapping would not be valid."""
    with transaction.atomic():
        field.full_clean()
        custom_field_save(field=field, user=user)
        mapping = FieldMapping(
            object_mapping=object_mapping, sf_field=sf_field, rox_field=f"custom.{field.api_name}", rule=rule
        )
        return field_mapping_save(mapping=mapping, user=user)


ACTIVITY_SWITCHES = (
    "email_writeback",
    "call_writeback",
    "linkedin_message_writeback",
    "linkedin_connection_writeback",
    "meeting_writeback",
    "lead_resolution",
)


def activity_settings_save(*, settings_row: ActivitySettings, user: User | None) -> ActivitySettings:
    """Save the Activities tab's switches, recorded in the mapping history like any mapping change."""
    before = _as_dict(ActivitySettings.objects.get(pk=settings_row.pk), ACTIVITY_SWITCHES) if settings_row.pk else None
    after = _as_dict(settings_row, ACTIVITY_SWITCHES)
    with transaction.atomic():
        settings_row.save()
        if before != after:
            task = ObjectMapping.objects.filter(organization=settings_row.organization, sobject="Task").first()
            if task is not None:
                _record(task, user, "Activities: writeback switches changed", before, after)
    return settings_row
