"""Issue 17, "Picklists are picklists": a field a writing rule sends to a Salesforce picklist is chosen from
Salesforce's values on the pages, in the admin and through the API; any other value is refused in Rox, naming the
Salesforce field and its values; a value Salesforce no longer has that a record holds is shown as such and kept by a
save that does not touch it."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.engine.runner import sync_object
from integrations.models import DescribeCache, OutboxEntry, SalesforceConnection, SalesforceLink
from integrations.schema import describe_refresh
from mappings.metadata import SalesforceField
from mappings.models import FieldMapping, ObjectMapping
from roxcrm import hooks
from roxcrm.models import Account, Opportunity, Organization, User
from roxcrm.services import Actor, record_create, record_update
from tests.api.conftest import ApiClient, make_token
from tests.factories import make_custom_field
from tests.integrations.test_writeback import connection, create, person, read

__all__ = ["connection", "person"]  # fixtures shared with test_writeback

STAGES = list(Opportunity.STAGE_SUGGESTIONS)  # sfsim's StageName values, as Rox suggests them without Salesforce
GONE = " (no longer a value in Salesforce)"


def synced_opportunity(connection: SalesforceConnection, sfsim: Any) -> tuple[str, Opportunity]:
    sf_id = create(sfsim, "Opportunity", Name="Big deal", StageName="Prospecting", CloseDate="2027-01-31")
    sync_object(connection, "Opportunity")
    link = SalesforceLink.objects.get(sf_id=sf_id)
    return sf_id, Opportunity.objects.get(pk=link.record_id)


def options(page: str, name: str) -> list[tuple[str, str]]:
    """The (value, label) options of the select ``name`` on a page."""
    found = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no select {name}"
    return [
        (html.unescape(value), html.unescape(label).strip())
        for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', found.group(1))
    ]


def selected(page: str, name: str) -> str:
    found = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', page, re.S)
    assert found
    chosen = re.search(r'<option value="([^"]*)"[^>]*selected', found.group(1))
    return html.unescape(chosen.group(1)) if chosen else ""


def map_tier(org: Organization) -> None:
    """A Rox text field mapped Read and Write to Salesforce's restricted picklist Customer_Tier__c."""
    make_custom_field(org, label="Tier", data_type="text")
    FieldMapping.objects.create(
        object_mapping=ObjectMapping.objects.get(organization=org, sobject="Account"),
        sf_field="Customer_Tier__c",
        rox_field="custom.tier",
        rule="read_write",
    )


@pytest.fixture
def renamed_bronze(sfsim: Any) -> Iterator[Callable[[Any], None]]:
    """Renames Customer_Tier__c's Bronze to Copper in sfsim when called, and puts it back after the test (sfsim's
    custom fields outlive a reset)."""
    changed: list[bool] = []

    def rename(sim: Any) -> None:
        sim.control("PATCH", "fields/Account/Customer_Tier__c", {"picklistValues": ["Gold", "Silver", "Copper"]})
        changed.append(True)

    yield rename
    if changed:
        sfsim.control("PATCH", "fields/Account/Customer_Tier__c", {"picklistValues": ["Gold", "Silver", "Bronze"]})


def test_a_stage_salesforce_does_not_have_is_refused_everywhere_and_a_valid_one_is_written(
    connection: SalesforceConnection,
    sfsim: Any,
    org: Organization,
    admin_client: Client,
    admin_user: User,
    person: Actor,
) -> None:
    sf_id, opportunity = synced_opportunity(connection, sfsim)
    values = ", ".join(STAGES)
    message = f"“Bogus Stage” is not a value of Salesforce's Opportunity.StageName. Its values: {values}."
    # The edit path.
    with pytest.raises(ValidationError) as refused:
        record_update(record=opportunity, values={"stage": "Bogus Stage"}, actor=person)
    assert refused.value.message_dict == {"stage": [message]}
    # The API: 400 with the message for the field; nothing saved or queued.
    _, secret = make_token(org, admin_user)
    api = ApiClient(secret)
    response = api.patch(f"opportunities/{opportunity.code}", {"stage": "Bogus Stage"})
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"stage": [message]}
    # The page: a select of sfsim's values; a value not among them is refused with the same words.
    edit_url = reverse("opportunity_edit", args=[org.slug, opportunity.code])
    page = admin_client.get(edit_url).content.decode()
    assert options(page, "stage") == [(stage, stage) for stage in STAGES]  # required: no blank
    assert selected(page, "stage") == "Prospecting"
    assert 'list="stage-suggestions"' not in page and 'id="stage-suggestions"' not in page
    form = {"name": "Big deal", "close_date": "2027-01-31", "version": opportunity.version}
    response = admin_client.post(edit_url, {**form, "stage": "Bogus Stage"})
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    opportunity.refresh_from_db()
    assert opportunity.stage == "Prospecting" and not OutboxEntry.objects.exists()
    # A value Salesforce has is taken and written to Salesforce at once.
    response = admin_client.post(edit_url, {**form, "stage": "Closed Won"}, follow=True)
    assert "Saved 1 change(s) to “Big deal” — written to Salesforce." in response.content.decode()
    assert read(sfsim, "Opportunity", sf_id)["StageName"] == "Closed Won"
    # Through the API too.
    response = api.patch(f"opportunities/{opportunity.code}", {"stage": "Negotiation/Review"})
    assert response.status_code == 200, response.content
    assert Opportunity.objects.get(pk=opportunity.pk).stage == "Negotiation/Review"


