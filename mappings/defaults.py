"""The Salesforce objects Rox syncs and the basic fields of each: the minimum set used to de-duplicate on
writeback and to link records. The CRM Mappings tabs start from these; the preflight checks verify access to them.
"""

from typing import NamedTuple

# Parents first: the order inbound sync follows.
STANDARD_OBJECTS = (
    "Product2",
    "Account",
    "Contact",
    "Lead",
    "Opportunity",
    "OpportunityLineItem",
    "Task",
    "Event",
)

RW, RO = "read_write", "read_only"


class ObjectDefaults(NamedTuple):
    rox_object: str
    tab: str
    position: int
    read_only: bool  # Rox only reads it (shown read-only on its tab)
    basic: tuple[tuple[str, str, str], ...]  # (Salesforce field, Rox field, rule)


OBJECTS: dict[str, ObjectDefaults] = {
    "Account": ObjectDefaults(
        "account",
        "accounts",
        0,
        False,
        (
            ("Name", "name", RW),
            ("Website", "website", RW),
            ("Industry", "industry", RW),
            ("AnnualRevenue", "annual_revenue", RW),
            ("NumberOfEmployees", "employee_count", RW),
            ("BillingStreet", "billing_street", RW),
            ("BillingCity", "billing_city", RW),
            ("BillingState", "billing_state", RW),
            ("BillingPostalCode", "billing_postal_code", RW),
            ("BillingCountry", "billing_country", RW),
            ("Phone", "phone", RW),
            ("OwnerId", "owner", RW),
        ),
    ),
    "Contact": ObjectDefaults(
        "contact",
        "accounts",
        1,
        False,
        (
            ("FirstName", "first_name", RW),
            ("LastName", "last_name", RW),
            ("Email", "email", RW),
            ("Phone", "phone", RW),
            ("Title", "title", RW),
            ("AccountId", "account", RW),
        ),
    ),
    "Opportunity": ObjectDefaults(
        "opportunity",
        "opportunities",
        0,
        False,
        (
            ("Name", "name", RW),
            ("AccountId", "account", RW),
            ("Amount", "amount", RW),
            ("StageName", "stage", RW),
            ("CloseDate", "close_date", RW),
            ("NextStep", "next_step", RW),
            ("OwnerId", "owner", RW),
        ),
    ),
    "OpportunityLineItem": ObjectDefaults(
        "opportunity_line_item",
        "opportunities",
        1,
        True,
        (
            ("OpportunityId", "opportunity", RO),
            ("Product2Id", "product", RO),
            ("Quantity", "quantity", RO),
            ("UnitPrice", "unit_price", RO),
            ("TotalPrice", "total_price", RO),
        ),
    ),
    "Product2": ObjectDefaults(
        "product",
        "opportunities",
        2,
        True,
        (
            ("Name", "name", RO),
            ("ProductCode", "product_code", RO),
            ("Family", "family", RO),
            ("IsActive", "is_active", RO),
        ),
    ),
    "Task": ObjectDefaults(
        "activity",
        "activities",
        0,
        False,
        (
            ("RoxActivityId__c", "activity.id", RW),
            ("Subject", "activity.subject", RW),
            ("ActivityDate", "activity.date", RW),
            ("WhoId", "activity.who", RW),
            ("WhatId", "activity.what", RW),
            ("Status", "activity.status", RW),
            ("OwnerId", "owner", RW),
        ),
    ),
    "Event": ObjectDefaults(
        "activity",
        "activities",
        1,
        False,
        (
            ("RoxActivityId__c", "activity.id", RW),
            ("Subject", "activity.subject", RW),
            ("StartDateTime", "activity.start", RW),
            ("EndDateTime", "activity.end", RW),
            ("WhoId", "activity.who", RW),
            ("WhatId", "activity.what", RW),
            ("OwnerId", "owner", RW),
        ),
    ),
    "Lead": ObjectDefaults(
        "lead",
        "leads",
        0,
        False,
        (
            ("FirstName", "first_name", RW),
            ("LastName", "last_name", RW),
            ("Email", "email", RW),
            ("Company", "company", RW),
            ("Status", "status", RW),
            ("Title", "title", RW),
            ("Phone", "phone", RW),
        ),
    ),
}

# The Salesforce field whose value identifies a record when Rox looks for it before creating it.
MATCH_KEYS = {
    "Account": ("Website", "Name"),
    "Contact": ("Email",),
    "Lead": ("Email",),
    "Opportunity": ("AccountId", "Name"),
    "Task": ("RoxActivityId__c",),
    "Event": ("RoxActivityId__c",),
}

# Rox only reads these (CRM Mappings shows them read-only).
READ_ONLY_OBJECTS = frozenset(name for name, spec in OBJECTS.items() if spec.read_only)
# The minimum fields of each object, for the prerequisite checks of field access.
BASIC_FIELDS: dict[str, tuple[str, ...]] = {name: tuple(f for f, _, _ in spec.basic) for name, spec in OBJECTS.items()}
