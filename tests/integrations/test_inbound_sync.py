"""Inbound sync against the simulated org: correct at the edges (equal stamps across pages, late records, deletes,
merges, conversions, parents after children, formula fields, every rule), robust (faults, expired sessions, the
API budget, two workers), and visible (dry runs write nothing)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from activities.models import Activity
from integrations.engine.runner import dry_run, sync_object
from integrations.models import Conflict, SalesforceConnection, SalesforceLink, SyncError, SyncRun
from mappings.models import FieldMapping, ObjectMapping
from roxcrm.models import Account, Contact, Lead, Opportunity, Organization
from roxcrm.services import Actor, record_update
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
    stamp = fields.pop("system_modstamp", None)
    body: dict[str, Any] = {"fields": fields}
    if stamp:
        body["system_modstamp"] = stamp
    return sfsim.control("POST", f"records/{sobject}", body)["id"]


def update(sfsim: Any, sobject: str, sf_id: str, **fields: Any) -> None:
    sfsim.control("PATCH", f"records/{sobject}/{sf_id}", {"fields": fields})


def run(connection: SalesforceConnection, sobject: str, **options: Any) -> SyncRun:
    result = sync_object(connection, sobject, **options)
    assert result.run is not None, result.skipped_reason
    return result.run


def rox(model: Any, connection: SalesforceConnection, sf_id: str) -> Any:
    link = SalesforceLink.objects.get(organization=connection.organization, sf_id=sf_id)
    return model.objects.get(pk=link.record_id)


def test_a_first_sync_then_an_incremental_one_that_changes_nothing(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    ids = [
        create(sfsim, "Account", Name=f"Company {n}", Website=f"https://company{n}.example", Industry="Banking")
        for n in range(5)
    ]
    first = run(connection, "Account")
    assert first.outcome == "succeeded"
    assert (first.counts["created"], first.counts["fetched"]) == (5, 5)
    account = rox(Account, connection, ids[0])
    assert (account.name, account.website, account.domain, account.industry) == (
        "Company 0",
        "https://company0.example",
        "company0.example",
        "Banking",
    )
    assert account.field_times == {}  # nothing changed in Rox yet: no Rox change times
    second = run(connection, "Account")
    assert second.counts["created"] == second.counts["updated"] == 0
    assert second.api_calls == 1
    assert Account.objects.filter(organization=connection.organization).count() == 5


def test_equal_stamps_across_page_boundaries_lose_nothing(connection: SalesforceConnection, sfsim: Any) -> None:
    sfsim.control("POST", "clock", {"freeze": "2026-06-01T12:00:00Z"})
    try:
        sf = sfsim.salesforce()
        for start in range(0, 2600, 200):
            records = [
                {"attributes": {"type": "Lead"}, "LastName": f"Lead {n}", "Company": "Same Second Inc"}
                for n in range(start, start + 200)
            ]
            sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    finally:
        sfsim.control("POST", "clock", {"unfreeze": True})
    result = run(connection, "Lead")
    assert result.counts["created"] == 2600 and result.api_calls == 2  # exactly the two pages
    assert Lead.objects.filter(organization=connection.organization).count() == 2600
    again = run(connection, "Lead")
    assert again.counts["created"] == 0 and again.counts["unchanged"] == 2600  # the equal-stamp block is re-read
    assert Lead.objects.filter(organization=connection.organization).count() == 2600


def test_a_record_that_becomes_visible_late_inside_the_overlap_is_not_lost(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    create(sfsim, "Contact", LastName="Early")
    run(connection, "Contact")
    late_stamp = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = create(sfsim, "Contact", LastName="Late", system_modstamp=late_stamp)
    result = run(connection, "Contact")
    assert result.counts["created"] == 1
    assert rox(Contact, connection, late).last_name == "Late"


def test_deleted_records_are_hidden_kept_and_restored_on_undelete(
    connection: SalesforceConnection, sfsim: Any, admin_client: Client
) -> None:
    sf_id = create(sfsim, "Account", Name="Doomed Ltd")
    run(connection, "Account")
    account = rox(Account, connection, sf_id)
    sfsim.control("DELETE", f"records/Account/{sf_id}")
    result = run(connection, "Account")
    assert result.counts["deleted"] == 1
    account.refresh_from_db()
    assert account.removed_at is not None and account.removed_reason == "Deleted in Salesforce"
    org = connection.organization
    assert "Doomed Ltd" not in admin_client.get(f"/o/{org.slug}/accounts/").content.decode()
    page = admin_client.get(account.get_absolute_url()).content.decode()
    assert "Deleted in Salesforce" in page
    sfsim.control("POST", f"records/Account/{sf_id}/undelete", {})
    run(connection, "Account")
    account.refresh_from_db()
    assert account.removed_at is None
    assert "Doomed Ltd" in admin_client.get(f"/o/{org.slug}/accounts/").content.decode()


def test_a_merge_moves_contacts_and_custom_values_to_the_survivor(connection: SalesforceConnection, sfsim: Any) -> None:
    survivor_id = create(sfsim, "Account", Name="Acme")
    loser_id = create(sfsim, "Account", Name="ACME Inc.")
    contact_id = create(sfsim, "Contact", LastName="Coyote", AccountId=loser_id)
    run(connection, "Account")
    run(connection, "Contact")
    make_custom_field(connection.organization, label="Tier")
    loser = rox(Account, connection, loser_id)
    record_update(record=loser, custom_values={"tier": "Gold"}, actor=Actor.system("t"))
    activity = Activity.objects.create(organization=connection.organization, type="call", account=loser)
    sfsim.control("POST", "merge", {"object": "Account", "master": survivor_id, "losers": [loser_id]})
    run(connection, "Account")
    survivor = rox(Account, connection, survivor_id)
    loser.refresh_from_db()
    assert loser.removed_at is not None and "Merged in Salesforce into “Acme”" in loser.removed_reason
    assert rox(Contact, connection, contact_id).account == survivor
    activity.refresh_from_db()
    assert activity.account == survivor
    survivor.refresh_from_db()
    assert survivor.custom_values == {"tier": "Gold"}


def test_a_converted_lead_links_to_what_it_became(connection: SalesforceConnection, sfsim: Any) -> None:
    lead_id = create(sfsim, "Lead", LastName="Curie", Company="Radium Labs", Email="marie@radium.example")
    run(connection, "Lead")
    converted = sfsim.control("POST", "convert-lead", {"lead": lead_id, "opportunity_name": "Radium deal"})
    for sobject in ("Account", "Contact", "Lead", "Opportunity"):
        run(connection, sobject)
    lead = rox(Lead, connection, lead_id)
    assert lead.converted_at is not None
    assert lead.converted_contact == rox(Contact, connection, converted["contactId"])
    assert lead.converted_account == rox(Account, connection, converted["accountId"])
    assert lead.converted_opportunity == rox(Opportunity, connection, converted["opportunityId"])


def test_a_child_synced_before_its_parent_is_linked_when_the_parent_arrives(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    account_id = create(sfsim, "Account", Name="Parent Co")
    contact_id = create(sfsim, "Contact", LastName="Child", AccountId=account_id)
    run(connection, "Contact")
    contact = rox(Contact, connection, contact_id)
    assert contact.account is None
    run(connection, "Account")
    contact.refresh_from_db()
    assert contact.account == rox(Account, connection, account_id)


def test_read_only_salesforce_always_wins(connection: SalesforceConnection, sfsim: Any) -> None:
    FieldMapping.objects.filter(object_mapping__sobject="Account", sf_field="Industry").update(rule="read_only")
    sf_id = create(sfsim, "Account", Name="Initech", Industry="Technology")
    run(connection, "Account")
    account = rox(Account, connection, sf_id)
    # (People may not change a Read Only field; Rox itself may, e.g. a value set before the rule was Read Only.)
    record_update(record=account, values={"industry": "Consulting"}, actor=Actor.system("before the rule changed"))
    update(sfsim, "Account", sf_id, Industry="Banking")
    run(connection, "Account")
    account.refresh_from_db()
    assert account.industry == "Banking"
    assert not Conflict.objects.exists()


def test_read_and_write_the_later_change_wins_both_ways_and_is_logged(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    first = create(sfsim, "Account", Name="First", Phone="111")
    second = create(sfsim, "Account", Name="Second", Phone="111")
    run(connection, "Account")
    # Salesforce changes first, Rox later: Rox wins (its value is kept; writeback sends it).
    update(sfsim, "Account", first, Phone="222")
    rox_first = rox(Account, connection, first)
    record_update(record=rox_first, values={"phone": "333"}, actor=Actor(kind="user", label="p"))
    # Rox changes first, Salesforce later: Salesforce wins.
    rox_second = rox(Account, connection, second)
    record_update(record=rox_second, values={"phone": "444"}, actor=Actor(kind="user", label="p"))
    account = Account.objects.get(pk=rox_second.pk)
    account.field_times["phone"]["at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    Account.objects.filter(pk=account.pk).update(field_times=account.field_times)
    update(sfsim, "Account", second, Phone="555")
    run(connection, "Account")
    assert rox(Account, connection, first).phone == "333"
    assert rox(Account, connection, second).phone == "555"
    logged = {c.sf_id: c for c in Conflict.objects.all()}
    assert logged[first].winner == "rox" and (logged[first].sf_value, logged[first].rox_value) == ("222", "333")
    assert logged[second].winner == "salesforce" and (logged[second].sf_value, logged[second].rox_value) == (
        "555",
        "444",
    )
    # Deciding once is enough: the next run does not log the same conflict again.
    run(connection, "Account")
    assert Conflict.objects.count() == 2


def test_write_only_ignores_salesforce_and_prefer_salesforce_never_clears_rox(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    FieldMapping.objects.filter(object_mapping__sobject="Account", sf_field="Industry").update(rule="write_only")
    FieldMapping.objects.filter(object_mapping__sobject="Account", sf_field="Phone").update(rule="prefer_salesforce")
    sf_id = create(sfsim, "Account", Name="Globex", Industry="Energy", Phone="999")
    run(connection, "Account")
    account = rox(Account, connection, sf_id)
    assert account.industry == "" and account.phone == "999"
    update(sfsim, "Account", sf_id, Industry="Retail", Phone=None)
    run(connection, "Account")
    account.refresh_from_db()
    assert account.industry == "" and account.phone == "999"
    update(sfsim, "Account", sf_id, Phone="777")
    run(connection, "Account")
    account.refresh_from_db()
    assert account.phone == "777"


def test_a_record_rox_cannot_store_is_reported_and_the_rest_of_the_page_is_stored(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    make_custom_field(connection.organization, label="Tier", data_type="picklist", options=["Gold"])
    account = ObjectMapping.objects.get(organization=connection.organization, sobject="Account")
    FieldMapping.objects.create(
        object_mapping=account, sf_field="Customer_Tier__c", rox_field="custom.tier", rule="read_only"
    )
    good = create(sfsim, "Account", Name="Good", Customer_Tier__c="Gold")
    bad = create(sfsim, "Account", Name="Bad", Customer_Tier__c="Silver")
    result = run(connection, "Account")
    assert result.outcome == "warnings" and result.counts["created"] == 1 and result.counts["failed"] == 1
    assert rox(Account, connection, good).custom_values == {"tier": "Gold"}
    error = SyncError.objects.get(sf_id=bad)
    assert "not one of its options" in error.message and error.fields == ["Customer_Tier__c"]


def test_formula_fields_are_refreshed_although_their_record_did_not_change(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    from integrations.engine.formula import refresh_formulas

    make_custom_field(connection.organization, object_type="opportunity", label="Account industry")
    opportunity_mapping = ObjectMapping.objects.get(organization=connection.organization, sobject="Opportunity")
    FieldMapping.objects.create(
        object_mapping=opportunity_mapping,
        sf_field="Account_Industry__c",
        rox_field="custom.account_industry",
        rule="read_only",
    )
    account_id = create(sfsim, "Account", Name="Formula Co", Industry="Banking")
    opportunity_id = create(
        sfsim, "Opportunity", Name="Deal", StageName="Prospecting", CloseDate="2027-01-31", AccountId=account_id
    )
    run(connection, "Account")
    run(connection, "Opportunity")
    assert rox(Opportunity, connection, opportunity_id).custom_values == {"account_industry": "Banking"}
    stamp = sfsim.control("GET", f"records/Opportunity/{opportunity_id}")["SystemModstamp"]
    update(sfsim, "Account", account_id, Industry="Energy")
    assert sfsim.control("GET", f"records/Opportunity/{opportunity_id}")["SystemModstamp"] == stamp
    # The scheduled refresh picks it up ...
    formula_run = refresh_formulas(connection, "Opportunity")
    assert formula_run.counts["updated"] == 1
    assert rox(Opportunity, connection, opportunity_id).custom_values == {"account_industry": "Energy"}
    # ... and so does syncing the changed parent (its children's formulas in one IN query).
    update(sfsim, "Account", account_id, Industry="Retail")
    run(connection, "Account")
    assert rox(Opportunity, connection, opportunity_id).custom_values == {"account_industry": "Retail"}


def test_transient_faults_and_an_expired_session_mid_run_neither_stop_nor_duplicate(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    sf = sfsim.salesforce()
    for start in range(0, 4200, 200):
        records = [{"attributes": {"type": "Contact"}, "LastName": f"Person {n}"} for n in range(start, start + 200)]
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    sfsim.control(
        "POST",
        "faults",
        {
            "faults": [
                {"kind": "unavailable", "count": 1, "endpoints": ["queryMore"]},
                {"kind": "lock", "count": 1, "endpoints": ["queryMore"]},
                {"kind": "expire_sessions", "count": 1, "endpoints": ["queryMore"]},
            ]
        },
    )
    result = run(connection, "Contact")
    sfsim.control("DELETE", "faults")
    assert result.outcome == "succeeded", result.error
    assert Contact.objects.filter(organization=connection.organization).count() == 4200
    assert SalesforceLink.objects.filter(sobject="Contact").count() == 4200


def test_the_api_budget_pauses_the_sync_and_it_resumes_by_itself(connection: SalesforceConnection, sfsim: Any) -> None:
    create(sfsim, "Lead", LastName="Budget", Company="Co")
    sfsim.control("PUT", "limits", {"daily_api_requests": 100_000, "used": 60_000})
    SalesforceConnection.objects.filter(pk=connection.pk).update(api_used=60_000, api_max=100_000, api_share_percent=50)
    connection.refresh_from_db()
    paused = run(connection, "Lead")
    assert paused.outcome == "paused" and "share of the org's daily API requests" in paused.error
    assert paused.api_calls == 1  # the one read of /limits that confirmed it
    # The admin raises the org's limit in Salesforce: the next run reads it and goes on, however stale Rox's figure.
    sfsim.control("PUT", "limits", {"daily_api_requests": 1_000_000})
    connection.refresh_from_db()
    assert connection.api_used >= 60_000
    assert run(connection, "Lead").counts["created"] == 1


def test_request_limit_exceeded_pauses_instead_of_retrying(connection: SalesforceConnection, sfsim: Any) -> None:
    sfsim.control("POST", "faults", {"kind": "limit", "count": 1, "endpoints": ["query"]})
    paused = run(connection, "Account")
    assert paused.outcome == "paused" and paused.api_calls == 1


def test_two_workers_asking_for_the_same_run_make_one_run(connection: SalesforceConnection, sfsim: Any) -> None:
    from integrations.engine.locks import acquire, release
    from integrations.models import SyncCursor

    cursor, _ = SyncCursor.objects.get_or_create(connection=connection, sobject="Account")
    token = acquire(cursor)
    assert token and acquire(cursor) is None
    skipped = sync_object(connection, "Account")
    assert skipped.run is None and skipped.skipped_reason == "another run of this object is in progress"
    release(cursor, token)
    assert sync_object(connection, "Account").run is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_on_the_same_object_never_duplicate(sfsim: Any) -> None:
    from roxcrm.models import User
    from roxcrm.services import organization_create

    sfsim.reset(seed="empty", scenario="ready")
    admin = User.objects.create_user(email="race@acme.example", password="x" * 20)
    org = organization_create(name="Race", slug="race", user=admin)
    client = Client()
    client.force_login(admin)
    connection = connect(client, org, sfsim)
    submit(client, org)
    sf = sfsim.salesforce()
    records = [{"attributes": {"type": "Account"}, "Name": f"Race {n}"} for n in range(200)]
    sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    results: list[Any] = []
    barrier = threading.Barrier(3)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(sync_object(SalesforceConnection.objects.get(pk=connection.pk), "Account").run)
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    ran = [r for r in results if r is not None]
    assert len(ran) >= 1
    assert Account.objects.filter(organization=org).count() == 200
    assert SalesforceLink.objects.filter(organization=org, sobject="Account").count() == 200


def test_a_dry_run_shows_values_and_writes_nothing(connection: SalesforceConnection, sfsim: Any) -> None:
    for n in range(25):
        create(sfsim, "Account", Name=f"Sample {n}", AnnualRevenue=1000 * n)
    result = dry_run(connection, "Account")
    assert len(result.previews) == 20
    first = result.previews[0]
    assert first.action == "create"
    assert ("Name", "Sample 24", "Sample 24") in first.fields
    assert ("AnnualRevenue", "24000", "24000") in first.fields
    assert not Account.objects.filter(organization=connection.organization).exists()
    assert not SalesforceLink.objects.exists() and not SyncRun.objects.filter(kind="inbound").exists()


def test_tasks_and_events_become_activities_and_rox_written_ones_are_not_duplicated(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    contact_id = create(sfsim, "Contact", LastName="Gibbons", Email="peter@initech.example")
    run(connection, "Contact")
    contact = rox(Contact, connection, contact_id)
    call_id = create(
        sfsim,
        "Task",
        Subject="Call about renewal",
        TaskSubtype="Call",
        WhoId=contact_id,
        ActivityDate="2026-11-20",
        CallDurationInSeconds=300,
        CallType="Outbound",
        Status="Completed",
    )
    event_id = create(
        sfsim,
        "Event",
        Subject="Kick-off",
        WhoId=contact_id,
        StartDateTime="2026-11-21T15:00:00Z",
        EndDateTime="2026-11-21T16:00:00Z",
    )
    mine = Activity.objects.create(organization=connection.organization, type="email", subject="Sent from Rox")
    create(
        sfsim,
        "Task",
        Subject="Email: Sent from Rox",
        TaskSubtype="Email",
        Status="Completed",
        RoxActivityId__c=str(mine.code),
    )
    run(connection, "Task")
    run(connection, "Event")
    call = rox(Activity, connection, call_id)
    assert (call.type, call.origin, call.contact, call.duration_seconds, call.direction) == (
        "call",
        "salesforce",
        contact,
        300,
        "outbound",
    )
    meeting = rox(Activity, connection, event_id)
    assert (meeting.type, meeting.duration_seconds) == ("meeting", 3600)
    assert Activity.objects.filter(organization=connection.organization).count() == 3
    mine.refresh_from_db()
    assert mine.subject == "Sent from Rox" and mine.origin == "rox"


def test_values_are_converted_to_rox_types(connection: SalesforceConnection, sfsim: Any) -> None:
    account_id = create(
        sfsim, "Account", Name="Types Inc", AnnualRevenue=1234567, NumberOfEmployees=42, Website="types.example"
    )
    opportunity_id = create(
        sfsim,
        "Opportunity",
        Name="Typed deal",
        StageName="Closed Won",
        CloseDate="2027-03-31",
        Amount=1999.5,
        AccountId=account_id,
        NextStep="Sign",
    )
    run(connection, "Account")
    run(connection, "Opportunity")
    account = rox(Account, connection, account_id)
    assert (account.annual_revenue, account.employee_count, account.website) == (
        Decimal("1234567.00"),
        42,
        "https://types.example",
    )
    opportunity = rox(Opportunity, connection, opportunity_id)
    assert (opportunity.amount, opportunity.close_date, opportunity.account, opportunity.stage) == (
        Decimal("1999.50"),
        dt.date(2027, 3, 31),
        account,
        "Closed Won",
    )


@pytest.fixture
def bulk_org(sfsim: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A 12,000-record org read through Bulk API jobs: result pages of 1,000 rows, applied 700 at a time (the next
    batches and pages read on a helper thread meanwhile), the database's statistics refreshed as the read grows.
    Returns the org's counts by object."""
    from integrations.engine import runner

    settings.SALESFORCE_BULK_THRESHOLD = 1000
    monkeypatch.setattr(runner, "BULK_BATCH", 700)
    monkeypatch.setattr(runner, "BULK_PAGE", 1000)
    monkeypatch.setattr(runner, "STATISTICS_AFTER", 1000)
    sfsim.reset(seed="12000", scenario="ready")
    return sfsim.control("GET", "counts")


