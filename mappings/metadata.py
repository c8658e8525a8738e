"""Field metadata handed to the mappings' validation: what a Salesforce field is (from the org's describe, turned
into these dataclasses by ``integrations``) and what a Rox field is (from the models and custom field
definitions). ``mappings`` never calls Salesforce itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from types import ModuleType
from typing import Any

from django.conf import settings
from django.db import models

from roxcrm.custom_fields import definitions_for
from roxcrm.models import Organization, User
from roxcrm.services import editable_fields, record_model


@dataclass(frozen=True)
class SalesforceField:
    name: str
    label: str
    type: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    calculated: bool = False
    formula: str = ""
    auto_number: bool = False
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    defaulted_on_create: bool = False
    external_id: bool = False
    picklist_values: tuple[str, ...] = ()  # the active values, in Salesforce's order
    restricted_picklist: bool = False
    inactive_picklist_values: tuple[str, ...] = ()  # values deactivated in Salesforce (records may still hold them)
    picklist_default: str | None = None  # the active value Salesforce marks as the default, if any
    reference_to: tuple[str, ...] = ()
    master_detail: bool = False  # the lookup to a master record (a detail belongs to it; describe's relationshipOrder)

    @classmethod
    def from_describe(cls, data: dict[str, Any]) -> SalesforceField:
        picklist = [p for p in data.get("picklistValues") or [] if isinstance(p, dict) and "value" in p]
        return cls(
            name=data["name"],
            label=data.get("label") or data["name"],
            type=data.get("type", "string"),
            length=int(data.get("length") or 0),
            precision=int(data.get("precision") or 0),
            scale=int(data.get("scale") or 0),
            calculated=bool(data.get("calculated")),
            formula=data.get("calculatedFormula") or "",
            auto_number=bool(data.get("autoNumber")),
            createable=bool(data.get("createable", True)),
            updateable=bool(data.get("updateable", True)),
            nillable=bool(data.get("nillable", True)),
            defaulted_on_create=bool(data.get("defaultedOnCreate")),
            external_id=bool(data.get("externalId")),
            picklist_values=tuple(p["value"] for p in picklist if p.get("active", True)),
            restricted_picklist=bool(data.get("restrictedPicklist")),
            inactive_picklist_values=tuple(p["value"] for p in picklist if not p.get("active", True)),
            picklist_default=next(
                (p["value"] for p in picklist if p.get("active", True) and p.get("defaultValue") is True), None
            ),
            reference_to=tuple(data.get("referenceTo") or ()),
            master_detail=data.get("relationshipOrder") is not None,
        )

    @property
    def read_only_in_salesforce(self) -> bool:
        """Formula, auto-number and other fields nobody can write."""
        return self.calculated or self.auto_number or not (self.updateable or self.createable)

    @property
    def create_only(self) -> bool:
        """Written when a record is created and never after: Salesforce lets it be set on a new record but not
        changed (a master-detail that cannot be reparented). A writing rule sends it with a create only."""
        return self.createable and not self.updateable and not self.read_only_in_salesforce

    @property
    def required_on_create(self) -> bool:
        return not self.nillable and self.createable and not self.defaulted_on_create and self.type != "boolean"

    @property
    def type_label(self) -> str:
        if self.calculated:
            return f"Formula ({self.type})"
        if self.type in ("string", "textarea", "email", "phone", "url", "picklist", "multipicklist") and self.length:
            return f"{self.type}({self.length})"
        if self.type in ("double", "currency", "percent") and self.precision:
            return f"{self.type}({self.precision}, {self.scale})"
        if self.type == "reference" and self.reference_to:
            shown = ", ".join(self.reference_to[:2])
            more = len(self.reference_to) - 2
            return f"lookup({shown}{f' +{more}' if more > 0 else ''})"
        return self.type


@dataclass(frozen=True)
class SalesforceObject:
    name: str
    label: str
    fields: dict[str, SalesforceField] = field(default_factory=dict)
    createable: bool = True
    updateable: bool = True
    name_field: str = "Name"  # the field the describe marks nameField: Name, or Case's CaseNumber

    @classmethod
    def from_describe(cls, data: dict[str, Any]) -> SalesforceObject:
        described = data.get("fields", [])
        return cls(
            name=data["name"],
            label=data.get("label") or data["name"],
            fields={f["name"]: SalesforceField.from_describe(f) for f in described},
            createable=bool(data.get("createable", True)),
            updateable=bool(data.get("updateable", True)),
            name_field=next((f["name"] for f in described if f.get("nameField")), "Name"),
        )

    def sorted_fields(self) -> list[SalesforceField]:
        return sorted(self.fields.values(), key=lambda f: f.label.lower())


@dataclass(frozen=True)
class RoxField:
    """A field of a Rox record that a mapping can pair with a Salesforce field."""

    key: str  # model field name, or "custom.<api_name>"
    label: str
    type: str  # a custom field data type, or "reference" / "managed"
    max_length: int | None = None
    scale: int = 0
    options: tuple[str, ...] = ()
    target: str = ""  # for references: the Rox object type, or "user"
    target_sobject: str = ""  # for references: the Salesforce object the target is synced with
    editable: bool = True  # False: only sync sets it (read-only in Rox) or Rox derives it
    custom: bool = False
    description: str = ""


@cache
def _schema() -> ModuleType:
    """The module that knows the connected org (``settings.MAPPINGS_SCHEMA``: ``integrations.schema``)."""
    return import_module(settings.MAPPINGS_SCHEMA)


def salesforce_object(organization: Organization, sobject: str) -> SalesforceObject | None:
    """The org's schema of ``sobject`` as last described (cached by ``integrations``; no API call), or None when
    the organization is not connected or the object was never described."""
    return _schema().salesforce_object(organization, sobject)


def mapping_saved(mapping: Any, before: dict[str, Any] | None) -> None:
    """Tell the connected side that a field mapping was added or changed (``before``: its fields before, None
    when new), in the change's transaction: a field it now reads is filled on the records synced before."""
    hook = getattr(_schema(), "mapping_saved", None)
    if hook is not None:
        hook(mapping, before)


