"""Each resource and verb: list, retrieve, create, partial update; references by code; versions and ETags."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from activities.models import Activity
from roxcrm.models import FieldChange, Lead, Organization, User
from roxcrm.services import Actor, record_update
from tests.api.conftest import ApiClient
from tests.factories import make_account, make_activity, make_lead, make_opportunity

# resource, body to create with, a field change for PATCH
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "accounts",
        {"name": "Hooli", "website": "hooli.example", "annual_revenue": "1250000.50", "employee_count": 420},
        {"industry": "Technology"},
    ),
    ("contacts", {"first_name": "Peter", "last_name": "Gibbons", "email": "peter@initech.example"}, {"title": "CTO"}),
    (
        "opportunities",
        {"name": "Expansion", "stage": "Prospecting", "close_date": "2027-03-31", "amount": 5000},
        {"stage": "Negotiation/Review", "probability": 80},
    ),
    ("leads", {"last_name": "Curie", "company": "Radium Labs"}, {"status": "Working - Contacted"}),
    ("products", {"name": "Platform", "product_code": "PLT-1"}, {"is_active": False}),
    ("activities", {"type": "call", "subject": "Intro", "duration_seconds": 600}, {"subject": "Intro call"}),
]


@pytest.mark.parametrize(("resource", "body", "change"), CASES)
def test_each_resource_creates_lists_retrieves_and_patches(
    resource: str, body: dict[str, Any], change: dict[str, Any], api: ApiClient, org: Organization
) -> None:
    created = api.post(resource, body)
    assert created.status_code == 201, created.json()
    record = created.json()
    assert record["version"] == 1 and created["ETag"] == '"1"'
    assert created["Location"].endswith(f"/api/v1/{resource}/{record['code']}")
    assert record["salesforce"] == {
        "salesforce_id": None,
        "sobject": None,
        "last_synced_at": None,
        "deleted_in_salesforce": False,
        "pending_writeback": False,
        "last_written_at": None,
        "last_error": None,
    }

    listed = api.get(resource).json()
    assert [r["code"] for r in listed["data"]] == [record["code"]] and listed["next_cursor"] is None
    fetched = api.get(f"{resource}/{record['code']}")
    assert fetched.status_code == 200 and fetched.json() == record and fetched["ETag"] == '"1"'

    patched = api.patch(f"{resource}/{record['code']}", change, headers={"If-Match": '"1"'})
    assert patched.status_code == 200, patched.json()
    assert patched["ETag"] == '"2"'
    assert {name: patched.json()[name] for name in change} == change
    untouched = {k: v for k, v in record.items() if k not in {*change, "version", "updated_at"}}
    assert {k: patched.json()[k] for k in untouched} == untouched


def test_created_values_are_stored_as_given(api: ApiClient, org: Organization) -> None:
    account = api.post("accounts", {"name": "Hooli", "website": "hooli.example", "annual_revenue": "1250000.50"}).json()
    assert account["website"] == "https://hooli.example"
    assert account["domain"] == "hooli.example"
    assert account["annual_revenue"] == 1250000.5
    opportunity = api.post(
        "opportunities",
        {"name": "Expansion", "stage": "Prospecting", "close_date": "2027-03-31", "account": account["code"]},
    ).json()
    assert opportunity["account"] == account["code"]
    assert opportunity["close_date"] == "2027-03-31"


def test_changes_are_recorded_with_the_token_as_author(
    api: ApiClient, agent_api: ApiClient, org: Organization, admin_user: User
) -> None:
    account = make_account(org)
    api.patch(f"accounts/{account.code}", {"industry": "Software"})
    agent_api.patch(f"accounts/{account.code}", {"phone": "+1 555 0100"})
    changes = {
        c.field: c
        for c in FieldChange.objects.filter(object_type="account", record_id=account.pk, record_version__gt=1)
    }
    assert (changes["industry"].actor_kind, changes["industry"].actor_label) == ("user", "Test tool")
    assert changes["industry"].actor_user == admin_user
    assert (changes["phone"].actor_kind, changes["phone"].actor_label) == ("agent", "Enrichment agent")
    account.refresh_from_db()
    assert account.field_times["phone"]["by"] == "agent"


def test_owner_is_given_and_shown_by_email(api: ApiClient, org: Organization, member_user: User) -> None:
    created = api.post("accounts", {"name": "Hooli", "owner": "MEL@acme.example"})
    assert created.json()["owner"] == "mel@acme.example"
    cleared = api.patch(f"accounts/{created.json()['code']}", {"owner": None})
    assert cleared.json()["owner"] is None


def test_invalid_values_are_refused_with_messages_per_field(api: ApiClient, org: Organization) -> None:
    response = api.post("contacts", {"last_name": "", "email": "not-an-address"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "last_name" in response.json()["fields"]

    response = api.post("contacts", {"last_name": "Bolton", "email": "not-an-address"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["email"]

    unknown = "00000000-0000-4000-8000-000000000000"
    response = api.post("contacts", {"last_name": "Bolton", "account": unknown})
    assert response.json()["fields"] == {"account": [f"There is no account with code {unknown}."]}

    for body in ({"last_name": "Bolton", "shoe_size": 44}, {"last_name": "Bolton\x00"}, [1, 2]):
        assert api.post("contacts", body).status_code == 400
    response = api.post("opportunities", {"name": "Old deal", "stage": "Closed Won", "close_date": "1066-10-14"})
    assert response.status_code == 400 and "close_date" in response.json()["fields"]
    assert api.get("contacts").json()["data"] == []


def test_malformed_requests_get_json_errors(api: ApiClient, org: Organization) -> None:
    account = make_account(org)
    assert api.get("accounts/not-a-code").status_code == 404
    assert api.get("accounts", limit=0).json()["fields"] == {"limit": ["Input should be greater than or equal to 1"]}
    broken = api.client.post("/api/v1/accounts", data="{not json", content_type="application/json", headers=api.headers)
    assert broken.status_code == 400 and broken.json()["code"] == "bad_request"
    response = api.patch(f"accounts/{account.code}", {"name": None})
    assert response.status_code == 400 and "name" in response.json()["fields"]
    response = api.patch(f"accounts/{account.code}", {"name": "X"}, headers={"If-Match": "yesterday"})
    assert response.status_code == 400 and "If-Match" in response.json()["fields"]


def test_stale_if_match_answers_412_with_the_current_record(api: ApiClient, org: Organization) -> None:
    account = make_account(org)
    read = api.get(f"accounts/{account.code}")
    # Someone changes the account on the page after the agent read it.
    record_update(record=account, values={"industry": "Banking"}, actor=Actor.system("someone"))

    response = api.patch(f"accounts/{account.code}", {"industry": "Software"}, headers={"If-Match": read["ETag"]})
    assert response.status_code == 412
    body = response.json()
    assert body["code"] == "stale"
    assert body["current"]["industry"] == "Banking" and body["current"]["version"] == 2
    assert response["ETag"] == '"2"'
    account.refresh_from_db()
    assert account.industry == "Banking"

    retried = api.patch(f"accounts/{account.code}", {"industry": "Software"}, headers={"If-Match": response["ETag"]})
    assert retried.status_code == 200 and retried.json()["version"] == 3


def test_patch_without_if_match_applies_to_the_current_version(api: ApiClient, org: Organization) -> None:
    account = make_account(org)
    record_update(record=account, values={"industry": "Banking"}, actor=Actor.system("someone"))
    for n, headers in enumerate(({}, {"If-Match": "*"}, {"If-Match": 'W/"4"'})):
        response = api.patch(f"accounts/{account.code}", {"phone": f"+1 555 010{n}"}, headers=headers)
        assert response.status_code == 200
        assert response.json()["version"] == 3 + n


def test_an_unchanged_patch_keeps_the_version(api: ApiClient, org: Organization) -> None:
    account = make_account(org, industry="Banking")
    response = api.patch(f"accounts/{account.code}", {"industry": "Banking"}, headers={"If-Match": '"1"'})
    assert response.status_code == 200 and response.json()["version"] == 1


def test_records_removed_in_salesforce_are_left_out_of_lists_but_retrievable(api: ApiClient, org: Organization) -> None:
    kept = make_account(org, name="Kept")
    gone = make_account(org, name="Merged away")
    type(gone).objects.filter(pk=gone.pk).update(removed_at=timezone.now(), removed_reason="Merged in Salesforce")

    assert [a["name"] for a in api.get("accounts").json()["data"]] == ["Kept"]
    both = api.get("accounts", include_removed="true").json()["data"]
    assert {a["name"] for a in both} == {"Kept", "Merged away"}
    shown = api.get(f"accounts/{gone.code}").json()
    assert shown["removed_at"] is not None and shown["removed_reason"] == "Merged in Salesforce"
    assert kept.code


def test_salesforce_activities_and_converted_leads_are_read_only(api: ApiClient, org: Organization) -> None:
    activity = make_activity(org)
    Activity.objects.filter(pk=activity.pk).update(origin=Activity.Origin.SALESFORCE)
    lead = make_lead(org)
    Lead.objects.filter(pk=lead.pk).update(converted_at=timezone.now())
    for path in (f"activities/{activity.code}", f"leads/{lead.code}"):
        response = api.patch(path, {"subject": "x"} if "activities" in path else {"title": "x"})
        assert response.status_code == 409
        assert response.json()["code"] == "read_only"


def test_lead_shows_what_it_was_converted_into(api: ApiClient, org: Organization) -> None:
    lead = make_lead(org)
    opportunity = make_opportunity(org)
    Lead.objects.filter(pk=lead.pk).update(converted_at=timezone.now(), converted_opportunity=opportunity)
    shown = api.get(f"leads/{lead.code}").json()
    assert shown["converted_opportunity"] == str(opportunity.code)
    assert shown["converted_account"] is None