def test_a_large_first_read_uses_a_bulk_job_and_falls_back_to_paging(
    connection: SalesforceConnection, sfsim: Any, bulk_org: dict[str, int]
) -> None:
    expected = bulk_org
    sfsim.control("POST", "stats/reset")
    result = run(connection, "Contact")
    assert result.details["mode"] == "bulk" and result.counts["created"] == expected["Contact"] > 2000
    assert SalesforceLink.objects.filter(sobject="Contact").count() == expected["Contact"]
    assert sfsim.control("GET", "stats")["api_calls"] <= 10
    sfsim.control("POST", "faults", {"kind": "unavailable", "count": 20, "endpoints": ["bulk"]})
    tasks = run(connection, "Task")
    sfsim.control("DELETE", "faults")
    assert tasks.outcome == "succeeded" and tasks.details["mode"] == "rest" and "bulk_failed" in tasks.details
    assert (
        tasks.counts["created"]
        == expected["Task"]
        == Activity.objects.filter(organization=connection.organization).count()
    )


def test_a_bulk_result_page_that_fails_once_is_downloaded_again(
    connection: SalesforceConnection, sfsim: Any, bulk_org: dict[str, int]
) -> None:
    expected = bulk_org["Contact"]
    batches = []

    def progress(counts: Any, total: int | None) -> None:
        batches.append(counts.fetched)
        if len(batches) == 1:
            # The first result page is being applied (and its last 300 rows read ahead): the next Bulk API request
            # is the second page's download, and Salesforce answers it with a 503 once.
            sfsim.control("POST", "faults", {"kind": "unavailable", "count": 1, "endpoints": ["bulk"]})

    result = run(connection, "Contact", progress=progress)
    assert sfsim.control("GET", "faults")["faults"] == []  # the fault was met
    assert result.outcome == "succeeded", result.error
    assert result.details["mode"] == "bulk" and result.counts["created"] == expected > 2000
    assert batches[:3] == [700, 1000, 1700]


