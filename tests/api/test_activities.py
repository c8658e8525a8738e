"""Logging activities: linked to the contact (else lead) by e-mail, idempotent by ``external_id``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from activities.models import Activity
from api.models import ActivityExternalId
from mappings.models import ActivitySettings
from roxcrm.models import Contact, FieldChange, Lead, Organization, User
from tests.api.conftest import ApiClient
from tests.factories import make_account, make_contact, make_lead, make_opportunity

CALL: dict[str, Any] = {
    "type": "call",
    "subject": "Discovery call",
    "body": "Talked about renewal.",
    "occurred_at": "2026-03-02T15:30:00+01:00",
    "duration_seconds": 900,
    "direction": "outbound",
    "participant_emails": ["Peter@Initech.example"],
}


def test_a_call_is_logged_with_everything_it_says(api: ApiClient, org: Organization, admin_user: User) -> None:
    response = api.post("activities", CALL)
    assert response.status_code == 201
    activity = response.json()
    assert activity["occurred_at"] == "2026-03-02T14:30:00Z"
    assert activity["participant_emails"] == ["peter@initech.example"]
    assert (activity["duration_seconds"], activity["direction"], activity["origin"]) == (900, "outbound", "rox")
    # A user token's activities belong to the person who created the token.
    assert activity["owner"] == admin_user.email
    stored = Activity.objects.get(code=activity["code"])
    change = FieldChange.objects.get(object_type="activity", record_id=stored.pk, field="subject")
    assert (change.actor_kind, change.actor_label) == ("user", "Test tool")


def test_an_agents_activity_has_no_owner_unless_given(
    agent_api: ApiClient, org: Organization, member_user: User
) -> None:
    assert agent_api.post("activities", {"type": "task"}).json()["owner"] is None
    assert (
        agent_api.post("activities", {"type": "task", "owner": member_user.email}).json()["owner"] == member_user.email
    )


def test_posting_the_same_external_id_again_returns_the_first_activity(api: ApiClient, org: Organization) -> None:
    first = api.post("activities", {**CALL, "external_id": "dialer-call-42"})
    again = api.post("activities", {**CALL, "external_id": "dialer-call-42"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and first.json()["external_id"] == "dialer-call-42"
    assert again["ETag"] == first["ETag"]
    assert Activity.objects.count() == 1
    assert api.get(f"activities/{first.json()['code']}").json()["external_id"] == "dialer-call-42"


def test_the_same_external_id_with_other_content_is_a_conflict(api: ApiClient, org: Organization) -> None:
    api.post("activities", {**CALL, "external_id": "dialer-call-42"})
    response = api.post("activities", {**CALL, "subject": "Something else", "external_id": "dialer-call-42"})
    assert response.status_code == 409
    assert response.json()["code"] == "external_id_conflict"
    assert Activity.objects.count() == 1


def test_external_ids_are_per_organization(api: ApiClient, other_api: ApiClient, org: Organization) -> None:
    assert api.post("activities", {**CALL, "external_id": "x-1"}).status_code == 201
    assert other_api.post("activities", {**CALL, "external_id": "x-1"}).status_code == 201
    assert ActivityExternalId.objects.count() == 2


def test_an_invalid_activity_keeps_its_external_id_free(api: ApiClient, org: Organization) -> None:
    bad = api.post("activities", {**CALL, "participant_emails": ["not an address"], "external_id": "x-1"})
    assert bad.status_code == 400 and "participant_emails" in bad.json()["fields"]
    assert api.post("activities", {**CALL, "external_id": "x-1"}).status_code == 201


def test_linked_to_the_contact_with_a_participants_address(api: ApiClient, org: Organization) -> None:
    account = make_account(org)
    older = make_contact(org, last_name="Gibbons", email="peter@initech.example")
    newer = make_contact(org, last_name="Gibbons (new)", email="PETER@initech.example", account=account)
    Contact.objects.filter(pk=older.pk).update(updated_at=timezone.now() - dt.timedelta(days=1))
    make_lead(org, email="peter@initech.example")

    activity = api.post("activities", CALL).json()
    assert (activity["contact"], activity["lead"]) == (str(newer.code), None)


def test_an_email_is_linked_to_a_lead_when_no_contact_matches_and_lead_resolution_is_on(
    api: ApiClient, org: Organization
) -> None:
    """Issue 17: automatic lead matching follows the Lead Resolution switch and is for e-mails only, as the
    writeback's is (a call or a LinkedIn touch never resolves a lead; a lead a person chose stays)."""
    make_contact(org, email="someone.else@initech.example")
    lead = make_lead(org, email="peter@initech.example")
    converted = make_lead(org, email="peter@initech.example")
    Lead.objects.filter(pk=converted.pk).update(converted_at=timezone.now())
    Lead.objects.filter(pk=lead.pk).update(updated_at=timezone.now() - dt.timedelta(days=1))
    email = {**CALL, "type": "email", "duration_seconds": None}

    assert api.post("activities", email).json()["lead"] is None  # Lead Resolution is off by default
    ActivitySettings.objects.update_or_create(organization=org, defaults={"lead_resolution": True})
    activity = api.post("activities", email).json()
    assert (activity["contact"], activity["lead"]) == (None, str(lead.code))
    assert api.post("activities", CALL).json()["lead"] is None  # a call never resolves a lead


def test_not_linked_when_nobody_matches_or_removed_in_salesforce(api: ApiClient, org: Organization) -> None:
    gone = make_contact(org, email="peter@initech.example")
    Contact.objects.filter(pk=gone.pk).update(removed_at=timezone.now())
    activity = api.post("activities", CALL).json()
    assert (activity["contact"], activity["lead"]) == (None, None)


def test_a_given_contact_or_lead_is_kept(api: ApiClient, org: Organization) -> None:
    make_contact(org, email="peter@initech.example")
    lead = make_lead(org, email="marie@radium.example")
    activity = api.post("activities", {**CALL, "lead": str(lead.code)}).json()
    assert (activity["contact"], activity["lead"]) == (None, str(lead.code))


def test_an_opportunitys_account_is_taken_when_no_account_is_given(api: ApiClient, org: Organization) -> None:
    initech, hooli = make_account(org, name="Initech"), make_account(org, name="Hooli")
    opportunity = make_opportunity(org, account=initech)
    taken = api.post("activities", {**CALL, "opportunity": str(opportunity.code)}).json()
    assert (taken["opportunity"], taken["account"]) == (str(opportunity.code), str(initech.code))
    kept = api.post("activities", {**CALL, "opportunity": str(opportunity.code), "account": str(hooli.code)}).json()
    assert kept["account"] == str(hooli.code)