def prerequisite_blockers(organization: Organization, sobject: str) -> list[str]:
    """What the connection's prerequisite checks say prevents creating ``sobject`` records in Salesforce."""
    return _schema().prerequisite_blockers(organization, sobject)


# -- Rox fields --------------------------------------------------------------------------------------------------

# Fields the activity writeback fills itself (issue "activity writeback"): shown as locked basic rows.
MANAGED_ACTIVITY_FIELDS: dict[str, RoxField] = {
    "activity.id": RoxField("activity.id", "Rox activity id", "managed", description="The activity's stable Rox id"),
    "activity.subject": RoxField(
        "activity.subject",
        "Subject",
        "managed",
        description="“Email: <subject>”, “Call: <outcome>”, “LinkedIn message”…; a static value overrides it",
    ),
    "activity.who": RoxField("activity.who", "Contact or lead", "managed", description="Matched by e-mail address"),
    "activity.what": RoxField(
        "activity.what", "Opportunity or account", "managed", description="The related opportunity, else account"
    ),
    "activity.status": RoxField("activity.status", "Status", "managed", description="“Completed”"),
    "activity.date": RoxField("activity.date", "Date", "managed", description="The day it happened"),
    "activity.start": RoxField("activity.start", "Start", "managed", description="When the meeting starts"),
    "activity.end": RoxField("activity.end", "End", "managed", description="When the meeting ends"),
}


def rox_fields(organization: Organization, object_type: str, user: User | None = None) -> dict[str, RoxField]:
    """Every standard and custom field of a Rox object that can be mapped, by key."""
    model = record_model(object_type)
    result: dict[str, RoxField] = {}
    editable = editable_fields(model)
    for model_field in model._meta.get_fields():
        if not isinstance(model_field, models.Field) or model_field.name in _NOT_MAPPABLE:
            continue
        described = _describe_model_field(model_field)
        if described is None:
            continue
        result[model_field.name] = RoxField(
            key=model_field.name,
            label=str(model_field.verbose_name).capitalize(),
            editable=model_field.name in editable,
            **described,
        )
    for definition in definitions_for(organization, object_type):
        if user is not None and not definition.visible_to(user):
            continue
        link = definition.data_type == "link"
        result[f"custom.{definition.api_name}"] = RoxField(
            key=f"custom.{definition.api_name}",
            label=definition.label,
            # A Link is a reference like a standard lookup: paired with a Salesforce lookup to its target's object.
            type="reference" if link else definition.data_type,
            target=definition.target if link else "",
            target_sobject=sobject_of(organization, definition.target) if link else "",
            max_length=definition.effective_max_length,
            scale=definition.effective_decimal_places,
            options=tuple(definition.options or ()),
            editable=definition.editable_in_rox,
            custom=True,
        )
    if object_type == "activity":
        result.update(MANAGED_ACTIVITY_FIELDS)
    return result


_NOT_MAPPABLE = {
    "id",
    "code",
    "organization",
    "created_at",
    "updated_at",
    "version",
    "custom_values",
    "field_times",
    # an added object's record: which object it is (never changes, never synced)
    "definition",
    "object_type",
}


def _describe_model_field(model_field: models.Field) -> dict[str, Any] | None:
    if isinstance(model_field, models.ForeignKey):
        target = model_field.related_model
        if target is None:
            return None
        return {"type": "reference", "target": getattr(target, "object_type", "user")}
    if isinstance(model_field, models.EmailField):
        return {"type": "email", "max_length": model_field.max_length}
    if isinstance(model_field, models.URLField):
        return {"type": "url", "max_length": model_field.max_length}
    if isinstance(model_field, models.TextField):
        return {"type": "long_text", "max_length": model_field.max_length}
    if isinstance(model_field, models.CharField):
        if model_field.choices:
            return {"type": "picklist", "options": tuple(str(v) for v, _ in model_field.choices)}
        return {"type": "text", "max_length": model_field.max_length}
    if isinstance(model_field, models.DecimalField):
        return {"type": "number", "scale": model_field.decimal_places}
    if isinstance(model_field, models.IntegerField | models.PositiveIntegerField | models.PositiveSmallIntegerField):
        return {"type": "number", "scale": 0}
    if isinstance(model_field, models.DateTimeField):
        return {"type": "datetime"}
    if isinstance(model_field, models.DateField):
        return {"type": "date"}
    if isinstance(model_field, models.BooleanField):
        return {"type": "checkbox"}
    return None


def sobject_of(organization: Organization, key: str) -> str:
    """The Salesforce object a Rox object is synced with: a standard one's, or the one an added object came from."""
    from mappings.validation import REFERENCE_TARGETS
    from roxcrm.objects import definition_of

    if key in REFERENCE_TARGETS:
        return REFERENCE_TARGETS[key]
    definition = definition_of(organization, key)
    return definition.sobject if definition else ""
