"""A Salesforce custom object added to the sync (issue 16): listed from describeGlobal, added with its Name, owner,
lookup to Account (a Link) and chosen fields, read by the same engine as the standard objects (a child that arrives
before its account is linked when the account does), written back both ways, deleted in Salesforce, removed and
restored, and driven from the command line. Everything against sfsim over HTTPS."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations import objects
from integrations.engine.drain import drain
from integrations.engine.plan import object_plans
from integrations.engine.runner import sync_object
from integrations.models import SalesforceConnection, SalesforceLink
from mappings.models import FieldMapping, ObjectMapping
from roxcrm.models import Account, CustomField, FieldChange, ObjectDefinition, ObjectRecord, Organization, User
from roxcrm.services import Actor, record_create, record_update
from tests.integrations.test_writeback import connection, create, read

__all__ = ["connection"]  # the fixture shared with test_writeback

FIELDS = ["Account__c", "Status__c", "Budget__c", "Start_Date__c"]


def project(sf_id: str) -> ObjectRecord:
    link = SalesforceLink.objects.get(sobject="Project__c", sf_id=sf_id)
    return ObjectRecord.objects.get(pk=link.record_id)


def made_in_rox(org: Organization, object_type: str, name: str, custom_values: dict[str, Any], actor: Actor) -> Any:
    """A record of an added object created in Rox (new entity writeback creates it in Salesforce)."""
    return record_create(
        organization=org,
        model=ObjectRecord,
        values={"name": name},
        custom_values=custom_values,
        actor=actor,
        object_type=object_type,
    )


def account_of(sf_id: str) -> Account:
    return Account.objects.get(pk=SalesforceLink.objects.get(sobject="Account", sf_id=sf_id).record_id)


def test_the_objects_that_can_be_added_are_listed_custom_first(connection: SalesforceConnection) -> None:
    addable = objects.addable_objects(connection)
    names = [a.sobject for a in addable]
    assert names[0] == "Project__c" and addable[0].label == "Project" and addable[0].custom
    assert not {"Account", "Contact", "Task", "User", "PermissionSet", "UserLicense"} & set(names)
    objects.object_add(connection, "Project__c", fields=FIELDS)
    assert "Project__c" not in [a.sobject for a in objects.addable_objects(connection)]


def test_an_added_object_is_read_with_its_fields_and_its_account_link(
    connection: SalesforceConnection, sfsim: Any, org: Organization
) -> None:
    early = create(sfsim, "Account", Name="Initech")
    mapping = objects.object_add(connection, "Project__c", fields=FIELDS, rule="read_write")
    rows = {m.sf_field: (m.rox_field, m.rule) for m in mapping.field_mappings.all()}
    assert rows["Name"] == ("name", "read_write") and rows["OwnerId"] == ("owner", "read_write")
    assert rows["Account__c"] == ("custom.account", "read_write")
    link_field = CustomField.objects.get(organization=org, object_type="project__c", api_name="account")
    assert (link_field.data_type, link_field.target) == ("link", "account")
    definition = ObjectDefinition.objects.get(organization=org, key="project__c")
    assert (definition.label, definition.plural) == ("Project", "Projects")
    # A project whose account Rox has not read yet, and one whose account is already in Rox.
    late = create(sfsim, "Account", Name="Late Parent Ltd")
    sync_object(connection, "Account")
    Account.objects.filter(name="Late Parent Ltd").delete()
    SalesforceLink.objects.filter(sf_id=late).delete()
    waiting = create(sfsim, "Project__c", Name="Waiting", Account__c=late, Status__c="Planned")
    ready = create(
        sfsim,
        "Project__c",
        Name="Relaunch",
        Account__c=early,
        Status__c="Active",
        Budget__c=125000.5,
        Start_Date__c="2026-03-01",
    )
    assert [p.sobject for p in object_plans(org)][-1] == "Project__c"
    run = sync_object(connection, "Project__c").run
    assert run is not None and run.outcome == "succeeded", run and run.error
    relaunch = project(ready)
    assert (relaunch.name, relaunch.object_type, relaunch.definition_id) == ("Relaunch", "project__c", definition.pk)
    assert relaunch.custom_values == {
        "account": account_of(early).pk,
        "status": "Active",
        "budget": 125000.5,
        "start_date": "2026-03-01",
    }
    assert "account" not in project(waiting).custom_values  # its account is not in Rox yet
    sync_object(connection, "Account", full=True)  # the account arrives: the waiting project is linked to it
    linked = project(waiting)
    assert linked.custom_values["account"] == account_of(late).pk and linked.version == 2
    history = FieldChange.objects.get(object_type="project__c", record_id=linked.pk, field="custom.account")
    assert history.actor_label == "Salesforce sync"


def test_an_added_object_is_written_back_both_ways(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    account_id = create(sfsim, "Account", Name="Initech")
    other_id = create(sfsim, "Account", Name="Globex")
    sync_object(connection, "Account")
    objects.object_add(connection, "Project__c", fields=FIELDS, rule="read_write")
    sf_id = create(sfsim, "Project__c", Name="Rollout", Account__c=account_id, Status__c="Planned")
    sync_object(connection, "Project__c")
    person = Actor.person(admin_user)
    record_update(
        record=project(sf_id),
        values={"name": "Rollout, phase 2"},
        custom_values={"status": "Done", "account": account_of(other_id)},
        actor=person,
    )
    result = drain(connection, "Project__c")
    assert result.written == 1, result
    row = read(sfsim, "Project__c", sf_id)
    assert (row["Name"], row["Status__c"], row["Account__c"]) == ("Rollout, phase 2", "Done", other_id)
    # New entity writeback: a project created in Rox is created in Salesforce with its account.
    mapping = ObjectMapping.objects.get(organization=org, sobject="Project__c")
    mapping.new_entity_writeback = True
    mapping.full_clean()
    mapping.save()
    new = made_in_rox(
        org, "project__c", "Made in Rox", {"account": account_of(account_id), "status": "Planned"}, person
    )
    result = drain(connection, "Project__c")
    assert result.created == 1, result
    made = SalesforceLink.objects.get(sobject="Project__c", rox_object="project__c", record_id=new.pk).sf_id
    row = read(sfsim, "Project__c", made)
    assert (row["Name"], row["Account__c"], row["Status__c"]) == ("Made in Rox", account_id, "Planned")


def test_deleted_in_salesforce_and_removed_and_restored_in_rox(
    connection: SalesforceConnection, sfsim: Any, org: Organization
) -> None:
    objects.object_add(connection, "Project__c", fields=["Status__c"])
    keep = create(sfsim, "Project__c", Name="Keep")
    doomed = create(sfsim, "Project__c", Name="Doomed")
    sync_object(connection, "Project__c")
    sfsim.control("DELETE", f"records/Project__c/{doomed}")
    sync_object(connection, "Project__c")
    assert project(doomed).removed_at is not None and project(keep).removed_at is None
    assert objects.object_remove(connection, "Project__c") == 2
    assert ObjectRecord.objects.filter(object_type="project__c").count() == 2  # kept, archived
    assert sync_object(connection, "Project__c").run is None  # not synced any more
    assert not [p for p in object_plans(org) if p.sobject == "Project__c"]
    objects.object_add(connection, "Project__c")  # added again: records, links and mappings come back
    assert ObjectMapping.objects.get(organization=org, sobject="Project__c").sync_enabled
    assert project(keep).name == "Keep"
    assert objects.object_remove(connection, "Project__c", delete_records=True) == 2
    assert not ObjectRecord.objects.exists() and not SalesforceLink.objects.filter(sobject="Project__c").exists()
    assert not CustomField.objects.filter(object_type="project__c").exists()


def test_bad_requests_are_refused_with_the_reason(connection: SalesforceConnection) -> None:
    for sobject, fields, message in (
        ("Account", None, "synced by Rox already"),
        ("Nope__c", None, "no object Nope__c"),
        ("Project__c", ["Bogus__c"], "has no field Bogus__c"),
    ):
        with pytest.raises(ValidationError, match=message):
            objects.object_add(connection, sobject, fields=fields)
    with pytest.raises(ValidationError, match="not a rule"):
        objects.object_add(connection, "Project__c", rule="sometimes")
    assert not ObjectDefinition.objects.exists() and not ObjectMapping.objects.filter(sobject="Project__c").exists()
    added = objects.object_add(connection, "Project__c")  # by default: Name, the owner and the lookups
    assert {m.sf_field: m.rule for m in added.field_mappings.all()} == {
        "Name": "read_only",
        "OwnerId": "read_only",
        "Account__c": "read_only",
    }
    with pytest.raises(ValidationError, match="synced already"):
        objects.object_add(connection, "Project__c")


def test_the_command_lists_adds_syncs_and_removes(
    connection: SalesforceConnection, sfsim: Any, org: Organization
) -> None:
    create(sfsim, "Project__c", Name="From the CLI", Status__c="Active")

    def run(*args: str) -> str:
        out = StringIO()
        call_command("salesforce", *args, stdout=out)
        return out.getvalue()

    assert "Project__c" in run("objects", "--org", org.slug)
    added = run("objects", "add", "--org", org.slug, "Project__c", "--fields", "Name,Status__c", "--rule", "read_write")
    assert "Added Project__c" in added and "Status__c → custom.status (Read and Write)" in added
    run("sync", "--org", org.slug, "--object", "Project__c")
    assert ObjectRecord.objects.get(object_type="project__c").custom_values == {"status": "Active"}
    assert "its 1 Rox records kept" in run("objects", "remove", "--org", org.slug, "Project__c")
    again = run("objects", "add", "--org", org.slug, "Project__c", "--rule", "read_only")  # restored as it was
    assert "Restored Project__c" in again and "its 1 Rox records and its earlier mappings" in again
    assert "Status__c → Status, Read and Write" in again and "--rule and --tab are not applied" in again
    assert FieldMapping.objects.get(object_mapping__sobject="Project__c", sf_field="Status__c").rule == "read_write"
    run("objects", "remove", "--org", org.slug, "Project__c")
    with pytest.raises(CommandError, match="required: sobject"):
        run("objects", "add", "--org", org.slug)
    with pytest.raises(CommandError, match="no object Nope__c"):
        run("objects", "add", "--org", org.slug, "Nope__c")
    assert FieldMapping.objects.filter(object_mapping__sobject="Project__c").exists()


def test_an_admin_adds_and_removes_an_object_on_crm_mappings(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Any, member_client: Any
) -> None:
    from django.urls import reverse

    tab = admin_client.get(reverse("mappings_tab", args=[org.slug, "accounts"])).content.decode()
    add_url = reverse("mappings_add_object", args=[org.slug])
    assert add_url in tab
    listing = admin_client.get(add_url).content.decode()
    assert "Project__c" in listing and "Account</td>" not in listing
    step_two = admin_client.get(add_url, {"sobject": "Project__c"}).content.decode()
    assert 'value="Account__c" id="f-Account__c" checked' in step_two  # the lookup is proposed
    assert 'id="f-Status__c"' in step_two and 'id="f-Status__c" checked' not in step_two  # offered, not ticked
    wrong_tab = admin_client.post(add_url, {"sobject": "Project__c", "fields": ["Status__c"], "tab": "nowhere"})
    assert wrong_tab.status_code == 400 and "is not a CRM Mappings tab" in wrong_tab.content.decode()
    added = admin_client.post(
        add_url,
        {"sobject": "Project__c", "fields": ["Account__c", "Status__c"], "rule": "read_write", "tab": "custom"},
        follow=True,
    )
    page = added.content.decode()
    assert "Project added" in page and "Custom objects" in page and "Remove object" in page
    mapping = ObjectMapping.objects.get(organization=org, sobject="Project__c")
    assert {m.sf_field for m in mapping.field_mappings.all()} == {"Name", "OwnerId", "Account__c", "Status__c"}
    assert member_client.get(add_url).status_code == 403
    create(sfsim, "Project__c", Name="Kept")
    sync_object(connection, "Project__c")
    remove_url = reverse("mappings_remove_object", args=[org.slug, mapping.code])
    assert "1 record in Rox is kept" in admin_client.get(remove_url).content.decode()
    refused = admin_client.post(remove_url, {"delete_records": "on", "confirm": "wrong"})
    assert refused.status_code == 400 and ObjectRecord.objects.count() == 1
    admin_client.post(remove_url, {})
    assert ObjectRecord.objects.count() == 1 and ObjectDefinition.objects.get(key="project__c").archived_at
    nav = admin_client.get(reverse("dashboard", args=[org.slug])).content.decode()
    assert reverse("object_record_list", args=[org.slug, "project__c"]) not in nav
    admin_client.post(remove_url, {"delete_records": "on", "confirm": "Project__c"})
    assert not ObjectRecord.objects.exists() and not ObjectDefinition.objects.exists()


def test_preflight_checks_added_objects_and_a_lost_one_asks_for_action_while_others_sync(
    connection: SalesforceConnection, sfsim: Any, org: Organization
) -> None:
    from integrations import services
    from integrations.status import card_status

    objects.object_add(connection, "Project__c", fields=["Status__c"], rule="read_write")
    run = services.preflight_run(connection=connection)
    checks = {c["key"]: c for c in run.details["checks"]}
    assert checks["object_Project__c"]["status"] == "pass"
    assert checks["fields_Project__c"]["status"] == "pass" and "mapped fields" in checks["fields_Project__c"]["title"]
    connection.refresh_from_db()
    assert card_status(connection).label == "Connected"
    # Salesforce's admin takes the object away from the integration user.
    sfsim.control("PUT", "object-permissions", {"parent": "System Administrator", "object": "Project__c"})
    run = services.preflight_run(connection=connection)
    check = {c["key"]: c for c in run.details["checks"]}["object_Project__c"]
    assert check["status"] == "fail" and "Permission Sets" in check["fix"] and "not “Rox Integration”" in check["fix"]
    connection.refresh_from_db()
    assert card_status(connection).label == "Action Required" and "Project__c" in connection.action_reason
    create(sfsim, "Account", Name="Still syncing")
    assert sync_object(connection, "Account").run.outcome == "succeeded"  # type: ignore[union-attr]
    assert Account.objects.filter(name="Still syncing").exists()


def test_twenty_added_objects_on_one_organization(
    connection: SalesforceConnection, sfsim: Any, org: Organization
) -> None:
    from integrations import services

    for i in range(20):
        sfsim.control(
            "POST",
            "objects",
            {
                "name": f"Thing{i}__c",
                "label": f"Thing {i}",
                "pluralLabel": f"Things {i}",
                "fields": [{"name": "Account__c", "type": "Lookup", "referenceTo": ["Account"]}],
            },
        )
        objects.object_add(connection, f"Thing{i}__c")
    account_id = create(sfsim, "Account", Name="Hub")
    for i in range(20):
        create(sfsim, f"Thing{i}__c", Name=f"thing {i}", Account__c=account_id)
    run = services.preflight_run(connection=connection)
    checks = {c["key"]: c["status"] for c in run.details["checks"]}
    assert all(checks[f"object_Thing{i}__c"] == "pass" for i in range(20))
    for plan in object_plans(org):
        sync_object(connection, plan.sobject)
    assert ObjectRecord.objects.count() == 20
    hub = account_of(account_id)
    assert {r.custom_values["account"] for r in ObjectRecord.objects.all()} == {hub.pk}


def test_a_master_detail_child_read_before_its_master_is_linked_when_it_arrives(
    connection: SalesforceConnection, sfsim: Any, org: Organization
) -> None:
    sfsim.control(
        "POST",
        "objects",
        {
            "name": "Phase__c",
            "label": "Phase",
            "pluralLabel": "Phases",
            "fields": [{"name": "Project__c", "type": "MasterDetail", "referenceTo": ["Project__c"]}],
        },
    )
    objects.object_add(connection, "Project__c")
    mapping = objects.object_add(connection, "Phase__c", rule="read_write")
    rows = {m.sf_field: m.rule for m in mapping.field_mappings.all()}
    assert "OwnerId" not in rows  # a detail's owner is its master's
    assert rows["Project__c"] == "read_write"  # a master-detail that cannot be reparented: written on create only
    assert [p.sobject for p in object_plans(org)][-2:] == ["Project__c", "Phase__c"]  # masters first
    project_id = create(sfsim, "Project__c", Name="Apollo")
    phase_id = create(sfsim, "Phase__c", Name="Design", Project__c=project_id)
    sync_object(connection, "Phase__c")  # the master is not in Rox yet
    phase = ObjectRecord.objects.get(pk=SalesforceLink.objects.get(sf_id=phase_id).record_id)
    assert "project" not in phase.custom_values
    sync_object(connection, "Project__c")
    phase.refresh_from_db()
    assert phase.custom_values["project"] == project(project_id).pk


def test_a_formula_on_an_added_object_follows_its_parent_at_once(
    connection: SalesforceConnection, sfsim: Any, org: Organization
) -> None:
    """Project__c.Account_Industry__c is a formula on its account's Industry: Salesforce does not move the project's
    SystemModstamp when the account changes, so Rox re-reads it when it sees the account change."""
    account_id = create(sfsim, "Account", Name="Initech", Industry="Retail")
    sync_object(connection, "Account")
    objects.object_add(connection, "Project__c", fields=["Account__c", "Account_Industry__c"])
    sf_id = create(sfsim, "Project__c", Name="Relaunch", Account__c=account_id)
    sync_object(connection, "Project__c")
    assert project(sf_id).custom_values["account_industry"] == "Retail"
    sfsim.control("PATCH", f"records/Account/{account_id}", {"fields": {"Industry": "Banking"}})
    sync_object(connection, "Account")
    assert project(sf_id).custom_values["account_industry"] == "Banking"


def test_the_mapping_test_dry_runs_an_added_object_and_writes_nothing(
    connection: SalesforceConnection, sfsim: Any, org: Organization
) -> None:
    from integrations import services

    account_id = create(sfsim, "Account", Name="Initech")
    sync_object(connection, "Account")
    objects.object_add(connection, "Project__c", fields=["Account__c", "Status__c"])
    create(sfsim, "Project__c", Name="Preview me", Account__c=account_id, Status__c="Active")
    results = {r["sobject"]: r for r in services.mapping_test(connection=connection)}
    [preview] = results["Project__c"]["previews"]
    assert preview.action == "create" and not results["Project__c"]["error"]
    shown = {sf_field: rox for sf_field, _, rox in preview.fields}
    assert shown["Name"] == "Preview me" and shown["Status__c"] == "Active"
    assert not ObjectRecord.objects.exists()  # a dry run writes nothing


def test_a_master_detail_child_is_created_from_rox_under_its_master(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User, admin_client: Any
) -> None:
    """Milestone__c's Project__c (master-detail, not reparentable) is createable but not updateable: Salesforce
    takes it when a milestone is created and never after. A writing rule on it is allowed and explained; the
    create sends it, an update never does (no error, no row left waiting), and people cannot change it on a
    milestone Salesforce holds. New entity writeback then creates a milestone made in Rox under its project (not
    linked to another project's milestone of the same name)."""
    from django.urls import reverse

    from integrations.models import OutboxEntry
    from sfsim.seed import MILESTONE

    sfsim.control("POST", "objects", MILESTONE)
    objects.object_add(connection, "Project__c", fields=["Status__c"], rule="read_write")
    milestones = objects.object_add(connection, "Milestone__c", fields=["Project__c", "Status__c"], rule="read_write")
    row = milestones.field_mappings.get(sf_field="Project__c")
    assert row.rule == "read_write"  # a writing rule, as asked: the create sends it
    # On the tab: mapped Read Only, new entity writeback is blocked; Read and Write is accepted again.
    tab = reverse("mappings_tab", args=[org.slug, "custom"])
    for rule in ("read_only", "read_write"):
        saved = admin_client.post(tab, {"action": "update_row", "target": str(row.code), f"row-{row.code}-rule": rule})
        assert saved.status_code == 302, saved.content.decode()[-3000:]
        row.refresh_from_db()
        assert row.rule == rule
        if rule == "read_only":
            blocked = admin_client.get(tab).content.decode()
            assert "Salesforce requires Project__c on every new Milestone__c" in blocked
    page = admin_client.get(tab).content.decode()
    assert "written when Rox creates the record; Salesforce does not let it change after" in page
    assert "Salesforce requires Project__c" not in page
    switched = admin_client.post(
        tab,
        {
            "action": "settings",
            "target": str(milestones.code),
            "Milestone__c-sync_enabled": "on",
            "Milestone__c-sync_frequency": "15",
            "Milestone__c-new_entity_writeback": "on",
        },
    )
    assert switched.status_code == 302, switched.content.decode()[-3000:]
    milestones.refresh_from_db()
    assert milestones.new_entity_writeback
    # The prerequisite checks do not report the master-detail as a field the integration user cannot edit.
    from integrations import services

    checks = {c["key"]: c for c in services.preflight_run(connection=connection).details["checks"]}
    assert checks["fields_Milestone__c"]["status"] == "pass", checks["fields_Milestone__c"]

    apollo = create(sfsim, "Project__c", Name="Apollo")
    gemini = create(sfsim, "Project__c", Name="Gemini")
    create(sfsim, "Milestone__c", Name="Kickoff", Project__c=gemini)  # Gemini's kickoff, not Apollo's
    sync_object(connection, "Project__c")
    sync_object(connection, "Milestone__c")
    person = Actor.person(admin_user)
    kickoff = made_in_rox(org, "milestone__c", "Kickoff", {"project": project(apollo), "status": "Not Started"}, person)
    result = drain(connection, "Milestone__c")
    assert (result.created, result.linked, result.failed) == (1, 0, 0), result
    made = SalesforceLink.objects.get(sobject="Milestone__c", record_id=kickoff.pk).sf_id
    row_in_sf = read(sfsim, "Milestone__c", made)
    assert (row_in_sf["Name"], row_in_sf["Project__c"], row_in_sf["Status__c"]) == ("Kickoff", apollo, "Not Started")

    # A person cannot move it to another project: Salesforce would never take the change (the page says so).
    kickoff.refresh_from_db()
    edit = admin_client.get(reverse("object_record_edit", args=[org.slug, "milestone__c", kickoff.code]))
    assert edit.status_code == 200 and "Salesforce does not let it change after" in edit.content.decode()
    with pytest.raises(ValidationError, match="Salesforce does not let it change after"):
        record_update(record=kickoff, custom_values={"project": project(gemini)}, actor=person)
    # Rox itself may change it (the lock is for people), and the update never sends it: no error, nothing waiting.
    kickoff.refresh_from_db()
    record_update(
        record=kickoff, custom_values={"project": project(gemini), "status": "Done"}, actor=Actor.system("test")
    )
    result = drain(connection, "Milestone__c")
    assert (result.written, result.failed, result.retry) == (1, 0, 0), result
    row_in_sf = read(sfsim, "Milestone__c", made)
    assert (row_in_sf["Project__c"], row_in_sf["Status__c"]) == (apollo, "Done")
    kickoff.refresh_from_db()
    record_update(record=kickoff, custom_values={"project": project(apollo)}, actor=Actor.system("test"))
    result = drain(connection, "Milestone__c")
    assert (result.written, result.failed, result.retry) == (0, 0, 0), result
    assert not OutboxEntry.objects.exclude(state=OutboxEntry.State.DONE).exists()


def test_a_removed_object_shows_as_removed_and_adding_it_again_says_what_it_restores(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Any
) -> None:
    """A removed object's section is not a paused one (no Remove, Sync or writeback controls) but "Removed on
    <date> — records kept" with Restore; + Add object lists, for it, the records and the earlier mappings adding it
    again restores, offers no field or rule choices (they would not be applied), and the message says what came
    back."""
    from django.urls import reverse
    from django.utils import timezone

    objects.object_add(connection, "Project__c", fields=["Status__c"], rule="read_write")
    mapping = ObjectMapping.objects.get(organization=org, sobject="Project__c")
    mapping.new_entity_writeback = True
    mapping.save()
    create(sfsim, "Project__c", Name="Kept", Status__c="Active")
    sync_object(connection, "Project__c")
    objects.object_remove(connection, "Project__c")
    day = f"{timezone.localdate(ObjectDefinition.objects.get(key='project__c').archived_at):%Y-%m-%d}"

    tab = admin_client.get(reverse("mappings_tab", args=[org.slug, "custom"])).content.decode()
    section = tab[tab.index('data-testid="removed-Project__c"') : tab.index("Changes on this tab")]
    assert f"Removed on {day} — records kept" in section and "its 1 record stays in Rox" in section
    assert 'data-testid="restore-Project__c"' in section and "Status__c → Status, Read and Write" in section
    for control in ("Remove object", "Sync now", "New entity writeback", "Not syncing", 'name="action"'):
        assert control not in section, control

    add_url = reverse("mappings_add_object", args=[org.slug])
    listing = admin_client.get(add_url).content.decode()
    assert f"removed {day}: adding it restores it" in listing
    page = admin_client.get(add_url, {"sobject": "Project__c"}).content.decode()
    assert f"removed from Rox on {day}" in page
    assert "Adding it again restores its 1 record and its earlier mappings" in page
    restored = page[page.index('data-testid="restored-mappings"') :]
    for words in (
        "Name → Name, Read and Write",
        "OwnerId → Owner, Read and Write",
        "Status__c → Status, Read and Write",
    ):
        assert words in restored, words
    assert 'name="fields"' not in page and 'name="rule"' not in page  # no choices that would not be applied

    # A form posted with choices anyway (an older page): restored as it was, and the message says so.
    answer = admin_client.post(
        add_url, {"sobject": "Project__c", "fields": ["Budget__c"], "rule": "read_only", "tab": "accounts"}, follow=True
    )
    shown = answer.content.decode()
    assert "Project restored: its 1 record and its earlier mappings (Name → Name, Read and Write;" in shown
    assert "The fields and rule on the form were not applied" in shown
    mapping.refresh_from_db()
    assert mapping.sync_enabled and mapping.tab == "custom"
    assert {m.sf_field: m.rule for m in mapping.field_mappings.all()} == {
        "Name": "read_write",
        "OwnerId": "read_write",
        "Status__c": "read_write",
    }
    assert ObjectDefinition.objects.get(key="project__c").archived_at is None
    assert 'data-testid="removed-Project__c"' not in shown and "Remove object" in shown
