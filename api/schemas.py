"""The request and response bodies of the API, from which django-ninja writes the OpenAPI description.

Input schemas carry the limits the edit path enforces that JSON Schema can express (lengths, ranges, enums), so
clients and the documentation see them; everything else (e-mail and URL formats, related records, custom fields)
is checked by ``roxcrm.services`` and answered as a 400 with per-field messages.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from django.utils import timezone
from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, create_model

from activities.models import Activity

# PostgreSQL cannot store NUL in text or JSON, so it is refused up front rather than failing on save.
NO_NUL = r"^[^\x00]*$"
MAX_PAGE = 200
DEFAULT_PAGE = 50

# Salesforce's own range for dates and times: a value outside it could never be written back.
EARLIEST = dt.date(1700, 1, 1)
LATEST = dt.date(4000, 12, 31)


def _iso_date(value: Any) -> Any:
    # Only ISO 8601, as the description says: pydantic would also take a number as a Unix time.
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError("Give a date as YYYY-MM-DD.")
    return dt.date.fromisoformat(value.strip())


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("Give a time in ISO 8601, e.g. 2026-01-31T09:30:00Z.")
    return dt.datetime.fromisoformat(value.strip().upper())


def _date_in_range(value: dt.date) -> dt.date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"Dates run from {EARLIEST} to {LATEST}.")
    return value


def _aware_in_range(value: dt.datetime) -> dt.datetime:
    # A time without an offset is taken as UTC rather than refused, as most tools send one or the other.
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    if not EARLIEST <= value.date() <= LATEST:
        raise ValueError(f"Times run from {EARLIEST} to {LATEST}.")
    return value.astimezone(dt.UTC)


Date = Annotated[dt.date, BeforeValidator(_iso_date), AfterValidator(_date_in_range)]
DateTime = Annotated[dt.datetime, BeforeValidator(_iso_datetime), AfterValidator(_aware_in_range)]
Email = Annotated[str, Field(max_length=254, pattern=NO_NUL)]
ActivityType = Literal[tuple(Activity.Type.values)]  # type: ignore[valid-type]
Direction = Literal["inbound", "outbound", ""]


def text(max_length: int, *, required: bool = False, description: str | None = None) -> Any:
    """A text field of at most ``max_length`` characters; required ones may not be empty."""
    if required:
        return Field(min_length=1, max_length=max_length, pattern=NO_NUL, description=description)
    return Field("", max_length=max_length, pattern=NO_NUL, description=description)


def reference(target: str) -> Any:
    return Field(None, description=f"The `code` of the {target}; `null` to unlink.")


OWNER = Field(None, max_length=254, pattern=NO_NUL, description="E-mail address of a member of the organization.")
PICKLIST = (
    "Mapped to a Salesforce picklist by a writing rule (CRM Mappings), it takes one of that picklist's active "
    "values on a record synced with Salesforce: `GET /api/v1/picklists` lists them."
)
CUSTOM_FIELDS = Field(
    None,
    description="Custom field values keyed by API name (see Settings → Custom fields); `null` clears a value. A "
    "field mapped to a Salesforce picklist by a writing rule takes one of its active values (`GET /api/v1/picklists`).",
)


# ---------------------------------------------------------------------------------------------------------------
# Responses


class Error(Schema):
    code: str = Field(description="A stable, machine-readable reason, e.g. `invalid`, `not_found`, `stale`.")
    message: str
    fields: dict[str, list[str]] = Field(default_factory=dict, description="Messages per field, on 400.")


class PicklistOut(Schema):
    salesforce_field: str = Field(
        description="The Salesforce picklist the field is written to, e.g. `Opportunity.StageName`."
    )
    values: list[str] = Field(description="Its active values, in Salesforce's order: the only ones a write may set.")
    default: str | None = Field(description="The value Salesforce marks as its default, if any.")
    multiple: bool = Field(description="A multi-select picklist: the field holds a list, each one of `values`.")


class SalesforceState(Schema):
    salesforce_id: str | None
    sobject: str | None
    last_synced_at: dt.datetime | None
    deleted_in_salesforce: bool
    pending_writeback: bool
    last_written_at: dt.datetime | None
    last_error: str | None


class RecordOut(Schema):
    code: UUID
    version: int = Field(description="Bumped by every change; the `ETag`. Send it back as `If-Match` to `PATCH`.")
    created_at: dt.datetime
    updated_at: dt.datetime
    removed_at: dt.datetime | None = Field(description="Set when the record was deleted or merged in Salesforce.")
    removed_reason: str
    custom_fields: dict[str, Any]
    salesforce: SalesforceState


class AccountOut(RecordOut):
    name: str
    website: str
    domain: str
    industry: str
    annual_revenue: float | None
    employee_count: int | None
    billing_street: str
    billing_city: str
    billing_state: str
    billing_postal_code: str
    billing_country: str
    phone: str
    owner: str | None


class ContactOut(RecordOut):
    first_name: str
    last_name: str
    email: str
    phone: str
    title: str
    account: UUID | None


class OpportunityOut(RecordOut):
    name: str
    account: UUID | None
    amount: float | None
    stage: str
    close_date: dt.date
    next_step: str
    probability: int | None
    owner: str | None


class ProductOut(RecordOut):
    name: str
    product_code: str
    family: str
    is_active: bool


class ObjectRecordOut(RecordOut):
    """A record of an object the organization added (a Salesforce custom object such as Project__c): its name and
    owner; its other fields under `custom_fields`, a Link field as the code of the record it links to."""

    name: str
    owner: str | None


class LeadOut(RecordOut):
    first_name: str
    last_name: str
    email: str
    company: str
    title: str
    phone: str
    status: str
    owner: str | None
    converted_at: dt.datetime | None
    converted_account: UUID | None
    converted_contact: UUID | None
    converted_opportunity: UUID | None


class ActivityOut(RecordOut):
    type: str
    origin: str = Field(description="`salesforce` when logged in Salesforce: such activities are read-only.")
    subject: str
    body: str
    occurred_at: dt.datetime
    duration_seconds: int | None
    direction: str
    participant_emails: list[str]
    account: UUID | None
    opportunity: UUID | None
    contact: UUID | None
    lead: UUID | None
    owner: str | None
    external_id: str | None


def page_of(out: type[RecordOut]) -> type[Schema]:
    """The list response for ``out``: one page and the cursor of the next (``null`` on the last page)."""
    return create_model(
        out.__name__.removesuffix("Out") + "Page",
        __base__=Schema,
        data=(list[out], ...),
        next_cursor=(str | None, Field(description="Pass as `cursor` to get the next page; `null` at the end.")),
    )


def stale_of(out: type[RecordOut]) -> type[Schema]:
    """The 412 response for ``out``: the error and the record as it is now."""
    return create_model(
        out.__name__.removesuffix("Out") + "Stale",
        __base__=Error,
        current=(out, Field(description="The record as it is now; its `version` is the one to send next.")),
    )


# ---------------------------------------------------------------------------------------------------------------
# Requests


class RecordIn(Schema):
    model_config = ConfigDict(extra="forbid")

    custom_fields: dict[str, Any] | None = CUSTOM_FIELDS


class AccountIn(RecordIn):
    name: str = text(255, required=True)
    website: str = text(255, description="A web address; `https://` is assumed when no scheme is given.")
    industry: str = text(40, description=PICKLIST)
    annual_revenue: Decimal | None = Field(None, ge=0, max_digits=18, decimal_places=2)
    employee_count: int | None = Field(None, ge=0, le=99_999_999)
    billing_street: str = text(255)
    billing_city: str = text(40)
    billing_state: str = text(80)
    billing_postal_code: str = text(20)
    billing_country: str = text(80)
    phone: str = text(40)
    owner: str | None = OWNER


class ContactIn(RecordIn):
    first_name: str = text(40)
    last_name: str = text(80, required=True)
    email: str = text(80, description="An e-mail address, or empty.")
    phone: str = text(40)
    title: str = text(128)
    account: UUID | None = reference("account")


class OpportunityIn(RecordIn):
    name: str = text(120, required=True)
    account: UUID | None = reference("account")
    amount: Decimal | None = Field(None, max_digits=18, decimal_places=2)
    stage: str = text(255, required=True, description=PICKLIST)
    close_date: Date
    next_step: str = text(255)
    probability: int | None = Field(None, ge=0, le=100)
    owner: str | None = OWNER


class ProductIn(RecordIn):
    name: str = text(255, required=True)
    product_code: str = text(255)
    family: str = text(40)
    is_active: bool = True


class ObjectRecordIn(RecordIn):
    name: str = text(255, required=True)
    owner: str | None = OWNER


class LeadIn(RecordIn):
    first_name: str = text(40)
    last_name: str = text(80, required=True)
    email: str = text(80, description="An e-mail address, or empty.")
    company: str = text(255, required=True)
    title: str = text(128)
    phone: str = text(40)
    status: str = Field("Open - Not Contacted", min_length=1, max_length=255, pattern=NO_NUL, description=PICKLIST)
    owner: str | None = OWNER


class ActivityIn(RecordIn):
    type: ActivityType
    subject: str = text(255)
    body: str = text(100_000)
    occurred_at: DateTime = Field(None, description="When it happened; now when left out.")
    duration_seconds: int | None = Field(None, ge=0, le=2_147_483_647)
    direction: Direction = ""
    participant_emails: list[Email] = Field(
        default_factory=list,
        max_length=100,
        description="The other people's addresses. The activity is linked to the Rox contact with one of them "
        "(the most recently updated), or else to such a lead, unless `contact` or `lead` is given.",
    )
    account: UUID | None = reference("account")
    opportunity: UUID | None = Field(
        None, description="The `code` of the opportunity; its account is taken when `account` is left out."
    )
    contact: UUID | None = reference("contact")
    lead: UUID | None = reference("lead")
    owner: str | None = Field(
        None,
        max_length=254,
        pattern=NO_NUL,
        description="E-mail address of a member; defaults to the token's creator for `user` tokens.",
    )
    external_id: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        pattern=NO_NUL,
        description="Your own id for this activity, unique in the organization: posting it again returns the "
        "activity first posted with it (200) instead of logging another.",
    )


def _no_defaults(schema: dict[str, Any]) -> None:
    # A left-out field is left alone, so "default: null" on a field that may not be null would mislead.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class PatchIn(RecordIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_defaults)


def patch_of(create: type[RecordIn], *, exclude: tuple[str, ...] = ()) -> type[RecordIn]:
    """The ``PATCH`` body for ``create``: the same fields and limits, every one optional; only those sent change."""
    fields: dict[str, Any] = {}
    for name, info in create.model_fields.items():
        if name in exclude:
            continue
        optional = info._copy()
        optional.default = None
        optional.default_factory = None
        fields[name] = (info.annotation, optional)
    return create_model(create.__name__.removesuffix("In") + "Patch", __base__=PatchIn, **fields)


class ListFilters(Schema):
    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description=f"Records per page (at most {MAX_PAGE}).")
    cursor: str | None = Field(
        None, min_length=1, max_length=500, pattern=NO_NUL, description="`next_cursor` of the last page."
    )
    updated_since: DateTime | None = Field(None, description="Only records changed at or after this time.")
    q: str | None = Field(None, min_length=1, max_length=200, pattern=NO_NUL, description="Words to search for.")
    include_removed: bool = Field(False, description="Also list records deleted or merged in Salesforce.")


class OwnedFilters(ListFilters):
    owner: str | None = Field(None, min_length=1, max_length=254, pattern=NO_NUL, description="Owner's e-mail address.")


class AccountFilters(OwnedFilters):
    pass


class ContactFilters(ListFilters):
    account: UUID | None = Field(None, description="Only the contacts of this account.")


class OpportunityFilters(OwnedFilters):
    account: UUID | None = Field(None, description="Only the opportunities of this account.")


class LeadFilters(OwnedFilters):
    pass


class ProductFilters(ListFilters):
    pass


class ObjectRecordFilters(OwnedFilters):
    pass


class ActivityFilters(OwnedFilters):
    type: ActivityType | None = None
    account: UUID | None = None
    opportunity: UUID | None = None
    contact: UUID | None = None
    lead: UUID | None = None
