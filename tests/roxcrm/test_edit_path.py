"""The one edit path: per-field change times and actors, nothing written when validation fails."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from roxcrm.models import Account, Contact, FieldChange, Opportunity, Organization, User
from roxcrm.services import Actor, StaleRecordError, record_create, record_update
from tests.factories import make_account, make_custom_field, make_opportunity


def test_an_edit_records_when_each_changed_field_changed_and_who_changed_it(
    org: Organization, admin_user: User, member_user: User
) -> None:
    opportunity = make_opportunity(org, amount=Decimal("1000"))
    before = timezone.now()
    change = record_update(
        record=opportunity,
        values={"amount": Decimal("2500.00"), "stage": "Prospecting", "next_step": "Send quote"},
        actor=Actor.person(member_user),
    )
    # stage was already "Prospecting": only the two real changes count.
    assert set(change.changes) == {"amount", "next_step"}
    assert change.changes["amount"] == ("1000", "2500")
    opportunity.refresh_from_db()
    assert opportunity.version == 2
    for name in ("amount", "next_step"):
        stamp = opportunity.field_times[name]
        assert stamp["by"] == "user"
        assert dt.datetime.fromisoformat(stamp["at"]) >= before
    assert opportunity.field_times["stage"]["by"] == "system"  # untouched since the factory created it
    rows = FieldChange.objects.filter(record_id=opportunity.pk, object_type="opportunity", record_version=2)
    assert {(r.field, r.actor_kind, r.actor_user_id, r.new_value) for r in rows} == {
        ("amount", "user", member_user.pk, "2500"),
        ("next_step", "user", member_user.pk, "Send quote"),
    }


def test_an_agent_and_the_sync_are_recorded_as_such(org: Organization) -> None:
    account = make_account(org)
    record_update(record=account, values={"industry": "Banking"}, actor=Actor(kind="agent", label="Enricher"))
    record_update(record=account, values={"phone": "+1 555 0100"}, actor=Actor(kind="sync", label="Salesforce"))
    account.refresh_from_db()
    assert account.field_times["industry"]["by"] == "agent"
    assert account.field_times["phone"]["by"] == "sync"
    assert FieldChange.objects.get(field="industry").actor_label == "Enricher"


def test_a_failed_validation_changes_nothing(org: Organization, admin_user: User) -> None:
    make_custom_field(org, label="Tier", data_type="picklist", options=["Gold"])
    account = make_account(org, website="https://initech.example")
    snapshot = Account.objects.values().get(pk=account.pk)
    history = FieldChange.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        record_update(
            record=account,
            values={"name": "New name", "website": "not a url", "employee_count": 10},
            custom_values={"tier": "Platinum"},
            actor=Actor.person(admin_user),
        )
    errors = excinfo.value.message_dict
    assert "Enter a valid URL." in errors["website"]
    assert "not one of its options" in errors["custom.tier"][0]
    assert Account.objects.values().get(pk=account.pk) == snapshot
    assert FieldChange.objects.count() == history


def test_salesforce_like_limits_are_enforced(org: Organization, admin_user: User) -> None:
    actor = Actor.person(admin_user)
    with pytest.raises(ValidationError) as excinfo:
        record_create(organization=org, model=Opportunity, values={"name": "x" * 121}, actor=actor)
    errors = excinfo.value.message_dict
    assert "Ensure this value has at most 120 characters (it has 121)." in errors["name"]
    assert "This field cannot be blank." in errors["stage"]
    assert "This field cannot be null." in errors["close_date"]
    with pytest.raises(ValidationError, match="valid email"):
        record_create(organization=org, model=Contact, values={"last_name": "L", "email": "nope"}, actor=actor)


def test_a_record_cannot_link_to_another_organizations_record(org: Organization, other_org: Organization) -> None:
    foreign_account = make_account(other_org)
    with pytest.raises(ValidationError, match="belongs to another organization"):
        make_opportunity(org, account=foreign_account)
    assert not Opportunity.objects.filter(organization=org).exists()


def test_owner_must_be_a_member(org: Organization, outsider: User) -> None:
    with pytest.raises(ValidationError, match="not a member of this organization"):
        make_account(org, owner=outsider)


def test_unknown_and_derived_fields_cannot_be_set(org: Organization) -> None:
    account = make_account(org)
    with pytest.raises(ValidationError) as excinfo:
        record_update(record=account, values={"domain": "evil.example", "nonsense": 1}, actor=Actor.system("t"))
    assert set(excinfo.value.message_dict) == {"domain", "nonsense"}


def test_domain_is_derived_from_the_website(org: Organization) -> None:
    account = make_account(org, website="https://WWW.Initech.Example/about?x=1")
    assert account.domain == "initech.example"
    change = record_update(record=account, values={"website": ""}, actor=Actor.system("t"))
    assert change.record.domain == ""


def test_stale_version_is_refused(org: Organization, admin_user: User) -> None:
    account = make_account(org)
    record_update(record=account, values={"industry": "Banking"}, actor=Actor.system("t"))
    with pytest.raises(StaleRecordError) as excinfo:
        record_update(record=account, values={"industry": "Retail"}, actor=Actor.person(admin_user), expected_version=1)
    assert excinfo.value.current.industry == "Banking"


def test_saving_over_someone_elses_newer_change_keeps_your_values_and_says_what_changed(
    org: Organization, admin_client: Client, member_user: User
) -> None:
    account = make_account(org, industry="Retail")
    edit = reverse("account_edit", args=[org.slug, account.code])
    seen_version = admin_client.get(edit).context["form"]["version"].value()
    record_update(record=account, values={"industry": "Banking"}, actor=Actor.person(member_user))
    response = admin_client.post(edit, {"name": "Initech", "industry": "Insurance", "version": seen_version})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Someone else saved this account while you were editing it" in page
    assert "industry → Banking (mel@acme.example)" in page
    assert 'value="Insurance"' in page
    account.refresh_from_db()
    assert account.industry == "Banking"
    # Saving again, knowingly, goes through.
    response = admin_client.post(edit, response.context["form"].data)
    account.refresh_from_db()
    assert account.industry == "Insurance"


def test_editing_on_the_page_goes_through_the_edit_path(
    org: Organization, admin_client: Client, admin_user: User
) -> None:
    account = make_account(org)
    edit = reverse("account_edit", args=[org.slug, account.code])
    response = admin_client.post(edit, {"name": "Initech Inc", "website": "initech.example", "version": 1})
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.website, account.domain) == (
        "Initech Inc",
        "https://initech.example",
        "initech.example",
    )
    assert account.field_times["name"]["by"] == "user"
    assert FieldChange.objects.filter(field="name", actor_user=admin_user).exists()