def test_activities_logged_in_salesforce_and_converted_leads_are_read_only_in_rox(
    connection: SalesforceConnection, sfsim: Any, admin_client: Client, admin_user: Any
) -> None:
    from django.core.exceptions import ValidationError

    task_id = create(sfsim, "Task", Subject="Logged in Salesforce", Status="Completed")
    lead_id = create(sfsim, "Lead", LastName="Converted", Company="Co")
    sfsim.control("POST", "convert-lead", {"lead": lead_id})
    run(connection, "Task")
    run(connection, "Lead")
    for model, sf_id, message in (
        (Activity, task_id, "logged in Salesforce"),
        (Lead, lead_id, "was converted in Salesforce"),
    ):
        record = rox(model, connection, sf_id)
        with pytest.raises(ValidationError, match=message):
            record_update(
                record=record,
                values={"subject" if model is Activity else "company": "x"},
                actor=Actor.person(admin_user),
            )
        response = admin_client.get(f"{record.get_absolute_url()}edit/", follow=True)
        assert message in response.content.decode() and response.redirect_chain


def test_a_mapped_field_deleted_in_salesforce_breaks_only_its_mapping(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    """The sync does not fail on every run until someone refreshes the schema: it reads the describe again at once,
    the mapping turns Broken, the connection asks for action, and the object's other fields keep syncing."""
    sfsim.control("POST", "fields", {"object": "Account", "name": "Region__c", "type": "string", "length": 40})
    make_custom_field(connection.organization, label="Region")
    from integrations.schema import describe_refresh

    describe_refresh(connection, ["Account"])
    FieldMapping.objects.create(
        object_mapping=ObjectMapping.objects.get(organization=connection.organization, sobject="Account"),
        sf_field="Region__c",
        rox_field="custom.region",
        rule="read_only",
    )
    first = create(sfsim, "Account", Name="Before", Region__c="EMEA")
    assert run(connection, "Account").outcome == "succeeded"
    assert rox(Account, connection, first).custom_values == {"region": "EMEA"}
    sfsim.control("DELETE", "fields/Account/Region__c")
    second = create(sfsim, "Account", Name="After")
    result = run(connection, "Account")
    assert result.outcome == "succeeded", result.error
    assert rox(Account, connection, second).name == "After"
    connection.refresh_from_db()
    assert connection.status == SalesforceConnection.Status.ACTION_REQUIRED
    assert "Account.Region__c" in connection.action_reason
