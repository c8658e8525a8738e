"""A standard Salesforce object Rox has no model of its own for, added to the sync as an admin would (issue 16, "any
Salesforce object"): Case, whose name is the Auto Number CaseNumber rather than a Name. Listed after the custom
objects, added with its lookups to Account and Contact as Link fields, read by the first sync, edited on its Rox page
and written back, deleted in Salesforce and removed in Rox. Everything against sfsim over HTTPS."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client
from django.urls import reverse

from integrations import objects
from integrations.engine.drain import drain
from integrations.engine.runner import sync_object
from integrations.models import OutboxEntry, SalesforceConnection, SalesforceLink, SyncRun
from mappings.models import ObjectMapping
from roxcrm.models import Account, Contact, CustomField, ObjectDefinition, ObjectRecord, Organization
from tests.integrations.test_writeback import connection, create, read

__all__ = ["connection"]  # the fixture shared with test_writeback

FIELDS = ["Subject", "Status", "Priority", "AccountId", "ContactId"]


def linked(model: type[Any], sobject: str, sf_id: str) -> Any:
    return model.objects.get(pk=SalesforceLink.objects.get(sobject=sobject, sf_id=sf_id).record_id)


def test_case_is_listed_after_the_custom_objects(connection: SalesforceConnection) -> None:
    addable = objects.addable_objects(connection)
    names = [a.sobject for a in addable]
    case = addable[names.index("Case")]
    assert (case.label, case.plural, case.custom, case.createable) == ("Case", "Cases", False, True)
    custom = [a.custom for a in addable]
    assert custom == sorted(custom, reverse=True) and "Project__c" in names[: custom.count(True)]
    assert not {"Account", "Contact", "Lead", "Opportunity", "Task", "User", "Pricebook2"} & set(names)
    # + Add object's second step: the number is the name (not offered); the lookups to synced objects are proposed.
    preview = objects.object_preview(connection, "Case")
    offered = {f.name for f in preview.fields}
    assert {"Subject", "Status", "Priority", "AccountId", "ContactId", "ParentId"} <= offered
    assert not {"CaseNumber", "Name", "MasterRecordId", "AssetId", "OwnerId", "IsDeleted"} & offered
    assert {f.name for f in preview.proposed} == {"AccountId", "ContactId", "ParentId"}  # ParentId: a parent case
    objects.object_add(connection, "Case", fields=FIELDS, rule="read_write")
    assert "Case" not in [a.sobject for a in objects.addable_objects(connection)]


def test_an_added_case_is_read_edited_written_back_and_deleted(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Client
) -> None:
    initech = create(sfsim, "Account", Name="Initech")
    globex = create(sfsim, "Account", Name="Globex")
    peter = create(sfsim, "Contact", LastName="Gibbons", FirstName="Peter", AccountId=initech)
    sync_object(connection, "Account")
    sync_object(connection, "Contact")

    mapping = objects.object_add(connection, "Case", fields=FIELDS, rule="read_write")
    rows = {m.sf_field: (m.rox_field, m.rule) for m in mapping.field_mappings.all()}
    # A case is called by its number, which Salesforce assigns: read only.
    assert rows["CaseNumber"] == ("name", "read_only") and "Name" not in rows
    assert rows["OwnerId"] == ("owner", "read_write")
    assert rows["Subject"] == ("custom.subject", "read_write") and rows["Status"] == ("custom.status", "read_write")
    assert rows["AccountId"] == ("custom.account", "read_write") and rows["ContactId"] == (
        "custom.contact",
        "read_write",
    )
    links = {
        f.api_name: (f.data_type, f.target) for f in CustomField.objects.filter(organization=org, data_type="link")
    }
    assert links == {"account": ("link", "account"), "contact": ("link", "contact")}
    definition = ObjectDefinition.objects.get(organization=org, key="case")
    assert (definition.sobject, definition.label, definition.plural) == ("Case", "Case", "Cases")
    preflight = connection.runs.filter(kind=SyncRun.Kind.PREFLIGHT).latest("pk")  # object_add checks again
    checks = {c["key"]: c["status"] for c in preflight.details["checks"]}
    assert checks["object_Case"] == "pass" and checks["fields_Case"] == "pass"

    # The first sync reads the cases with their account and contact as links.
    jammed = create(sfsim, "Case", Subject="Printer jammed", AccountId=initech, ContactId=peter, Priority="High")
    slow = create(sfsim, "Case", Subject="Reports are slow", AccountId=globex, Status="Working")
    run = sync_object(connection, "Case").run
    assert run is not None and run.outcome == "succeeded", run and run.error
    case = linked(ObjectRecord, "Case", jammed)
    number = read(sfsim, "Case", jammed)["CaseNumber"]
    assert re.fullmatch(r"\d{8}", number) and (case.name, case.object_type) == (number, "case")
    assert case.custom_values == {
        "subject": "Printer jammed",
        "status": "New",
        "priority": "High",
        "account": linked(Account, "Account", initech).pk,
        "contact": linked(Contact, "Contact", peter).pk,
    }
    assert linked(ObjectRecord, "Case", slow).custom_values["account"] == linked(Account, "Account", globex).pk
    account_page = admin_client.get(linked(Account, "Account", initech).get_absolute_url()).content.decode()
    assert case.get_absolute_url() in account_page  # the account's page lists its case

    # Edited on its page in Rox (moved to Globex, escalated), written back to Salesforce.
    edit_url = reverse("object_record_edit", args=[org.slug, "case", case.code])
    form = admin_client.get(edit_url)
    assert form.status_code == 200 and number in form.content.decode()
    saved = admin_client.post(
        edit_url,
        {
            "name": number,
            "owner": "",  # as the form shows it: Salesforce's owner is no Rox user here
            "cf_subject": "Printer jammed again",
            "cf_status": "Escalated",
            "cf_priority": "High",
            "cf_account": linked(Account, "Account", globex).pk,
            "cf_contact": linked(Contact, "Contact", peter).pk,
            "version": case.version,
        },
    )
    assert saved.status_code == 302, saved.content.decode()[:3000]
    # The edit queued its writeback, which ran at once (tasks run inline in tests): nothing is left to write.
    [written] = OutboxEntry.objects.filter(sobject="Case", record_id=case.pk)
    assert written.state == "done" and set(written.fields) == {"custom.subject", "custom.status", "custom.account"}
    assert drain(connection, "Case").skipped_reason == "nothing to write"
    row = read(sfsim, "Case", jammed)
    assert (row["Subject"], row["Status"], row["AccountId"], row["CaseNumber"]) == (
        "Printer jammed again",
        "Escalated",
        globex,
        number,
    )

    # Deleted in Salesforce: removed in Rox at the next sync; the other case stays.
    sfsim.control("DELETE", f"records/Case/{slow}")
    sync_object(connection, "Case")
    assert linked(ObjectRecord, "Case", slow).removed_at is not None
    assert linked(ObjectRecord, "Case", jammed).removed_at is None
    assert ObjectMapping.objects.get(organization=org, sobject="Case").sync_enabled
