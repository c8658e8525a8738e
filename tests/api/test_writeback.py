"""What agents and tools write through the API is synced like a person's edit: it lands in the outbox and reaches
the simulated Salesforce; an activity posted through the API becomes exactly one Task."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from api.models import ApiToken
from integrations.engine.drain import drain
from integrations.engine.runner import sync_object
from integrations.models import OutboxEntry, SalesforceConnection, SalesforceLink
from mappings.models import ActivitySettings, FieldMapping, ObjectMapping
from roxcrm.models import Account, Organization, User
from tests.api.conftest import ApiClient, make_token
from tests.factories import make_custom_field
from tests.integrations.conftest import connect, submit


@pytest.fixture
def connection(org: Organization, admin_client: Client, sfsim: Any, salesforce_settings: Any) -> SalesforceConnection:
    sfsim.reset(seed="empty", scenario="ready")
    connect(admin_client, org, sfsim)
    submit(admin_client, org)
    return SalesforceConnection.objects.get(organization=org)


@pytest.fixture
def agent(org: Organization, admin_user: User) -> ApiClient:
    return ApiClient(make_token(org, admin_user, kind=ApiToken.Kind.AGENT, name="Enricher")[1])


@pytest.fixture
def account(connection: SalesforceConnection, sfsim: Any, org: Organization) -> tuple[str, Account]:
    sf_id = sfsim.control("POST", "records/Account", {"fields": {"Name": "Initech"}})["id"]
    sync_object(connection, "Account")
    return sf_id, Account.objects.get(organization=org)


def test_an_agents_api_edit_lands_in_the_outbox_and_is_written_back(
    connection: SalesforceConnection, sfsim: Any, org: Organization, agent: ApiClient, account: tuple[str, Account]
) -> None:
    sf_id, record = account
    make_custom_field(org, label="Fit score", data_type="text")
    account_mapping = ObjectMapping.objects.get(organization=org, sobject="Account")
    FieldMapping.objects.create(
        object_mapping=account_mapping, sf_field="Description", rox_field="custom.fit_score", rule="write_only"
    )
    response = agent.patch(
        f"accounts/{record.code}", {"industry": "Banking", "custom_fields": {"fit_score": "87 (high)"}}
    )
    assert response.status_code == 200, response.content
    entry = OutboxEntry.objects.get()
    assert entry.state == "pending" and set(entry.fields) == {"industry", "custom.fit_score"}
    assert agent.get(f"accounts/{record.code}").json()["salesforce"]["pending_writeback"] is True
    assert drain(connection, "Account").written == 1
    remote = sfsim.control("GET", f"records/Account/{sf_id}")
    assert (remote["Industry"], remote["Description"]) == ("Banking", "87 (high)")
    assert agent.get(f"accounts/{record.code}").json()["salesforce"]["last_written_at"]


def test_an_activity_posted_through_the_api_becomes_exactly_one_task(
    connection: SalesforceConnection, sfsim: Any, org: Organization, agent: ApiClient, account: tuple[str, Account]
) -> None:
    sf_id, record = account
    ActivitySettings.objects.update_or_create(organization=org, defaults={"call_writeback": True})
    body = {
        "type": "call",
        "subject": "Discovery",
        "external_id": "dialer-42",
        "occurred_at": "2026-11-20T10:00:00Z",
        "duration_seconds": 600,
        "direction": "outbound",
        "account": str(record.code),
    }
    first = agent.post("activities", body)
    again = agent.post("activities", body)
    assert (first.status_code, again.status_code) == (201, 200)
    drain(connection, "Task")
    drain(connection, "Task")
    rows = sfsim.control("POST", "query", {"q": "SELECT Id, Subject, WhatId, RoxActivityId__c FROM Task"})["records"]
    assert len(rows) == 1 and rows[0]["Subject"] == "Call: Discovery" and rows[0]["WhatId"] == sf_id
    assert rows[0]["RoxActivityId__c"] == first.json()["code"]
    assert SalesforceLink.objects.filter(sobject="Task").count() == 1


def test_a_value_salesforce_would_refuse_is_refused_at_edit_time_on_every_path(
    connection: SalesforceConnection,
    sfsim: Any,
    org: Organization,
    agent: ApiClient,
    account: tuple[str, Account],
    admin_client: Client,
) -> None:
    """Read and Write values are checked against the Salesforce field they are written to (length, precision and
    scale, a picklist's active values), on the page and in the API alike, instead of being saved in Rox and failing
    in the outbox later. Nothing is saved; values Salesforce takes go through."""
    from integrations.schema import describe_refresh

    sfsim.control("POST", "fields", {"object": "Account", "name": "Code__c", "type": "string", "length": 5})
    sfsim.control(
        "POST", "fields", {"object": "Account", "name": "Score__c", "type": "double", "precision": 4, "scale": 1}
    )
    describe_refresh(connection, ["Account"])
    account_mapping = ObjectMapping.objects.get(organization=org, sobject="Account")
    for label, sf_field, data_type in [("Code", "Code__c", "text"), ("Tier", "Customer_Tier__c", "text"),
                                       ("Score", "Score__c", "number")]:  # fmt: skip
        make_custom_field(org, label=label, data_type=data_type, **({"decimal_places": 2} if label == "Score" else {}))
        FieldMapping.objects.create(
            object_mapping=account_mapping, sf_field=sf_field, rox_field=f"custom.{label.lower()}", rule="read_write"
        )
    _, record = account
    for custom, message in [
        ({"code": "ABCDEF"}, "Code__c holds at most 5 characters"),
        ({"tier": "Platinum"}, "“Platinum” is not a value of Salesforce's Account.Customer_Tier__c"),
        ({"score": "1234.5"}, "is too large for Score__c"),
        ({"score": "12.25"}, "Score__c allows 1 decimal place"),
    ]:
        response = agent.patch(f"accounts/{record.code}", {"custom_fields": custom})
        shown = " ".join(m for messages in response.json().get("fields", {}).values() for m in messages)
        assert response.status_code == 400 and message in shown, (custom, response.content)
    page = admin_client.post(
        f"{record.get_absolute_url()}edit/", {"name": "Initech", "cf_code": "ABCDEF", "version": record.version}
    )
    assert page.status_code == 200 and "Code__c holds at most 5 characters" in page.content.decode()
    assert Account.objects.get(pk=record.pk).custom_values == {}
    assert not OutboxEntry.objects.exists()
    ok = agent.patch(f"accounts/{record.code}", {"custom_fields": {"code": "ABCDE", "tier": "Gold", "score": "123.4"}})
    assert ok.status_code == 200, ok.content
    assert drain(connection, "Account").written == 1


def test_a_read_only_field_is_refused_through_the_api_and_shown_read_only_on_the_page(
    connection: SalesforceConnection,
    org: Organization,
    agent: ApiClient,
    account: tuple[str, Account],
    admin_client: Client,
) -> None:
    """Issue 17: a field mapped Read Only is Salesforce's to change: the API answers 400 naming the rule and the
    Salesforce field (nothing saved, nothing queued), and the edit page shows it disabled with the same reason."""
    _, record = account
    FieldMapping.objects.filter(object_mapping__sobject="Account", sf_field="Industry").update(rule="read_only")
    response = agent.patch(f"accounts/{record.code}", {"industry": "Banking"})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["fields"]["industry"] == [
        "Read Only: this comes from Salesforce (Account.Industry, mapped Read Only in CRM Mappings). Change it in "
        "Salesforce, or map it Read and Write."
    ]
    assert Account.objects.get(pk=record.pk).industry == "" and not OutboxEntry.objects.exists()
    assert agent.patch(f"accounts/{record.code}", {"phone": "555"}).status_code == 200
    page = admin_client.get(reverse("account_edit", args=[org.slug, record.code])).content.decode()
    industry = page.split('name="industry"', 1)[1].split(">", 1)[0]
    assert "disabled" in industry and "mapped Read Only in CRM Mappings" in page
    # The Django admin shows it read-only too.
    staff = User.objects.get(pk=admin_client.session["_auth_user_id"])
    staff.is_staff = staff.is_superuser = True
    staff.save()
    admin_page = admin_client.get(reverse("admin:roxcrm_account_change", args=[record.pk])).content.decode()
    assert 'name="industry"' not in admin_page and 'name="phone"' in admin_page
    # A record Salesforce does not hold (not linked, not created there) is Rox's own: editable.
    other = agent.post("accounts", {"name": "Rox only", "industry": "Energy"})
    assert other.status_code == 201, other.content
    assert agent.patch(f"accounts/{other.json()['code']}", {"industry": "Retail"}).status_code == 200
