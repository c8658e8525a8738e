"""The pages of an object an organization added (``Project__c``), as a person walks through them: its list's
columns, filters and empty states, an object without an owner (a master-detail child), an archived object, a
record deleted in Salesforce, the history in plain words, and adding a record from its parent's page."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mappings.models import FieldMapping, ObjectMapping
from roxcrm.models import ObjectDefinition, ObjectRecord, Organization, User
from roxcrm.services import Actor, record_create, record_update
from roxcrm.sync_path import records_mark_removed
from tests.factories import make_account, make_custom_field
from tests.roxcrm.test_added_objects import add_object

STYLESHEET = Path(__file__).resolve().parents[2] / "static" / "css" / "app.css"


def _project(org: Organization, user: User, name: str = "Relaunch", **custom: object) -> ObjectRecord:
    return record_create(
        organization=org,
        model=ObjectRecord,
        values={"name": name, "owner": user},
        custom_values=custom,
        actor=Actor.person(user),
        object_type="project__c",
    )


def _headers(page: str) -> list[str]:
    head = page[page.index("<thead>") : page.index("</thead>")]
    return re.findall(r"<th[^>]*>([^<]*)</th>", head)


def _map(org: Organization, sobject: str, key: str, *rox_fields: str) -> ObjectMapping:
    """The object's mapping as adding it makes it: its name, and its owner when Salesforce gives it one."""
    mapping = ObjectMapping.objects.create(organization=org, sobject=sobject, rox_object=key, tab="custom")
    sf_fields = {"name": "Name", "owner": "OwnerId"}
    for position, rox_field in enumerate(rox_fields):
        FieldMapping.objects.create(
            object_mapping=mapping,
            sf_field=sf_fields[rox_field],
            rox_field=rox_field,
            rule="read_write",
            is_basic=True,
            position=position,
        )
    return mapping


def test_the_more_menu_is_not_clipped_by_the_navigation() -> None:
    """The "More ▾" menu opens below the navigation bar: a bar that scrolls (``overflow``) would hide it."""
    rule = re.search(r"\.mainnav \{([^}]*)\}", STYLESHEET.read_text())
    assert rule is not None and "overflow" not in rule.group(1)


def test_the_list_shows_the_objects_first_fields_links_first(
    org: Organization, admin_user: User, admin_client: Client
) -> None:
    add_object(org)
    for position, (label, data_type) in enumerate(
        (("Status", "picklist"), ("Budget", "currency"), ("Notes", "long_text"), ("Start", "date"), ("Phase", "text"))
    ):  # a long text is for the record's page; Phase is the fifth field: not a column
        options = ["Open", "Done"] if data_type == "picklist" else []
        make_custom_field(
            org, object_type="project__c", label=label, data_type=data_type, options=options, position=position
        )
    make_custom_field(org, object_type="project__c", label="Account", data_type="link", target="account", position=9)
    account = make_account(org, name="Initech")
    _project(org, admin_user, status="Open", budget=467000, notes="Long", start="2026-03-01", account=account)
    page = admin_client.get(reverse("object_record_list", args=[org.slug, "project__c"])).content.decode()
    assert _headers(page) == ["Name", "Account", "Status", "Budget", "Start", "Owner"]
    assert f'<a href="{account.get_absolute_url()}">Initech</a>' in page  # a Link as the linked record's name
    assert '<td class="num">467,000.00</td>' in page and "<td>2026-03-01</td>" in page
    # The standard objects' lists keep their columns.
    accounts = admin_client.get(reverse("account_list", args=[org.slug])).content.decode()
    assert _headers(accounts) == ["Name", "Domain", "Industry", "Billing city", "Owner"]


