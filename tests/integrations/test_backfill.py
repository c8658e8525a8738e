"""Mappings take effect on existing records (issue 17): a field mapped after an object's first read is filled on
every record read before, by a read of Id and that field only, under the object's lock, without moving the
object's cursor; a blank in Salesforce never clears Rox's value; nothing is created from the narrow read. Against
sfsim over HTTPS, with django-q in sync mode (the task runs when the mapping's change commits)."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from integrations.engine.locks import BUSY, acquire, release
from integrations.engine.runner import backfill, sync_object
from integrations.models import SalesforceConnection, SyncCursor, SyncRun
from mappings.metadata import salesforce_object
from mappings.models import ObjectMapping
from mappings.services import custom_field_create_and_map, custom_field_draft
from roxcrm.models import Account, Organization, User
from tests.integrations.test_writeback import connection, create

__all__ = ["connection"]  # the fixture shared with test_writeback


def map_description(org: Organization, user: User, rule: str = "read_only") -> None:
    accounts = ObjectMapping.objects.get(organization=org, sobject="Account")
    described = salesforce_object(org, "Account")
    assert described is not None
    field = custom_field_draft(organization=org, object_type="account", sf=described.fields["Description"])
    custom_field_create_and_map(object_mapping=accounts, field=field, sf_field="Description", rule=rule, user=user)


def notes(org: Organization) -> dict[str, Any]:
    accounts = Account.objects.filter(organization=org)
    return {a.name: (a.custom_values or {}).get("account_description") for a in accounts}


def test_a_field_mapped_after_the_first_read_is_filled_on_existing_records(
    connection: SalesforceConnection,
    sfsim: Any,
    org: Organization,
    admin_user: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    for name, description in (("Initech", "Printers"), ("Hooli", "Search"), ("Blank Co", None)):
        create(sfsim, "Account", Name=name, **({"Description": description} if description else {}))
    assert sync_object(connection, "Account").run.outcome == "succeeded"  # type: ignore[union-attr]
    cursor = SyncCursor.objects.get(connection=connection, sobject="Account")
    before = cursor.cursor
    with django_capture_on_commit_callbacks(execute=True):
        map_description(org, admin_user)
    assert notes(org) == {"Initech": "Printers", "Hooli": "Search", "Blank Co": None}
    cursor.refresh_from_db()
    assert cursor.backfill_fields == [] and cursor.cursor == before  # done, and the cursor did not move
    run = SyncRun.objects.filter(kind="inbound", details__backfill__isnull=False).get()
    assert run.details["backfill"] == ["Description"] and run.counts["updated"] == 2
    assert Account.objects.get(name="Initech").field_times.get("custom.account_description", {}).get("by") == "sync"


def test_a_backfill_never_creates_and_waits_while_the_object_is_busy(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    create(sfsim, "Account", Name="Initech", Description="Printers")
    sync_object(connection, "Account")
    late = create(sfsim, "Account", Name="Late Co", Description="Late")  # not read yet
    map_description(org, admin_user)  # (no commit here: the task is not run; the field waits on the cursor)
    cursor = SyncCursor.objects.get(connection=connection, sobject="Account")
    assert cursor.backfill_fields == ["Description"]
    token = acquire(cursor)  # another run holds the object (a drain, say)
    assert token is not None
    assert backfill(connection, "Account").skipped_reason == BUSY  # busy: the field waits
    release(cursor, token)
    result = backfill(connection, "Account")
    assert result.run is not None and result.run.counts["created"] == 0 and result.run.counts["updated"] == 1
    assert notes(org) == {"Initech": "Printers"}  # Late Co is its object's next run's to create, in full
    sync_object(connection, "Account")
    assert notes(org) == {"Initech": "Printers", "Late Co": "Late"}
    assert late


def test_the_next_run_fills_what_waits(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User, admin_client: Client
) -> None:
    create(sfsim, "Account", Name="Initech", Description="Printers")
    sync_object(connection, "Account")
    map_description(org, admin_user)
    page = admin_client.get(reverse("mappings_tab", args=[org.slug, "accounts"])).content.decode()
    assert "waiting to be filled on existing records: Description" in page
    sync_object(connection, "Account")  # an ordinary run, which finds the field waiting
    assert notes(org) == {"Initech": "Printers"}
    # Its edit page says once why the field is read-only there (the rule), not a second, generic reason too.
    account = Account.objects.get(organization=org, name="Initech")
    edit = admin_client.get(reverse("account_edit", args=[org.slug, account.code])).content.decode()
    assert edit.count("mapped Read Only in CRM Mappings") == 1
    assert "only the Salesforce sync sets it" not in edit
    assert SyncCursor.objects.get(connection=connection, sobject="Account").backfill_fields == []


def test_sync_now_and_resync_everything_from_the_tab(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Client
) -> None:
    create(sfsim, "Account", Name="Initech")
    tab = reverse("mappings_tab", args=[org.slug, "accounts"])
    page = admin_client.get(tab).content.decode()
    assert 'data-testid="sync-now-Account"' in page and "Not synced yet." in page
    accounts = ObjectMapping.objects.get(organization=org, sobject="Account")
    response = admin_client.post(tab, {"action": "sync_now", "target": str(accounts.code)})
    assert response.status_code == 302
    assert Account.objects.filter(organization=org, name="Initech").exists()  # (the task ran: sync mode)
    page = admin_client.get(tab).content.decode()
    assert "Account: sync started." in page and "1 read, 1 created, 0 updated" in page
    # Resync everything: a confirmation with the estimate, refused without the tick, then every object re-read.
    resync = reverse("mappings_resync", args=[org.slug])
    page = admin_client.get(resync).content.decode()
    assert 'data-testid="resync-estimate"' in page and "API calls" in page and "Total" in page
    # The records Rox holds (what a full read reads again), not the last incremental run's count (2 here).
    create(sfsim, "Account", Name="Hooli")
    create(sfsim, "Account", Name="Umbrella")
    sync_object(connection, "Account")
    page = admin_client.get(resync).content.decode()
    assert '<td>Account</td><td class="num">3</td>' in page
    admin_client.post(resync, {"tab": "accounts"})
    assert not SyncRun.objects.filter(kind="inbound", details__since__isnull=True, sobject="Contact").exists()
    response = admin_client.post(resync, {"tab": "accounts", "confirm": "on"})
    assert response.status_code == 302 and response["Location"] == tab
    full = SyncRun.objects.filter(kind="inbound", sobject="Account").order_by("-started_at").first()
    assert full is not None and full.details["since"] is None and full.counts["unchanged"] + full.counts["updated"] == 3
    assert SyncRun.objects.filter(kind="inbound", sobject="Contact").exists()
