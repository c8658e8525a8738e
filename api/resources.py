"""What the API serves for each kind of record: its schemas, its list filters, and how a record is shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models

from activities.models import Activity
from activities.record_types import ACTIVITY
from api import schemas
from roxcrm import record_types
from roxcrm.models import CrmRecord, ObjectDefinition, User
from roxcrm.objects import records_of
from roxcrm.record_types import RecordType


@dataclass(frozen=True)
class Resource:
    name: str  # the URL segment and the OpenAPI tag
    record_type: RecordType  # model and search fields, shared with the pages
    out: type[schemas.RecordOut]
    create: type[schemas.RecordIn]
    filters: type[schemas.ListFilters]
    # list query parameter -> queryset lookup; references are given by code, owners by e-mail
    filter_lookups: dict[str, str] = field(default_factory=dict)
    # fields of ``create`` that only creating takes (not a model field, so not in the PATCH body)
    create_only: tuple[str, ...] = ()

    @property
    def model(self) -> type[CrmRecord]:
        return self.record_type.model

    @property
    def object_type(self) -> str:
        definition = self.record_type.definition
        return definition.key if definition is not None else self.model.object_type

    def records(self, organization: Any) -> Any:
        """The organization's records of this resource (an added object's only: they share a table)."""
        return records_of(organization, self.object_type)

    @cached_property
    def patch(self) -> type[schemas.RecordIn]:
        return schemas.patch_of(self.create, exclude=self.create_only)

    @cached_property
    def fields(self) -> tuple[str, ...]:
        """The model fields shown, in the order of the response schema."""
        common = schemas.RecordOut.model_fields
        return tuple(name for name in self.out.model_fields if name not in common and _is_model_field(self.model, name))

    @cached_property
    def references(self) -> tuple[str, ...]:
        """The shown fields that point at another record or a person (fetched with the record)."""
        return tuple(name for name in self.fields if self.model._meta.get_field(name).is_relation)


def _is_model_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


OWNED = {"owner": "owner__email__iexact"}

RESOURCES = {
    resource.name: resource
    for resource in (
        Resource(
            "accounts",
            record_types.ACCOUNT,
            schemas.AccountOut,
            schemas.AccountIn,
            schemas.AccountFilters,
            OWNED,
        ),
        Resource(
            "contacts",
            record_types.CONTACT,
            schemas.ContactOut,
            schemas.ContactIn,
            schemas.ContactFilters,
            {"account": "account__code"},
        ),
        Resource(
            "opportunities",
            record_types.OPPORTUNITY,
            schemas.OpportunityOut,
            schemas.OpportunityIn,
            schemas.OpportunityFilters,
            {**OWNED, "account": "account__code"},
        ),
        Resource(
            "leads",
            record_types.LEAD,
            schemas.LeadOut,
            schemas.LeadIn,
            schemas.LeadFilters,
            OWNED,
        ),
        Resource("products", record_types.PRODUCT, schemas.ProductOut, schemas.ProductIn, schemas.ProductFilters),
        Resource(
            "activities",
            ACTIVITY,
            schemas.ActivityOut,
            schemas.ActivityIn,
            schemas.ActivityFilters,
            {
                **OWNED,
                "type": "type",
                "account": "account__code",
                "opportunity": "opportunity__code",
                "contact": "contact__code",
                "lead": "lead__code",
            },
            create_only=("external_id",),
        ),
    )
}


def shown_value(record: CrmRecord, name: str) -> Any:
    """A model field's value as the API shows it: related records by code, people by e-mail."""
    value = getattr(record, name)
    if isinstance(value, User):
        return value.email
    if isinstance(value, CrmRecord):
        return value.code
    return value


def external_id_of(activity: Activity) -> str | None:
    try:
        return activity.api_external_id.external_id
    except ObjectDoesNotExist:
        return None


def added_object_resource(definition: ObjectDefinition) -> Resource:
    """The API of an object the organization added, at ``/api/v1/objects/<API name>/``."""
    return Resource(
        f"objects/{definition.sobject}",
        record_types.added_record_type(definition),
        schemas.ObjectRecordOut,
        schemas.ObjectRecordIn,
        schemas.ObjectRecordFilters,
        OWNED,
    )
