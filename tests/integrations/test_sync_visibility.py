"""What people see of the sync: schedules that follow the tabs, Sync health, the record card, the command, and the
weekly reconciliation of hard deletes."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_q.models import Schedule

from integrations.engine.reconcile import reconcile
from integrations.engine.runner import sync_object
from integrations.models import SalesforceConnection, SalesforceLink, SyncError
from mappings.models import FieldMapping, ObjectMapping
from roxcrm.models import Account, Organization
from tests.factories import make_custom_field
from tests.integrations.conftest import connect, submit


@pytest.fixture
def connection(org: Organization, admin_client: Client, sfsim: Any) -> SalesforceConnection:
    sfsim.reset(seed="empty", scenario="ready")
    connected = connect(admin_client, org, sfsim)
    submit(admin_client, org)
    connected.refresh_from_db()
    return connected


def create(sfsim: Any, sobject: str, **fields: Any) -> str:
    return sfsim.control("POST", f"records/{sobject}", {"fields": fields})["id"]


def test_schedules_follow_the_connection_and_the_tabs(
    connection: SalesforceConnection, admin_client: Client, org: Organization
) -> None:
    names = set(Schedule.objects.values_list("name", flat=True))
    prefix = f"salesforce:{connection.pk}"
    assert {f"{prefix}:sync:Account", f"{prefix}:sync:Task", f"{prefix}:formulas", f"{prefix}:reconcile"} <= names
    account = Schedule.objects.get(name=f"{prefix}:sync:Account")
    assert (account.schedule_type, account.minutes, account.func) == ("I", 15, "integrations.tasks.sync_object_task")
    lead = ObjectMapping.objects.get(organization=org, sobject="Lead")
    admin_client.post(
        reverse("mappings_tab", args=[org.slug, "leads"]),
        {"action": "settings", "target": str(lead.code), "Lead-sync_frequency": "60"},  # sync switched off
    )
    assert not Schedule.objects.filter(name=f"{prefix}:sync:Lead").exists()
    admin_client.post(
        reverse("mappings_tab", args=[org.slug, "leads"]),
        {"action": "settings", "target": str(lead.code), "Lead-sync_enabled": "on", "Lead-sync_frequency": "60"},
    )
    assert Schedule.objects.get(name=f"{prefix}:sync:Lead").minutes == 60
    admin_client.post(reverse("salesforce_disconnect", args=[org.slug]))
    assert not Schedule.objects.filter(name__startswith=prefix).exists()


def test_a_scheduled_task_syncs(connection: SalesforceConnection, sfsim: Any) -> None:
    from integrations.tasks import sync_object_task

    create(sfsim, "Account", Name="Scheduled Inc")
    assert sync_object_task(connection.pk, "Account") == "Succeeded"
    assert Account.objects.filter(organization=connection.organization, name="Scheduled Inc").exists()
    SalesforceConnection.objects.filter(pk=connection.pk).update(auth_refused=True)
    assert sync_object_task(connection.pk, "Account") == "skipped: not connected"


def test_sync_health_shows_objects_errors_and_conflicts_and_retry_fixes_errors(
    connection: SalesforceConnection,
    sfsim: Any,
    admin_client: Client,
    member_client: Client,
    outsider_client: Client,
    org: Organization,
) -> None:
    tier = make_custom_field(org, label="Tier", data_type="picklist", options=["Gold"])
    account_mapping = ObjectMapping.objects.get(organization=org, sobject="Account")
    FieldMapping.objects.create(
        object_mapping=account_mapping, sf_field="Customer_Tier__c", rox_field="custom.tier", rule="read_only"
    )
    bad = create(sfsim, "Account", Name="Silver Co", Customer_Tier__c="Silver")
    sync_object(connection, "Account")
    url = reverse("sync_health", args=[org.slug])
    page = admin_client.get(url).content.decode()
    assert 'data-sobject="Account"' in page and "Succeeded with warnings" in page
    assert 'data-code="ROX_VALIDATION"' in page and "not one of its options" in page
    assert "<svg" in page and "Records synced and API calls per day" in page
    assert member_client.get(url).status_code == 200
    assert outsider_client.get(url).status_code == 404
    assert member_client.post(reverse("sync_retry", args=[org.slug]), {"code": "ROX_VALIDATION"}).status_code == 403
    # The admin adds the missing option and retries: the record syncs and the error is resolved.
    tier.options = ["Gold", "Silver"]
    tier.save()
    response = admin_client.post(reverse("sync_retry", args=[org.slug]), {"code": "ROX_VALIDATION"}, follow=True)
    assert "Retried 1 record(s); all synced." in response.content.decode()
    assert not SyncError.objects.filter(resolved_at=None).exists()
    link = SalesforceLink.objects.get(sf_id=bad)
    assert Account.objects.get(pk=link.record_id).custom_values == {"tier": "Silver"}


def test_the_record_page_shows_its_salesforce_card(
    connection: SalesforceConnection, sfsim: Any, admin_client: Client
) -> None:
    sf_id = create(sfsim, "Account", Name="Carded Ltd")
    sync_object(connection, "Account")
    account = Account.objects.get(name="Carded Ltd")
    page = admin_client.get(account.get_absolute_url()).content.decode()
    assert 'data-testid="salesforce-card"' in page
    assert f'href="{connection.instance_url}/{sf_id}"' in page and "Last synced" in page


def test_reconciliation_catches_hard_deletes(connection: SalesforceConnection, sfsim: Any) -> None:
    keep = create(sfsim, "Account", Name="Keeper")
    gone = create(sfsim, "Account", Name="Gone for good")
    sync_object(connection, "Account")
    sfsim.control("POST", f"records/Account/{gone}/hard-delete")
    sync_object(connection, "Account")  # the incremental sync cannot see a hard delete
    assert Account.objects.get(name="Gone for good").removed_at is None
    run = reconcile(connection, "Account")
    assert run.counts == {"deleted": 1}
    assert Account.objects.get(name="Gone for good").removed_reason == "Deleted in Salesforce (no longer found)"
    assert Account.objects.get(name="Keeper").removed_at is None
    assert SalesforceLink.objects.get(sf_id=keep).deleted_at is None


def test_the_sync_command_prints_progress_and_a_summary(connection: SalesforceConnection, sfsim: Any) -> None:
    create(sfsim, "Account", Name="Commanded Inc")
    out = StringIO()
    call_command("salesforce", "sync", "--org", connection.organization.slug, "--object", "Account", stdout=out)
    text = out.getvalue()
    assert ("Account" in text and "records/s" not in text) or "/s" in text
    assert "Succeeded" in text and "created 1" in text
    out = StringIO()
    call_command(
        "salesforce", "sync", "--org", connection.organization.slug, "--object", "Account", "--dry-run", stdout=out
    )
    assert "Account: 1 sample record(s)" in out.getvalue() and "unchanged" in out.getvalue()


def test_the_sync_command_exits_non_zero_when_a_run_failed(connection: SalesforceConnection, sfsim: Any) -> None:
    sfsim.control("POST", "faults", {"kind": "unavailable", "count": 10, "endpoints": ["query"]})
    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "salesforce", "sync", "--org", connection.organization.slug, "--object", "Account", stdout=StringIO()
        )
    sfsim.control("DELETE", "faults")
    assert exit_info.value.code == 1


def test_the_first_sync_step_shows_progress_per_object(org: Organization, admin_client: Client, sfsim: Any) -> None:
    sfsim.reset(seed="demo", scenario="ready")
    connect(admin_client, org, sfsim)
    url = reverse("salesforce_setup_first_sync", args=[org.slug])
    assert "Start the first sync" in admin_client.get(url).content.decode()
    admin_client.post(url)  # django-q2 in sync mode: the task runs at once
    page = admin_client.get(url).content.decode()
    for sobject in ("Account", "Contact", "Opportunity", "Task", "Event"):
        assert f'data-sobject="{sobject}" data-state="Succeeded"' in page, sobject
    assert "300 / 300" in page
    assert Account.objects.filter(organization=org).count() == 300
    # Done: a summary, and each object's time instead of an empty Time left column.
    summary = page.split('data-testid="first-sync-summary"', 1)[1].split("</div>", 1)[0]
    assert "First sync done in" in summary and " records read, " in summary and "new in Rox" in summary
    assert "<th>Took</th>" in page and "<th>Time left</th>" not in page