def test_an_object_without_an_owner_shows_no_owner(org: Organization, admin_user: User, admin_client: Client) -> None:
    """A master-detail child (Milestone__c) has no OwnerId, so adding it maps no owner: no column, filter or field."""
    add_object(org, "Milestone__c", "Milestone")
    _map(org, "Milestone__c", "milestone__c", "name")
    listing = reverse("object_record_list", args=[org.slug, "milestone__c"])
    created = admin_client.post(reverse("object_record_create", args=[org.slug, "milestone__c"]), {"name": "Beta"})
    milestone = ObjectRecord.objects.get(object_type="milestone__c")
    assert created.status_code == 302 and (milestone.name, milestone.owner) == ("Beta", None)
    page = admin_client.get(listing).content.decode()
    assert _headers(page) == ["Name"] and 'name="owner"' not in page
    assert "Owner" not in admin_client.get(milestone.get_absolute_url()).content.decode()
    form = admin_client.get(reverse("object_record_edit", args=[org.slug, "milestone__c", milestone.code]))
    assert "owner" not in form.context["form"].fields
    # An owner given anyway is not taken; the filter by owner is no filter here.
    admin_client.post(reverse("object_record_create", args=[org.slug, "milestone__c"]), {"name": "G", "owner": 1})
    assert ObjectRecord.objects.get(name="G").owner is None
    assert admin_client.get(listing, {"owner": str(admin_user.pk)}).content.decode().count(">Beta</a>") == 1
    # An object made in Rox only (no mapping), or whose mapping maps its owner, has one.
    add_object(org)
    _project(org, admin_user)
    projects = reverse("object_record_list", args=[org.slug, "project__c"])
    assert _headers(admin_client.get(projects).content.decode()) == ["Name", "Owner"]
    _map(org, "Project__c", "project__c", "name", "owner")
    page = admin_client.get(projects).content.decode()
    assert _headers(page) == ["Name", "Owner"] and 'name="owner"' in page


def test_a_filtered_list_that_matches_nothing_says_so_and_clears(
    org: Organization, admin_user: User, member_user: User, admin_client: Client
) -> None:
    add_object(org)
    make_custom_field(org, object_type="project__c", label="Account", data_type="link", target="account")
    initech, globex = make_account(org, name="Initech"), make_account(org, name="Globex")
    _project(org, admin_user, account=initech)
    url = reverse("object_record_list", args=[org.slug, "project__c"])
    for query in (
        {"owner": str(member_user.pk)},
        {"account": str(globex.code)},
        {"account": str(globex.code), "q": "x"},
    ):
        page = admin_client.get(url, query).content.decode()
        assert "No projects match these filters" in page and 'href="?">Clear the filters</a>' in page, query
        assert "No projects yet" not in page and "Create the first one" not in page
    assert "Account: Globex" in admin_client.get(url, {"account": str(globex.code)}).content.decode()
    # A list of one account's projects starts a new one with that account.
    page = admin_client.get(url, {"account": str(initech.code)}).content.decode()
    assert f'href="{reverse("object_record_create", args=[org.slug, "project__c"])}?account={initech.code}"' in page


def test_an_archived_object_is_read_only_with_a_banner(
    org: Organization, admin_user: User, admin_client: Client
) -> None:
    definition = add_object(org)
    project = _project(org, admin_user)
    ObjectDefinition.objects.filter(pk=definition.pk).update(archived_at=dt.datetime(2026, 5, 4, 10, tzinfo=dt.UTC))
    listing = reverse("object_record_list", args=[org.slug, "project__c"])
    create = reverse("object_record_create", args=[org.slug, "project__c"])
    edit = reverse("object_record_edit", args=[org.slug, "project__c", project.code])
    banner = (
        "Project was removed from the sync on 2026-05-04; its records are kept read-only. Restore it from CRM "
        "Mappings → + Add object."
    )
    page = admin_client.get(listing).content.decode()
    assert banner in page and "New Project" not in page and create not in page
    detail = admin_client.get(project.get_absolute_url()).content.decode()
    assert banner in detail and edit not in detail
    for response in (admin_client.get(create, follow=True), admin_client.post(create, {"name": "X"}, follow=True)):
        assert response.status_code == 200 and banner in response.content.decode()
    for response in (
        admin_client.get(edit, follow=True),
        admin_client.post(edit, {"name": "Renamed", "owner": admin_user.pk, "version": 1}, follow=True),
    ):
        assert response.redirect_chain[-1][0] == project.get_absolute_url() and banner in response.content.decode()
    project.refresh_from_db()
    assert (project.name, ObjectRecord.objects.count()) == ("Relaunch", 1)


