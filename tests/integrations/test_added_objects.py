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
    new = record_create(
        organization=org,
        model=ObjectRecord,
        values={"name": "Made in Rox"},
        custom_values={"account": account_of(account_id), "status": "Planned"},
        actor=person,
        object_type="project__c",
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
    with pytest.raises(CommandError, match="required: sobject"):
        run("objects", "add", "--org", org.slug)
    with pytest.raises(CommandError, match="no object Nope__c"):
        run("objects", "add", "--org", org.slug, "Nope__c")
    assert FieldMapping.objects.filter(object_mapping__sobject="Project__c").exists()
