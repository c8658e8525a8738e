"""CRM Mappings against the connected (simulated) org's real schema: every rule that keeps a mapping that cannot work
from being saved, + Add Field, static values, the new-entity gate, schema drift, and who may change what."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import SalesforceConnection
from mappings.metadata import RoxField, SalesforceField
from mappings.models import FieldMapping, MappingChange, ObjectMapping, StaticValue
from mappings.validation import ERROR, pair_findings
from roxcrm.models import CustomField, Organization
from tests.factories import make_custom_field
from tests.integrations.conftest import connect, submit


@pytest.fixture
def connected(org: Organization, admin_client: Client, ready_org: Any) -> SalesforceConnection:
    connection = connect(admin_client, org, ready_org)
    submit(admin_client, org)
    connection.refresh_from_db()
    assert connection.status == SalesforceConnection.Status.CONNECTED
    return connection


def tab_url(org: Organization, tab: str) -> str:
    return reverse("mappings_tab", args=[org.slug, tab])


def om(org: Organization, sobject: str) -> ObjectMapping:
    return ObjectMapping.objects.get(organization=org, sobject=sobject)


def add_mapping(client: Client, org: Organization, sobject: str, sf_field: str, rox_field: str, rule: str) -> Any:
    target = om(org, sobject)
    prefix = f"add-{target.code}"
    return client.post(
        tab_url(org, target.tab),
        {
            "action": "add_mapping",
            "target": str(target.code),
            f"{prefix}-sf_field": sf_field,
            f"{prefix}-rox_field": rox_field,
            f"{prefix}-rule": rule,
        },
    )


def add_static(
    client: Client, org: Organization, sobject: str, sf_field: str, value: str, when: str = "every_write"
) -> Any:
    target = om(org, sobject)
    prefix = f"static-{target.code}"
    return client.post(
        tab_url(org, target.tab),
        {
            "action": "add_static",
            "target": str(target.code),
            f"{prefix}-sf_field": sf_field,
            f"{prefix}-value": value,
            f"{prefix}-when": when,
        },
    )


def object_settings(client: Client, org: Organization, sobject: str, **values: Any) -> Any:
    target = om(org, sobject)
    data = {"action": "settings", "target": str(target.code)}
    for name, value in values.items():
        if value is not False:
            data[f"{sobject}-{name}"] = "on" if value is True else value
    return client.post(tab_url(org, target.tab), data)


def test_the_four_tabs_hold_their_objects_with_basic_fields_syncing(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    expected = {
        "accounts": ["Account", "Contact"],
        "opportunities": ["Opportunity", "OpportunityLineItem", "Product2"],
        "activities": ["Task", "Event"],
        "leads": ["Lead"],
    }
    for tab, sobjects in expected.items():
        page = admin_client.get(tab_url(org, tab)).content.decode()
        for sobject in sobjects:
            assert f'data-sobject="{sobject}"' in page, (tab, sobject)
        assert 'data-status="broken"' not in page and 'data-status="syncing"' in page
    page = admin_client.get(tab_url(org, "opportunities")).content.decode()
    assert "Read only: Rox reads OpportunityLineItem records and never writes them." in page
    assert FieldMapping.objects.filter(object_mapping__organization=org, is_basic=True).count() == 55


@pytest.mark.parametrize(
    ("rox_type", "sf_type", "accepted"),
    [
        ("text", "string", True),
        ("text", "picklist", True),
        ("text", "int", False),
        ("long_text", "textarea", True),
        ("number", "double", True),
        ("number", "currency", True),
        ("number", "string", False),
        ("currency", "currency", True),
        ("percent", "percent", True),
        ("date", "date", True),
        ("date", "datetime", False),
        ("datetime", "datetime", True),
        ("checkbox", "boolean", True),
        ("checkbox", "string", False),
        ("picklist", "picklist", True),
        ("multi_picklist", "multipicklist", True),
        ("multi_picklist", "picklist", False),
        ("email", "email", True),
        ("phone", "phone", True),
        ("url", "url", True),
        ("url", "boolean", False),
    ],
)
def test_type_pairs(rox_type: str, sf_type: str, accepted: bool) -> None:
    rox = RoxField("custom.x", "X", rox_type, custom=True)
    sf = SalesforceField("X__c", "X", sf_type)
    errors = [f for f in pair_findings(rox, sf, "read_only") if f.level == ERROR]
    assert (not errors) is accepted, errors
    if not accepted:
        assert errors[0].message.startswith("Types do not match: the Rox field X is")


def test_a_refused_pair_says_why_and_saves_nothing(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    make_custom_field(org, label="Seats", data_type="number")
    response = add_mapping(admin_client, org, "Account", "External_Key__c", "custom.seats", "read_only")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Types do not match: the Rox field Seats is number" in page and "External_Key__c) is string(40)" in page
    assert not FieldMapping.objects.filter(sf_field="External_Key__c").exists()


def test_a_formula_field_can_only_be_read(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    make_custom_field(org, object_type="opportunity", label="Account industry", data_type="text")
    response = add_mapping(
        admin_client, org, "Opportunity", "Account_Industry__c", "custom.account_industry", "read_write"
    )
    page = response.content.decode()
    assert "is a formula field in Salesforce: Rox can only read it, so the rule must be Read Only" in page
    assert "Rox refreshes mapped formula fields on their own schedule" in page
    assert not FieldMapping.objects.filter(sf_field="Account_Industry__c").exists()
    response = add_mapping(
        admin_client, org, "Opportunity", "Account_Industry__c", "custom.account_industry", "read_only"
    )
    assert response.status_code == 302
    page = admin_client.get(tab_url(org, "opportunities")).content.decode()
    assert 'data-sf-field="Account_Industry__c" data-status="syncing"' in page


def test_a_longer_rox_text_field_is_a_warning_with_both_lengths(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    make_custom_field(org, label="Key", data_type="text", max_length=255)
    assert add_mapping(admin_client, org, "Account", "External_Key__c", "custom.key", "read_write").status_code == 302
    page = admin_client.get(tab_url(org, "accounts")).content.decode()
    assert "Rox allows 255 characters in Key; Salesforce&#x27;s External_Key__c holds 40." in page


def test_picklist_values_rox_lacks_are_listed_and_added_in_one_click(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    tier = make_custom_field(org, label="Tier", data_type="picklist", options=["Gold"])
    assert add_mapping(admin_client, org, "Account", "Customer_Tier__c", "custom.tier", "read_only").status_code == 302
    page = admin_client.get(tab_url(org, "accounts")).content.decode()
    assert "has values the Rox picklist lacks: Silver, Bronze" in page
    row = FieldMapping.objects.get(sf_field="Customer_Tier__c")
    admin_client.post(tab_url(org, "accounts"), {"action": "add_options", "target": str(row.code)})
    tier.refresh_from_db()
    assert tier.options == ["Gold", "Silver", "Bronze"]
    assert "has values the Rox picklist lacks" not in admin_client.get(tab_url(org, "accounts")).content.decode()


def test_each_field_is_mapped_at_most_once_per_object(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    make_custom_field(org, label="Key", data_type="text")
    make_custom_field(org, label="Other key", data_type="text")
    assert add_mapping(admin_client, org, "Account", "External_Key__c", "custom.key", "read_only").status_code == 302
    page = add_mapping(
        admin_client, org, "Account", "External_Key__c", "custom.other_key", "read_only"
    ).content.decode()
    assert "External_Key__c is already mapped on this object." in page
    page = add_mapping(admin_client, org, "Account", "Customer_Tier__c", "custom.key", "read_only").content.decode()
    assert "The Rox field Key is already mapped on this object." in page
    page = add_mapping(admin_client, org, "Account", "Description", "name", "read_only").content.decode()
    assert "The Rox field Name is already mapped on this object." in page


def test_add_field_creates_a_rox_field_shaped_like_the_salesforce_field_and_maps_it(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    account = om(org, "Account")
    url = reverse("mappings_add_field", args=[org.slug, "accounts", account.code])
    page = admin_client.get(url).content.decode()
    assert "Customer Tier · Customer_Tier__c" in page
    form = admin_client.get(url, {"sf_field": "Customer_Tier__c"}).context["form"]
    assert form.initial["data_type"] == "picklist" and form.initial["label"] == "Customer Tier"
    response = admin_client.post(
        url,
        {
            "sf_field": "Customer_Tier__c",
            "label": "Customer tier",
            "data_type": "picklist",
            "editable_in_rox": "on",
            "visibility": "organization",
            "rule": "read_write",
        },
        follow=True,
    )
    assert (
        "Created the Rox field “Customer tier” and mapped it to Account.Customer_Tier__c." in response.content.decode()
    )
    field = CustomField.objects.get(organization=org, api_name="customer_tier")
    assert (field.data_type, field.options, field.editable_in_rox) == ("picklist", ["Gold", "Silver", "Bronze"], True)
    mapping = FieldMapping.objects.get(sf_field="Customer_Tier__c")
    assert (mapping.rox_field, mapping.rule) == ("custom.customer_tier", "read_write")


def test_add_field_from_a_formula_field_offers_only_read_only(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    opportunity = om(org, "Opportunity")
    url = reverse("mappings_add_field", args=[org.slug, "opportunities", opportunity.code])
    form = admin_client.get(url, {"sf_field": "Weighted_Amount__c"}).context["form"]
    assert [value for value, _ in form.fields["rule"].choices] == ["read_only"]
    assert form.initial["data_type"] == "currency"


def test_static_value_subject_rox_on_activities(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    assert add_static(admin_client, org, "Task", "Subject", "Rox").status_code == 302
    static = StaticValue.objects.get(object_mapping__sobject="Task")
    assert (static.sf_field, static.value, static.when) == ("Subject", "Rox", "every_write")
    page = admin_client.get(tab_url(org, "activities")).content.decode()
    assert "Overridden by the static value “Rox”." in page


@pytest.mark.parametrize(
    ("sobject", "sf_field", "value", "message"),
    [
        ("Task", "Subject", "x" * 256, "holds at most 255 characters; this value has 256"),
        ("Task", "Status", "Bogus", "“Bogus” is not a value of Status"),
        ("Task", "IsReminderSet", "yes", "is a checkbox: the value must be true or false"),
        ("Task", "ActivityDate", "31/01/2026", "is not a date; use YYYY-MM-DD"),
        ("Opportunity", "Probability", "12.5", "allows 0 decimal places"),
        ("Account", "Type", "Partner", "is not a value of Type"),
        ("Opportunity", "Pricebook2Id", "001000000000001AAA", "is the Id of another kind of record"),
        ("Opportunity", "Pricebook2Id", "01s0000000000X", "is not a Salesforce record Id"),
        ("Account", "Name", "Acme", "Rox recognises the Account records it writes by Name"),
        ("Lead", "Phone", "1", "is mapped to a Rox field; a field is either mapped or given a static value"),
        ("Account", "Billing_Location__c", "x", "is computed by Salesforce and cannot be written"),
        # Fields Rox itself sets: how it recognises a record it wrote, and what the record is about or owned by.
        ("Task", "RoxActivityId__c", "fixed", "Rox recognises the Task records it writes by RoxActivityId__c"),
        ("Event", "RoxActivityId__c", "fixed", "Rox recognises the Event records it writes by RoxActivityId__c"),
        ("Task", "WhoId", "003000000000001AAA", "Rox sets WhoId itself on every Task it writes"),
        ("Task", "WhatId", "001000000000001AAA", "Rox sets WhatId itself on every Task it writes"),
        ("Account", "OwnerId", "005000000000001AAA", "Rox sets OwnerId itself on every Account it writes"),
        ("Account", "Description", "", "Give a value, or tick “Write a blank”"),
    ],
)
def test_a_static_value_must_be_valid_for_its_field(
    connected: SalesforceConnection,
    admin_client: Client,
    org: Organization,
    sobject: str,
    sf_field: str,
    value: str,
    message: str,
) -> None:
    response = add_static(admin_client, org, sobject, sf_field, value)
    page = response.content.decode()
    if "computed by Salesforce" in message:
        # Formula fields are not even offered in the drop-down; choosing one anyway is refused.
        assert response.status_code == 400 and "Select a valid choice" in page
    else:
        assert response.status_code == 400 and message in page, page[:4000]
    assert not StaticValue.objects.exists()


def test_a_blank_static_value_is_written_only_when_chosen(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    target = om(org, "Account")
    prefix = f"static-{target.code}"
    data = {
        "action": "add_static",
        "target": str(target.code),
        f"{prefix}-sf_field": "Description",
        f"{prefix}-when": "every_write",
    }
    response = admin_client.post(
        tab_url(org, target.tab), {**data, f"{prefix}-value": "x", f"{prefix}-clear_field": "on"}
    )
    assert response.status_code == 400
    assert "“Write a blank” writes nothing: leave the value empty, or untick it." in response.content.decode()
    response = admin_client.post(
        tab_url(org, target.tab), {**data, f"{prefix}-value": "", f"{prefix}-clear_field": "on"}
    )
    assert response.status_code == 302
    static = StaticValue.objects.get()
    assert (static.sf_field, static.value, static.clear_field) == ("Description", "", True)
    assert "blank (clears the field)" in admin_client.get(tab_url(org, target.tab)).content.decode()


def test_static_values_valid_for_each_type_are_saved(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    for sobject, sf_field, value in [
        ("Task", "Priority", "High"),
        ("Task", "IsReminderSet", "false"),
        ("Task", "ActivityDate", "2026-12-31"),
        ("Opportunity", "Probability", "50"),
        ("Account", "Type", "Customer - Direct"),
    ]:
        assert add_static(admin_client, org, sobject, sf_field, value, "create_only").status_code == 302, sf_field
    assert StaticValue.objects.count() == 5


def test_new_entity_writeback_names_the_required_fields_it_still_needs(
    connected: SalesforceConnection, admin_client: Client, org: Organization, ready_org: Any
) -> None:
    name = f"Region_{uuid.uuid4().hex[:6]}__c"
    ready_org.control(
        "POST", "fields", {"object": "Account", "name": name, "type": "string", "length": 40, "nillable": False}
    )
    admin_client.post(reverse("mappings_refresh", args=[org.slug]), {"tab": "accounts"})
    page = admin_client.get(tab_url(org, "accounts")).content.decode()
    assert f"Salesforce requires {name} on every new Account" in page
    assert (
        'name="Account-new_entity_writeback" disabled' in page
        or "disabled" in page.split('name="Account-new_entity_writeback"')[1][:40]
    )
    response = object_settings(
        admin_client, org, "Account", sync_enabled=True, sync_frequency=15, new_entity_writeback=True
    )
    assert response.status_code == 400 and f"Salesforce requires {name}" in response.content.decode()
    assert not om(org, "Account").new_entity_writeback
    assert add_static(admin_client, org, "Account", name, "EMEA", "create_only").status_code == 302
    response = object_settings(
        admin_client, org, "Account", sync_enabled=True, sync_frequency=30, new_entity_writeback=True
    )
    assert response.status_code == 302
    account = om(org, "Account")
    assert (account.new_entity_writeback, account.sync_frequency) == (True, 30)
    ready_org.control("DELETE", f"fields/Account/{name}")


def test_new_entity_writeback_needs_the_package(
    connected: SalesforceConnection, admin_client: Client, org: Organization, ready_org: Any
) -> None:
    ready_org.reset(seed="empty", scenario="fresh")
    admin_client.post(reverse("salesforce_recheck", args=[org.slug]))
    page = admin_client.get(tab_url(org, "leads")).content.decode()
    assert "The Rox package is needed" in page
    response = object_settings(
        admin_client, org, "Lead", sync_enabled=True, sync_frequency=15, new_entity_writeback=True
    )
    assert response.status_code == 400
    ready_org.reset(seed="empty", scenario="ready")


def test_pausing_sync_keeps_the_mappings_and_shows_not_syncing(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    assert object_settings(admin_client, org, "Lead", sync_enabled=False, sync_frequency=60).status_code == 302
    lead = om(org, "Lead")
    assert (lead.sync_enabled, lead.sync_frequency) == (False, 60)
    page = admin_client.get(tab_url(org, "leads")).content.decode()
    assert 'data-status="not_syncing"' in page and "Sync of Lead is paused." in page
    assert FieldMapping.objects.filter(object_mapping=lead).count() == 7
    response = object_settings(admin_client, org, "Lead", sync_enabled=True, sync_frequency=7)
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def test_schema_drift_turns_the_row_broken_and_the_connection_action_required(
    connected: SalesforceConnection, admin_client: Client, org: Organization, ready_org: Any
) -> None:
    name = f"Score_{uuid.uuid4().hex[:6]}__c"
    ready_org.control(
        "POST", "fields", {"object": "Account", "name": name, "type": "double", "precision": 18, "scale": 0}
    )
    admin_client.post(reverse("mappings_refresh", args=[org.slug]), {"tab": "accounts"})
    make_custom_field(org, label="Score", data_type="number")
    assert add_mapping(admin_client, org, "Account", name, "custom.score", "read_write").status_code == 302

    ready_org.control("PATCH", f"fields/Account/{name}", {"type": "string", "length": 20})
    response = admin_client.post(reverse("mappings_refresh", args=[org.slug]), {"tab": "accounts"}, follow=True)
    page = response.content.decode()
    assert "1 mapping(s) are broken." in page
    assert f'data-sf-field="{name}" data-status="broken"' in page
    assert f"{name}) is string(20)" in page
    assert 'data-sf-field="Name" data-status="syncing"' in page  # the others carry on
    connection = SalesforceConnection.objects.get(organization=org)
    assert connection.status == SalesforceConnection.Status.ACTION_REQUIRED
    assert f"Account.{name}" in connection.action_reason

    ready_org.control("DELETE", f"fields/Account/{name}")
    admin_client.post(reverse("mappings_refresh", args=[org.slug]), {"tab": "accounts"})
    assert "was deleted or renamed" in admin_client.get(tab_url(org, "accounts")).content.decode()
    row = FieldMapping.objects.get(sf_field=name)
    admin_client.post(tab_url(org, "accounts"), {"action": "remove_row", "target": str(row.code)})
    connection.refresh_from_db()
    assert connection.status == SalesforceConnection.Status.CONNECTED and not connection.action_reason


def test_a_basic_row_can_be_repointed_but_not_removed(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    row = FieldMapping.objects.get(object_mapping__sobject="Account", sf_field="Phone")
    response = admin_client.post(
        tab_url(org, "accounts"), {"action": "remove_row", "target": str(row.code)}, follow=True
    )
    assert "Basic fields cannot be removed" in response.content.decode()
    prefix = f"row-{row.code}"
    response = admin_client.post(
        tab_url(org, "accounts"),
        {"action": "update_row", "target": str(row.code), f"{prefix}-sf_field": "Fax", f"{prefix}-rule": "read_write"},
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"#row-{row.code}")  # back at the row, with the confirmation in view
    row.refresh_from_db()
    assert row.sf_field == "Fax"
    response = admin_client.post(
        tab_url(org, "accounts"),
        {
            "action": "update_row",
            "target": str(row.code),
            f"{prefix}-sf_field": "NumberOfEmployees",
            f"{prefix}-rule": "read_write",
        },
    )
    assert response.status_code == 400 and "Types do not match" in response.content.decode()
    # The refusal also shows where the page opens (it scrolls to the row; the banner stays in view).
    assert "Not saved: the change below has a problem; nothing else changed." in response.content.decode()
    row.refresh_from_db()
    assert row.sf_field == "Fax"


def test_every_change_is_recorded_under_the_tab(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    make_custom_field(org, label="Key", data_type="text")
    add_mapping(admin_client, org, "Account", "External_Key__c", "custom.key", "read_only")
    row = FieldMapping.objects.get(sf_field="External_Key__c")
    prefix = f"row-{row.code}"
    admin_client.post(
        tab_url(org, "accounts"),
        {
            "action": "update_row",
            "target": str(row.code),
            f"{prefix}-sf_field": "External_Key__c",
            f"{prefix}-rule": "read_write",
        },
    )
    admin_client.post(tab_url(org, "accounts"), {"action": "remove_row", "target": str(row.code)})
    changes = list(MappingChange.objects.filter(organization=org).order_by("id"))
    assert [c.summary for c in changes] == [
        "Account.External_Key__c ↔ custom.key: mapping added",
        "Account.External_Key__c ↔ custom.key: mapping changed",
        "Account.External_Key__c ↔ custom.key: mapping removed",
    ]
    assert changes[1].before["rule"] == "read_only" and changes[1].after["rule"] == "read_write"
    assert all(c.changed_by.email == "ada@acme.example" for c in changes)
    target = om(org, "Account")
    admin_client.post(
        tab_url(org, "accounts"),
        {
            "action": "settings",
            "target": str(target.code),
            "Account-sync_enabled": "on",
            "Account-sync_frequency": "60",
        },
    )
    # The history reads as words, not as the stored fields ("sf_field=… rox_field=custom.key rule=read_write").
    page = admin_client.get(tab_url(org, "accounts")).content.decode()
    history = page[page.index("Changes on this tab") :]
    assert "Account.External_Key__c → Key: mapping changed" in history
    assert '<td class="small">External_Key__c → Key, Read Only</td>' in history
    assert '<td class="small">External_Key__c → Key, Read and Write</td>' in history
    assert "Sync on, every 15 minutes, new entity writeback off" in history and "every 1 hour" in history
    assert "rule=" not in history and "rox_field" not in history and "custom.key" not in history


def test_members_view_mappings_and_outsiders_get_404(
    connected: SalesforceConnection, member_client: Client, outsider_client: Client, org: Organization
) -> None:
    for tab in ("accounts", "opportunities", "activities", "leads"):
        page = member_client.get(tab_url(org, tab))
        assert page.status_code == 200
        assert "only organization admins can change them" in page.content.decode()
        assert 'name="action"' not in page.content.decode()
        assert outsider_client.get(tab_url(org, tab)).status_code == 404
    target = om(org, "Account")
    response = member_client.post(tab_url(org, "accounts"), {"action": "remove_row", "target": str(target.code)})
    assert response.status_code == 403
    add_url = reverse("mappings_add_field", args=[org.slug, "accounts", target.code])
    assert member_client.get(add_url).status_code == 403
    assert member_client.post(reverse("mappings_refresh", args=[org.slug])).status_code == 403


def test_the_django_admin_refuses_what_the_pages_refuse(
    connected: SalesforceConnection, admin_client: Client, admin_user: Any, org: Organization
) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    make_custom_field(org, object_type="opportunity", label="Industry copy", data_type="text")
    opportunity = om(org, "Opportunity")
    url = reverse("admin:mappings_objectmapping_change", args=[opportunity.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    rows = list(opportunity.field_mappings.all())
    data = {
        "sync_enabled": "on",
        "sync_frequency": "15",
        "field_mappings-TOTAL_FORMS": str(len(rows) + 1),
        "field_mappings-INITIAL_FORMS": str(len(rows)),
        "field_mappings-MIN_NUM_FORMS": "0",
        "field_mappings-MAX_NUM_FORMS": "1000",
        "static_values-TOTAL_FORMS": "0",
        "static_values-INITIAL_FORMS": "0",
        "static_values-MIN_NUM_FORMS": "0",
        "static_values-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data.update(
            {
                f"field_mappings-{i}-id": str(row.pk),
                f"field_mappings-{i}-object_mapping": str(opportunity.pk),
                f"field_mappings-{i}-sf_field": row.sf_field,
                f"field_mappings-{i}-rox_field": row.rox_field,
                f"field_mappings-{i}-rule": row.rule,
            }
        )
    new = len(rows)
    data.update(
        {
            f"field_mappings-{new}-object_mapping": str(opportunity.pk),
            f"field_mappings-{new}-sf_field": "Account_Industry__c",
            f"field_mappings-{new}-rox_field": "custom.industry_copy",
            f"field_mappings-{new}-rule": "read_write",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "is a formula field in Salesforce: Rox can only read it" in response.content.decode()
    assert not FieldMapping.objects.filter(sf_field="Account_Industry__c").exists()
    # Removing a basic row is refused too.
    data[f"field_mappings-{new}-rule"] = "read_only"
    data["field_mappings-0-DELETE"] = "on"
    response = admin_client.post(url, data)
    assert "is a basic field: Rox uses it to find and link records" in response.content.decode()
    assert opportunity.field_mappings.count() == len(rows)
    del data["field_mappings-0-DELETE"]
    response = admin_client.post(url, data)
    assert response.status_code == 302
    assert MappingChange.objects.filter(summary__contains="Account_Industry__c").exists()


def test_the_wizard_step_refuses_a_basic_field_that_cannot_work(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    connect(admin_client, org, ready_org)
    url = reverse("salesforce_setup_mappings", args=[org.slug])
    page = admin_client.get(url).content.decode()
    assert "You can add custom field mappings after set-up" in page
    row = FieldMapping.objects.get(object_mapping__sobject="Account", sf_field="Name")
    response = admin_client.post(url, {f"row-{row.code}": "AnnualRevenue"})
    assert response.status_code == 400
    assert "Types do not match" in response.content.decode() and "Nothing was saved" in response.content.decode()
    row.refresh_from_db()
    assert row.sf_field == "Name"
    assert SalesforceConnection.objects.get(organization=org).mappings_confirmed_at is None


def test_a_required_field_made_read_only_is_named_by_the_new_entity_switch(
    connected: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    row = FieldMapping.objects.get(object_mapping__sobject="Contact", sf_field="LastName")
    prefix = f"row-{row.code}"
    admin_client.post(
        tab_url(org, "accounts"),
        {
            "action": "update_row",
            "target": str(row.code),
            f"{prefix}-sf_field": "LastName",
            f"{prefix}-rule": "read_only",
        },
    )
    page = admin_client.get(tab_url(org, "accounts")).content.decode()
    assert "Salesforce requires LastName on every new Contact: map it with a rule that writes" in page


def test_before_connecting_the_tab_shows_what_connecting_will_do(org: Organization, admin_client: Client) -> None:
    """Issue 17: before Salesforce is connected, CRM Mappings showed forms full of "(not in Salesforce)" rows; it
    shows each object's basic mappings and a Connect button instead, and no mapping forms."""
    page = admin_client.get(tab_url(org, "accounts")).content.decode()
    preview = page.split('data-testid="mappings-before-connecting"', 1)[1].split("</section>", 1)[0]
    assert "Account ↔ Rox" in preview and '<td class="mono">Name</td>' in preview
    assert 'data-testid="connect-first"' in preview
    assert "(not in Salesforce)" not in page and 'name="action" value="add_mapping"' not in page