def test_a_record_deleted_in_salesforce_offers_no_edit(
    org: Organization, admin_user: User, admin_client: Client
) -> None:
    add_object(org)
    project = _project(org, admin_user)
    edit = reverse("object_record_edit", args=[org.slug, "project__c", project.code])
    assert edit in admin_client.get(project.get_absolute_url()).content.decode()
    records_mark_removed(model=ObjectRecord, record_ids=[project.pk], reason="Deleted in Salesforce", at=timezone.now())
    page = admin_client.get(project.get_absolute_url()).content.decode()
    assert "Deleted in Salesforce on" in page and edit not in page
    refused = admin_client.post(edit, {"name": "Renamed", "owner": admin_user.pk, "version": 2}, follow=True)
    assert "Deleted in Salesforce: this project is kept read-only" in refused.content.decode()
    project.refresh_from_db()
    assert project.name == "Relaunch"


def test_history_shows_links_dates_and_numbers_as_the_page_does(
    org: Organization, admin_user: User, admin_client: Client
) -> None:
    add_object(org)
    make_custom_field(org, object_type="project__c", label="Account", data_type="link", target="account")
    make_custom_field(org, object_type="project__c", label="Budget", data_type="currency")
    make_custom_field(org, object_type="project__c", label="Hours", data_type="number", decimal_places=1)
    account = make_account(org, name="Orbit Fabrikam Corp")
    project = _project(org, admin_user, budget="467000")
    person = Actor.person(admin_user)
    record_update(record=project, custom_values={"account": account, "budget": "512345.5", "hours": 1200}, actor=person)
    at = dt.datetime(2026, 12, 8, 3, 1, 35, 914930, tzinfo=dt.UTC)
    records_mark_removed(model=ObjectRecord, record_ids=[project.pk], reason="Deleted in Salesforce", at=at)
    page = admin_client.get(project.get_absolute_url()).content.decode()
    assert "<strong>Account</strong>: — → Orbit Fabrikam Corp" in page
    assert "<strong>Budget</strong>: 467,000.00 → 512,345.50" in page
    assert "<strong>Hours</strong>: — → 1,200.0" in page
    assert "<strong>Removed at</strong>: — → 2026-12-08 03:01" in page


def test_the_edit_form_shows_a_currency_with_its_decimal_places(
    org: Organization, admin_user: User, admin_client: Client
) -> None:
    add_object(org)
    make_custom_field(org, object_type="project__c", label="Budget", data_type="currency")
    project = _project(org, admin_user, budget="467000")
    assert project.custom_values["budget"] == 467000.0
    edit = reverse("object_record_edit", args=[org.slug, "project__c", project.code])
    assert 'value="467000.00"' in admin_client.get(edit).content.decode()
    # Saved unchanged, it is no change.
    admin_client.post(edit, {"name": "Relaunch", "owner": admin_user.pk, "cf_budget": "467000.00", "version": 1})
    project.refresh_from_db()
    assert project.version == 1


def test_a_parents_section_adds_a_record_linked_to_it(
    org: Organization, admin_user: User, admin_client: Client
) -> None:
    add_object(org)
    make_custom_field(org, object_type="project__c", label="Account", data_type="link", target="account")
    account = make_account(org, name="Initech")
    create = reverse("object_record_create", args=[org.slug, "project__c"])
    add = f"{create}?account={account.code}"
    assert f'href="{add}"' in admin_client.get(account.get_absolute_url()).content.decode()
    form = admin_client.get(add)
    assert form.context["form"]["cf_account"].value() == account.pk
    assert re.search(rf'<option value="{account.pk}" selected>Initech</option>', form.content.decode())
    admin_client.post(add, {"name": "Rollout", "owner": admin_user.pk, "cf_account": account.pk})
    assert ObjectRecord.objects.get(name="Rollout").custom_values == {"account": account.pk}
    # A code that names no account presets nothing, and says so.
    assert "There is no Account with the code" in admin_client.get(f"{create}?account=nope").content.decode()
