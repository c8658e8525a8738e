"""Records for tests, made through the one edit path like everything else."""

from __future__ import annotations

import datetime as dt
from typing import Any

from activities.models import Activity
from roxcrm.models import Account, Contact, CustomField, Lead, Opportunity, Organization, Product, User
from roxcrm.services import Actor, record_create

SYSTEM = Actor.system("tests")


def make_account(org: Organization, **values: Any) -> Account:
    return record_create(organization=org, model=Account, values={"name": "Initech", **values}, actor=SYSTEM)


def make_contact(org: Organization, **values: Any) -> Contact:
    return record_create(organization=org, model=Contact, values={"last_name": "Gibbons", **values}, actor=SYSTEM)


def make_opportunity(org: Organization, **values: Any) -> Opportunity:
    defaults = {"name": "Renewal", "stage": "Prospecting", "close_date": dt.date(2027, 1, 31)}
    return record_create(organization=org, model=Opportunity, values={**defaults, **values}, actor=SYSTEM)


def make_lead(org: Organization, **values: Any) -> Lead:
    defaults = {"last_name": "Curie", "company": "Radium Labs"}
    return record_create(organization=org, model=Lead, values={**defaults, **values}, actor=SYSTEM)


def make_product(org: Organization, **values: Any) -> Product:
    return record_create(organization=org, model=Product, values={"name": "Platform", **values}, actor=SYSTEM)


def make_activity(org: Organization, **values: Any) -> Activity:
    return record_create(
        organization=org, model=Activity, values={"type": "call", "subject": "Intro call", **values}, actor=SYSTEM
    )


def make_custom_field(org: Organization, created_by: User | None = None, **attrs: Any) -> CustomField:
    attrs.setdefault("object_type", "account")
    attrs.setdefault("label", "Tier")
    attrs.setdefault("api_name", attrs["label"].lower().replace(" ", "_"))
    field = CustomField(organization=org, created_by=created_by, **attrs)
    field.full_clean()
    field.save()
    return field
