"""What the generic record pages need to know about each kind of record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse

from roxcrm.forms import AccountForm, ContactForm, LeadForm, ObjectRecordForm, OpportunityForm, ProductForm, RecordForm
from roxcrm.models import (
    Account,
    Contact,
    CrmRecord,
    Lead,
    ObjectDefinition,
    ObjectRecord,
    Opportunity,
    Organization,
    Product,
)
from roxcrm.objects import records_of


@dataclass(frozen=True)
class Related:
    """A list of child records shown on a parent's page."""

    title: str
    accessor: str
    columns: tuple[str, ...]
    new_url_name: str = ""
    parent_param: str = ""


@dataclass(frozen=True)
class RecordType:
    key: str
    model: type[CrmRecord]
    form_class: type[RecordForm]
    plural: str
    list_columns: tuple[str, ...]
    search_fields: tuple[str, ...]
    detail_fields: tuple[str, ...]
    empty_hint: str
    select_related: tuple[str, ...] = ()
    related: tuple[Related, ...] = ()
    # query-string parameters that pre-fill a new record, e.g. ?account=<code> on "New contact"
    prefill_parents: tuple[str, ...] = field(default=())
    # An object the organization added (``ObjectDefinition``): its label, and its key for URLs and queries.
    definition: ObjectDefinition | None = None

    @property
    def singular(self) -> str:
        if self.definition is not None:
            return self.definition.label
        return str(self.model._meta.verbose_name)

    def queryset(self, organization: object) -> QuerySet[CrmRecord]:
        """The organization's records for lists: those removed in Salesforce (deleted, merged) are hidden."""
        return records_of(organization, self.key).filter(removed_at=None).select_related(*self.select_related)

    def urls(self, org_slug: str, record: CrmRecord | None = None) -> dict[str, str]:
        """The list and new-record pages, and a record's page and edit page."""
        if self.definition is not None:
            args: list[Any] = [org_slug, self.definition.key]
            names = {action: f"object_record_{action}" for action in ("list", "create", "detail", "edit")}
        else:
            args = [org_slug]
            names = {action: f"{self.key}_{action}" for action in ("list", "create", "detail", "edit")}
        found = {action: reverse(names[action], args=args) for action in ("list", "create")}
        if record is not None:
            found |= {action: reverse(names[action], args=[*args, record.code]) for action in ("detail", "edit")}
        return found

    def new_record(self, organization: Organization) -> CrmRecord:
        """An unsaved record for the new-record form (an added object's names its object)."""
        if self.definition is not None:
            return ObjectRecord(organization=organization, definition=self.definition, object_type=self.key)
        return self.model(organization=organization)

    def search(self, queryset: QuerySet[CrmRecord], query: str) -> QuerySet[CrmRecord]:
        condition = Q()
        for term in query.split():
            term_condition = Q()
            for name in self.search_fields:
                term_condition |= Q(**{f"{name}__icontains": term})
            condition &= term_condition
        return queryset.filter(condition)


ACTIVITY_COLUMNS = ("occurred_at", "type", "subject", "owner")

ACCOUNT = RecordType(
    key="account",
    model=Account,
    form_class=AccountForm,
    plural="Accounts",
    list_columns=("name", "domain", "industry", "billing_city", "owner"),
    search_fields=("name", "domain", "industry", "billing_city"),
    detail_fields=(
        "website",
        "domain",
        "industry",
        "annual_revenue",
        "employee_count",
        "phone",
        "billing_street",
        "billing_city",
        "billing_state",
        "billing_postal_code",
        "billing_country",
        "owner",
    ),
    empty_hint="Accounts are the companies you sell to. Create one, or connect Salesforce to bring yours in.",
    select_related=("owner",),
    related=(
        Related("Contacts", "contacts", ("first_name", "last_name", "email", "title"), "contact_create", "account"),
        Related(
            "Opportunities",
            "opportunities",
            ("name", "stage", "amount", "close_date"),
            "opportunity_create",
            "account",
        ),
        Related("Activities", "activities", ACTIVITY_COLUMNS, "activity_create", "account"),
    ),
)

CONTACT = RecordType(
    key="contact",
    model=Contact,
    form_class=ContactForm,
    plural="Contacts",
    list_columns=("last_name", "first_name", "email", "title", "account"),
    search_fields=("first_name", "last_name", "email", "title", "account__name"),
    detail_fields=("first_name", "last_name", "email", "phone", "title", "account"),
    empty_hint="Contacts are the people at your accounts. Add one from an account's page or here.",
    select_related=("account",),
    related=(Related("Activities", "activities", ACTIVITY_COLUMNS, "activity_create", "contact"),),
    prefill_parents=("account",),
)

OPPORTUNITY = RecordType(
    key="opportunity",
    model=Opportunity,
    form_class=OpportunityForm,
    plural="Opportunities",
    list_columns=("name", "account", "stage", "amount", "close_date", "owner"),
    search_fields=("name", "stage", "account__name", "next_step"),
    detail_fields=("account", "amount", "stage", "close_date", "probability", "next_step", "owner"),
    empty_hint="Opportunities are the deals you are working. Create one to track its stage and amount.",
    select_related=("account", "owner"),
    related=(
        Related("Products", "line_items", ("product", "quantity", "unit_price", "total_price")),
        Related("Activities", "activities", ACTIVITY_COLUMNS, "activity_create", "opportunity"),
    ),
    prefill_parents=("account",),
)

LEAD = RecordType(
    key="lead",
    model=Lead,
    form_class=LeadForm,
    plural="Leads",
    list_columns=("last_name", "first_name", "company", "email", "status", "owner"),
    search_fields=("first_name", "last_name", "company", "email", "status"),
    detail_fields=("first_name", "last_name", "email", "company", "title", "phone", "status", "owner"),
    empty_hint="Leads are people you have not qualified yet. Add one when someone shows interest.",
    select_related=("owner",),
    related=(Related("Activities", "activities", ACTIVITY_COLUMNS, "activity_create", "lead"),),
)

PRODUCT = RecordType(
    key="product",
    model=Product,
    form_class=ProductForm,
    plural="Products",
    list_columns=("name", "product_code", "family", "is_active"),
    search_fields=("name", "product_code", "family"),
    detail_fields=("name", "product_code", "family", "is_active"),
    empty_hint="Products are what you sell; opportunities list them as line items.",
)

CORE_TYPES = (ACCOUNT, CONTACT, OPPORTUNITY, LEAD, PRODUCT)


def added_record_type(definition: ObjectDefinition) -> RecordType:
    """The pages of an object the organization added: its name and owner, its fields as custom fields, its links to
    parents among them."""
    return RecordType(
        key=definition.key,
        model=ObjectRecord,
        form_class=ObjectRecordForm,
        plural=definition.plural,
        list_columns=("name", "owner"),
        search_fields=("name",),
        detail_fields=("name", "owner"),
        empty_hint=f"{definition.plural} come from Salesforce's {definition.sobject}; the next sync brings them in.",
        select_related=("owner",),
        definition=definition,
    )