def test_the_admin_and_the_new_record_page_offer_salesforces_values(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Client, admin_user: User
) -> None:
    _, opportunity = synced_opportunity(connection, sfsim)
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    page = admin_client.get(reverse("admin:roxcrm_opportunity_change", args=[opportunity.pk])).content.decode()
    assert [value for value, _ in options(page, "stage")] == STAGES
    # A new opportunity becomes one in Salesforce when new entity writeback is on: its stage is chosen from there.
    new_url = reverse("opportunity_create", args=[org.slug])
    assert "<select" not in admin_client.get(new_url).content.decode().split('name="stage"', 1)[0][-200:]
    ObjectMapping.objects.filter(organization=org, sobject="Opportunity").update(new_entity_writeback=True)
    page = admin_client.get(new_url).content.decode()
    assert [value for value, _ in options(page, "stage")] == STAGES
    # An account's industry is not required: blank first.
    ObjectMapping.objects.filter(organization=org, sobject="Account").update(new_entity_writeback=True)
    industry = options(admin_client.get(reverse("account_create", args=[org.slug])).content.decode(), "industry")
    assert industry[0] == ("", "—") and ("Banking", "Banking") in industry


def test_a_value_salesforce_no_longer_has_is_shown_as_such_and_kept_by_a_save_that_does_not_touch_it(
    connection: SalesforceConnection,
    sfsim: Any,
    org: Organization,
    admin_client: Client,
    person: Actor,
    renamed_bronze: Callable[[Any], None],
) -> None:
    map_tier(org)
    sf_id = create(sfsim, "Account", Name="Initech", Customer_Tier__c="Bronze")
    sync_object(connection, "Account")
    account = Account.objects.get(pk=SalesforceLink.objects.get(sf_id=sf_id).record_id)
    assert account.custom_values["tier"] == "Bronze"
    # An admin renames Bronze in Salesforce; Rox reads the schema again.
    renamed_bronze(sfsim)
    describe_refresh(connection, ["Account"])
    edit_url = reverse("account_edit", args=[org.slug, account.code])
    page = admin_client.get(edit_url).content.decode()
    assert options(page, "cf_tier") == [
        ("", "—"),
        ("Bronze", f"Bronze{GONE}"),
        ("Gold", "Gold"),
        ("Silver", "Silver"),
        ("Copper", "Copper"),
    ]
    assert selected(page, "cf_tier") == "Bronze"
    # Saved with another change: the tier stays Bronze (and only the phone goes to Salesforce).
    response = admin_client.post(
        edit_url, {"name": "Initech", "phone": "555", "cf_tier": "Bronze", "version": account.version}, follow=True
    )
    assert "Saved 1 change(s) to “Initech” — written to Salesforce." in response.content.decode()
    account.refresh_from_db()
    assert account.custom_values["tier"] == "Bronze" and account.phone == "555"
    assert read(sfsim, "Account", sf_id)["Phone"] == "555"
    # Changing it to a value Salesforce has is taken; back to Bronze is not.
    record_update(record=account, custom_values={"tier": "Copper"}, actor=person)
    with pytest.raises(ValidationError) as refused:
        record_update(record=Account.objects.get(pk=account.pk), custom_values={"tier": "Bronze"}, actor=person)
    assert refused.value.message_dict["custom.tier"] == [
        "“Bronze” is not a value of Salesforce's Account.Customer_Tier__c. Its values: Gold, Silver, Copper."
    ]


def test_a_deactivated_value_is_named_so_and_unrestricted_picklists_are_checked_too(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Client, person: Actor
) -> None:
    """Salesforce's describe lists a deactivated value with ``active: false`` (sfsim has no such values, so the
    cached describe is edited as Salesforce would give it); StageName is not a restricted picklist, and is checked
    all the same."""
    _, opportunity = synced_opportunity(connection, sfsim)
    cached = DescribeCache.objects.get(connection=connection, sobject="Opportunity")
    for described in cached.data["fields"]:
        if described["name"] == "StageName":
            assert not described["restrictedPicklist"]
            for value in described["picklistValues"]:
                value["active"] = value["value"] != "Prospecting"
                value["defaultValue"] = value["value"] == "Qualification"
    cached.fetched_at = timezone.now()  # a newer describe: parsed again
    cached.save(update_fields=["data", "fetched_at"])
    page = admin_client.get(reverse("opportunity_edit", args=[org.slug, opportunity.code])).content.decode()
    assert options(page, "stage")[:2] == [("Prospecting", f"Prospecting{GONE}"), ("Qualification", "Qualification")]
    record_update(record=opportunity, values={"stage": "Closed Lost"}, actor=person)
    with pytest.raises(ValidationError) as refused:
        record_update(record=Opportunity.objects.get(pk=opportunity.pk), values={"stage": "Prospecting"}, actor=person)
    [message] = refused.value.message_dict["stage"]
    assert message.startswith(
        "“Prospecting” is no longer a value of Salesforce's Opportunity.StageName (deactivated there). Its values: "
        "Qualification, Needs Analysis,"
    )
    choices = hooks.picklist_choices(opportunity)
    assert choices["stage"] == hooks.Picklist("Opportunity.StageName", tuple(STAGES[1:]), "Qualification")
    # The describe parsed: active values, deactivated ones, the default.
    sf = SalesforceField.from_describe(next(f for f in cached.data["fields"] if f["name"] == "StageName"))
    assert (sf.picklist_values, sf.inactive_picklist_values, sf.picklist_default) == (
        tuple(STAGES[1:]),
        ("Prospecting",),
        "Qualification",
    )


