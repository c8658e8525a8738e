"""Objects an organization adds (issue 16's foundation): a per-organization definition, not a migration. Its
records share one table and go through the one edit path; its fields are custom fields, its lookups Link fields;
nothing of one added object leaks into another's records or another organization's."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from roxcrm import objects
from roxcrm.models import Account, CustomField, FieldChange, ObjectDefinition, ObjectRecord, Organization, User
from roxcrm.services import Actor, record_create, record_update
from tests.factories import make_account, make_custom_field


def add_object(org: Organization, sobject: str = "Project__c", label: str = "Project") -> ObjectDefinition:
    return ObjectDefinition.objects.create(
        organization=org, key=ObjectDefinition.key_for(sobject), sobject=sobject, label=label, plural=f"{label}s"
    )


def test_an_added_objects_records_go_through_the_edit_path_with_history(org: Organization, admin_user: User) -> None:
    add_object(org)
    make_custom_field(org, object_type="project__c", label="Status", data_type="picklist", options=["Open", "Done"])
    person = Actor.person(admin_user)
    project = record_create(
        organization=org,
        model=ObjectRecord,
        values={"name": "Website relaunch", "owner": admin_user},
        custom_values={"status": "open"},
        actor=person,
        object_type="project__c",
    )
    assert (project.object_type, project.custom_values, project.version) == ("project__c", {"status": "Open"}, 1)
    record_update(record=project, custom_values={"status": "Done"}, actor=person)
    project.refresh_from_db()
    assert project.version == 2
    history = FieldChange.objects.filter(object_type="project__c", record_id=project.pk, field="custom.status")
    assert [(c.old_value, c.new_value) for c in history.order_by("changed_at")] == [(None, "Open"), ("Open", "Done")]
    assert list(objects.records_of(org, "project__c")) == [project]
    with pytest.raises(ValidationError, match="Bogus"):
        record_update(record=project, custom_values={"status": "Bogus"}, actor=person)


def test_a_record_of_an_object_the_organization_lacks_is_refused(
    org: Organization, other_org: Organization, admin_user: User
) -> None:
    add_object(other_org)
    with pytest.raises(ValidationError, match="There is no object “project__c”"):
        record_create(
            organization=org,
            model=ObjectRecord,
            values={"name": "Nope"},
            actor=Actor.person(admin_user),
            object_type="project__c",
        )
    assert not ObjectRecord.objects.exists()


def test_a_link_field_holds_a_record_of_its_target_in_the_same_organization(
    org: Organization, other_org: Organization, admin_user: User
) -> None:
    add_object(org)
    link = make_custom_field(org, object_type="project__c", label="Account", data_type="link", target="account")
    mine, theirs = make_account(org, name="Initech"), make_account(other_org, name="Umbrella")
    person = Actor.person(admin_user)
    project = record_create(
        organization=org,
        model=ObjectRecord,
        values={"name": "Rollout"},
        custom_values={"account": mine},
        actor=person,
        object_type="project__c",
    )
    assert project.custom_values == {"account": mine.pk}
    for bad, message in ((theirs.pk, "no such account record"), ("Initech", "must be a account record")):
        with pytest.raises(ValidationError, match=message):
            record_update(record=project, custom_values={"account": bad}, actor=person)
    assert link.target == "account"
    with pytest.raises(ValidationError, match="Choose the object"):
        make_custom_field(org, object_type="project__c", label="Parent", data_type="link", target="nothing")
    with pytest.raises(ValidationError, match="Only Link fields"):
        make_custom_field(org, object_type="project__c", label="Code", data_type="text", target="account")


def test_deleting_a_field_of_one_added_object_leaves_another_objects_values(
    org: Organization, admin_client: Client, admin_user: User
) -> None:
    """Added objects share one table: deleting Milestone's "status" must not clear Project's "status"."""
    add_object(org)
    add_object(org, "Milestone__c", "Milestone")
    make_custom_field(org, object_type="project__c", label="Status")
    doomed = make_custom_field(org, object_type="milestone__c", label="Status")
    person = Actor.person(admin_user)
    project, milestone = (
        record_create(
            organization=org,
            model=ObjectRecord,
            values={"name": name},
            custom_values={"status": "Open"},
            actor=person,
            object_type=key,
        )
        for key, name in (("project__c", "P"), ("milestone__c", "M"))
    )
    response = admin_client.post(reverse("custom_field_delete", args=[org.slug, doomed.code]), follow=True)
    assert "1 record(s) held a value" in response.content.decode()
    project.refresh_from_db()
    milestone.refresh_from_db()
    assert (project.custom_values, milestone.custom_values) == ({"status": "Open"}, {})


def test_custom_fields_page_offers_added_objects_and_link_targets(
    org: Organization, admin_client: Client, other_org: Organization
) -> None:
    add_object(org)
    add_object(other_org, "Secret__c", "Secret")
    page = admin_client.get(reverse("custom_field_create", args=[org.slug])).content.decode()
    assert 'value="project__c"' in page and "Secret" not in page
    response = admin_client.post(
        reverse("custom_field_create", args=[org.slug]),
        {
            "object_type": "project__c",
            "label": "Account",
            "data_type": "link",
            "target": "account",
            "visibility": "organization",
            "editable_in_rox": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    field = CustomField.objects.get(organization=org, object_type="project__c")
    assert (field.data_type, field.target) == ("link", "account")
    listing = admin_client.get(reverse("custom_field_list", args=[org.slug])).content.decode()
    assert "Project" in listing and "Account" in listing


def test_the_registry_names_every_object(org: Organization) -> None:
    add_object(org)
    assert objects.rox_object(org, "opportunity").plural == "Opportunities"  # type: ignore[union-attr]
    assert objects.rox_object(org, "project__c").label == "Project"  # type: ignore[union-attr]
    assert objects.rox_object(org, "milestone__c") is None
    assert objects.record_model("account") is Account and objects.record_model("project__c") is ObjectRecord
    assert [o.key for o in objects.link_targets(org)][-1] == "project__c"


def test_the_custom_objects_tab_shows_once_an_object_is_on_it(org: Organization, admin_client: Client) -> None:
    from mappings.models import ObjectMapping

    url = reverse("mappings_tab", args=[org.slug, "accounts"])
    assert "Custom objects" not in admin_client.get(url).content.decode()
    add_object(org)
    ObjectMapping.objects.create(organization=org, sobject="Project__c", rox_object="project__c", tab="custom")
    assert "Custom objects" in admin_client.get(url).content.decode()
    assert admin_client.get(reverse("mappings_tab", args=[org.slug, "custom"])).status_code == 200


def test_an_added_objects_mappable_fields_are_its_name_owner_and_custom_fields(org: Organization) -> None:
    from mappings.metadata import rox_fields

    add_object(org)
    make_custom_field(org, object_type="project__c", label="Account", data_type="link", target="account")
    fields = rox_fields(org, "project__c")
    assert set(fields) >= {"name", "owner", "custom.account"}
    assert not {"definition", "object_type"} & set(fields)
    assert (fields["owner"].type, fields["owner"].target) == ("reference", "user")


def test_an_added_objects_pages_list_show_create_and_edit_its_records(
    org: Organization, admin_user: User, admin_client: Client, other_org: Organization
) -> None:
    add_object(org)
    make_custom_field(org, object_type="project__c", label="Account", data_type="link", target="account")
    make_custom_field(org, object_type="project__c", label="Status", data_type="picklist", options=["Open", "Done"])
    account = make_account(org, name="Initech")
    home = admin_client.get(reverse("dashboard", args=[org.slug])).content.decode()
    listing_url = reverse("object_record_list", args=[org.slug, "project__c"])
    assert "More" in home and listing_url in home  # the navigation names the added object
    assert "Projects" in admin_client.get(listing_url).content.decode()
    created = admin_client.post(
        reverse("object_record_create", args=[org.slug, "project__c"]),
        {"name": "Relaunch", "owner": admin_user.pk, "cf_account": account.pk, "cf_status": "Open"},
        follow=True,
    )
    page = created.content.decode()
    assert "Project “Relaunch” created" in page and "Open" in page
    assert f'<a href="{account.get_absolute_url()}">Initech</a>' in page  # a Link shows as a link
    project = ObjectRecord.objects.get(name="Relaunch")
    assert project.custom_values == {"account": account.pk, "status": "Open"} and project.object_type == "project__c"
    # The account's page lists its projects, with the list of them all.
    account_page = admin_client.get(account.get_absolute_url()).content.decode()
    assert "Relaunch" in account_page and f"{listing_url}?account={account.code}" in account_page
    edit_url = reverse("object_record_edit", args=[org.slug, "project__c", project.code])
    admin_client.post(edit_url, {"name": "Relaunch", "owner": admin_user.pk, "cf_status": "Done", "version": 1})
    project.refresh_from_db()
    assert project.custom_values["status"] == "Done" and project.version == 2
    search = admin_client.get(listing_url, {"q": "relaunch"}).content.decode()
    assert project.get_absolute_url() in search
    # Another object's URL, another organization, an unknown object: no record there.
    add_object(org, "Milestone__c", "Milestone")
    assert (
        admin_client.get(reverse("object_record_detail", args=[org.slug, "milestone__c", project.code])).status_code
        == 404
    )
    assert admin_client.get(reverse("object_record_list", args=[org.slug, "nothing__c"])).status_code == 404
    add_object(other_org, "Secret__c", "Secret")
    assert admin_client.get(reverse("object_record_list", args=[org.slug, "secret__c"])).status_code == 404


def test_lists_filter_by_owner_and_linked_record_and_sort(
    org: Organization, admin_user: User, member_user: User, admin_client: Client
) -> None:
    add_object(org)
    make_custom_field(org, object_type="project__c", label="Account", data_type="link", target="account")
    initech, globex = make_account(org, name="Initech"), make_account(org, name="Globex")
    person = Actor.person(admin_user)
    for name, owner, account in (
        ("Alpha", admin_user, initech),
        ("Bravo", member_user, initech),
        ("Charlie", admin_user, globex),
    ):
        record_create(
            organization=org,
            model=ObjectRecord,
            values={"name": name, "owner": owner},
            custom_values={"account": account},
            actor=person,
            object_type="project__c",
        )
    url = reverse("object_record_list", args=[org.slug, "project__c"])

    def names(**query: str) -> list[str]:
        page = admin_client.get(url, query).content.decode()
        return [n for n in ("Alpha", "Bravo", "Charlie") if f">{n}</a>" in page]

    assert names() == ["Alpha", "Bravo", "Charlie"]
    assert names(owner=str(admin_user.pk)) == ["Alpha", "Charlie"]
    assert names(account=str(initech.code)) == ["Alpha", "Bravo"]
    assert names(account=str(initech.code), owner=str(member_user.pk)) == ["Bravo"]
    page = admin_client.get(url, {"sort": "-name"}).content.decode()
    assert page.index(">Charlie<") < page.index(">Bravo<") < page.index(">Alpha<")
    ignored = admin_client.get(url, {"owner": "999999", "account": "nope", "sort": "password"})
    assert ignored.status_code == 200 and "Ignored: owner (no such member), Account (no such record)" in (
        ignored.content.decode()
    )
    # The standard objects' lists sort and filter by owner too.
    accounts = admin_client.get(reverse("account_list", args=[org.slug]), {"sort": "-name"}).content.decode()
    assert accounts.index(">Initech<") < accounts.index(">Globex<")


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the GIN index exists on PostgreSQL only")
def test_an_accounts_projects_are_found_through_an_index_on_postgresql(org: Organization, admin_user: User) -> None:
    """An account's page lists its projects, and the projects list filters by account: with 200,000 projects that
    must not read them all (a key's equality, ``custom_values -> 'account' = 5``, is no index's; containment is)."""
    add_object(org)
    make_custom_field(org, object_type="project__c", label="Account", data_type="link", target="account")
    account = make_account(org, name="Initech")
    record_create(
        organization=org,
        model=ObjectRecord,
        values={"name": "Rollout"},
        custom_values={"account": account},
        actor=Actor.person(admin_user),
        object_type="project__c",
    )
    definition = objects.definition_of(org, "project__c")
    ObjectRecord.objects.bulk_create(  # other accounts' projects (ids only: the lookup reads no account)
        ObjectRecord(
            organization=org,
            definition=definition,
            object_type="project__c",
            name=f"Project {n}",
            custom_values={"account": account.pk + 1 + n % 500},
        )
        for n in range(5000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE roxcrm_objectrecord")
    [section] = objects.linked_to(org, account)
    rows = section.records
    assert [r.name for r in rows] == ["Rollout"]
    assert "roxcrm_objectrecord_custom_values_gin" in rows.explain()