def test_each_value_of_a_multi_select_must_be_active(
    connection: SalesforceConnection, org: Organization, person: Actor
) -> None:
    make_custom_field(org, label="Regions", data_type="multi_picklist", options=["EMEA", "APAC", "Mars"])
    account_mapping = ObjectMapping.objects.get(organization=org, sobject="Account")
    account_mapping.new_entity_writeback = True
    account_mapping.save(update_fields=["new_entity_writeback"])
    FieldMapping.objects.create(
        object_mapping=account_mapping, sf_field="Regions__c", rox_field="custom.regions", rule="write_only"
    )
    cached = DescribeCache.objects.get(connection=connection, sobject="Account")
    cached.data["fields"].append(
        {
            "name": "Regions__c",
            "label": "Regions",
            "type": "multipicklist",
            "length": 4099,
            "createable": True,
            "updateable": True,
            "nillable": True,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "value": v} for v in ("EMEA", "APAC", "AMER")
            ]
            + [{"active": False, "defaultValue": False, "label": "LATAM", "value": "LATAM"}],
        }
    )
    cached.fetched_at = timezone.now()
    cached.save(update_fields=["data", "fetched_at"])
    with pytest.raises(ValidationError) as refused:
        record_create(
            organization=org,
            model=Account,
            values={"name": "Globex"},
            custom_values={"regions": ["EMEA", "Mars"]},
            actor=person,
        )
    assert refused.value.message_dict["custom.regions"] == [
        "“Mars” is not a value of Salesforce's Account.Regions__c. Its values: EMEA, APAC, AMER."
    ]
    created = record_create(
        organization=org,
        model=Account,
        values={"name": "Globex"},
        custom_values={"regions": ["EMEA", "APAC"]},
        actor=person,
    )
    assert created.custom_values["regions"] == ["EMEA", "APAC"]
    assert hooks.picklist_choices(created)["custom.regions"].multiple


def test_the_api_lists_salesforces_picklists(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    map_tier(org)
    _, secret = make_token(org, admin_user, scope="read")
    response = ApiClient(secret).get("picklists")
    assert response.status_code == 200, response.content
    listed = response.json()
    assert listed["opportunities"]["stage"] == {
        "salesforce_field": "Opportunity.StageName",
        "values": STAGES,
        "default": None,
        "multiple": False,
    }
    assert listed["leads"]["status"]["values"] == [
        "Open - Not Contacted",
        "Working - Contacted",
        "Closed - Converted",
        "Closed - Not Converted",
    ]
    assert "Banking" in listed["accounts"]["industry"]["values"]
    assert listed["accounts"]["custom_fields.tier"] == {
        "salesforce_field": "Account.Customer_Tier__c",
        "values": ["Gold", "Silver", "Bronze"],
        "default": None,
        "multiple": False,
    }
    assert "activities" not in listed
    # The OpenAPI description has it.
    description = ApiClient(None).get("/api/v1/openapi.json").json()
    assert "/api/v1/picklists" in description["paths"]
    assert "GET /api/v1/picklists" in description["info"]["description"]


def test_without_salesforce_there_are_no_picklists(org: Organization, admin_user: User, client: Client) -> None:
    _, secret = make_token(org, admin_user)
    response = ApiClient(secret).get("picklists")
    assert response.status_code == 200 and response.json() == {}


def test_the_tab_warns_of_rox_options_salesforces_picklist_lacks_restricted_or_not(
    connection: SalesforceConnection, org: Organization, admin_client: Client
) -> None:
    """Rox refuses a value an unrestricted picklist lacks too, so the mapping row says so for any picklist."""
    from mappings.models import FieldMapping, ObjectMapping
    from tests.factories import make_custom_field

    make_custom_field(
        org, object_type="lead", label="Lead source", data_type="picklist", options=["Web", "Carrier pigeon"]
    )
    FieldMapping.objects.create(
        object_mapping=ObjectMapping.objects.get(organization=org, sobject="Lead"),
        sf_field="LeadSource",
        rox_field="custom.lead_source",
        rule="read_write",
    )
    page = admin_client.get(reverse("mappings_tab", args=[org.slug, "leads"])).content.decode()
    assert "has no value for these Rox options, so Rox refuses them" in page and "Carrier pigeon" in page
