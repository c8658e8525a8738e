"""Activity writeback against the simulated org: each type under its switch, as a Task (meetings as Events) on the
right person and deal, exactly once whatever happens."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from activities.models import Activity
from integrations.engine.drain import drain
from integrations.engine.runner import sync_object
from integrations.models import OutboxEntry, SalesforceConnection, SalesforceLink, WritebackBatch
from mappings.models import ActivitySettings, ObjectMapping, StaticValue
from roxcrm.models import Account, Contact, Lead, Opportunity, Organization, User
from roxcrm.services import Actor, record_create, record_update
from tests.integrations.conftest import connect, submit

ALL_ON = {
    "email_writeback": True,
    "call_writeback": True,
    "linkedin_message_writeback": True,
    "linkedin_connection_writeback": True,
    "meeting_writeback": True,
}


@pytest.fixture
def connection(org: Organization, admin_client: Client, sfsim: Any) -> SalesforceConnection:
    sfsim.reset(seed="empty", scenario="ready")
    connected = connect(admin_client, org, sfsim)
    submit(admin_client, org)
    connected.refresh_from_db()
    return connected


def switches(org: Organization, **values: bool) -> None:
    ActivitySettings.objects.update_or_create(organization=org, defaults=values)


def create(sfsim: Any, sobject: str, **fields: Any) -> str:
    return sfsim.control("POST", f"records/{sobject}", {"fields": fields})["id"]


def log(org: Organization, user: User, **values: Any) -> Activity:
    return record_create(
        organization=org,
        model=Activity,
        values={"occurred_at": dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC), **values},
        actor=Actor.person(user),
    )


def tasks(sfsim: Any, where: str = "") -> list[dict[str, Any]]:
    query = (
        "SELECT Id, Subject, WhoId, WhatId, OwnerId, TaskSubtype, Type, Status, Description, ActivityDate, "
        "CallDurationInSeconds, CallType, RoxActivityId__c FROM Task"
    )
    return sfsim.control("POST", "query", {"q": f"{query} {where}".strip()})["records"]


def test_each_type_is_written_under_its_switch(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    switches(
        org,
        email_writeback=True,
        call_writeback=False,
        linkedin_message_writeback=True,
        linkedin_connection_writeback=True,
        meeting_writeback=True,
    )
    email = log(org, admin_user, type="email", subject="Pricing", body="Hello")
    call = log(org, admin_user, type="call", subject="Intro", duration_seconds=300, direction="outbound")
    message = log(org, admin_user, type="linkedin_message")
    invite = log(org, admin_user, type="linkedin_connection")
    meeting = log(org, admin_user, type="meeting", subject="Kick-off", duration_seconds=3600)
    assert not OutboxEntry.objects.filter(record_id=call.pk).exists()  # its switch is off
    drain(connection, "Task")
    drain(connection, "Event")
    written = {t["RoxActivityId__c"]: t for t in tasks(sfsim)}
    assert (
        written[str(email.code)]["Subject"] == "Email: Pricing" and written[str(email.code)]["TaskSubtype"] == "Email"
    )
    assert written[str(message.code)]["Subject"] == "LinkedIn message"
    assert written[str(invite.code)]["Subject"] == "LinkedIn connection request"
    assert str(call.code) not in written
    assert all(t["Status"] == "Completed" for t in written.values())
    events = sfsim.control(
        "POST", "query", {"q": "SELECT Subject, StartDateTime, EndDateTime, RoxActivityId__c FROM Event"}
    )["records"]
    assert (
        len(events) == 1 and events[0]["RoxActivityId__c"] == str(meeting.code) and events[0]["Subject"] == "Kick-off"
    )
    assert events[0]["StartDateTime"].startswith("2026-11-20T10:00:00") and events[0]["EndDateTime"].startswith(
        "2026-11-20T11:00:00"
    )


def test_a_call_with_its_details(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    switches(org, call_writeback=True)
    call = log(org, admin_user, type="call", subject="Renewal", duration_seconds=420, direction="inbound")
    drain(connection, "Task")
    task = tasks(sfsim)[0]
    assert (task["Subject"], task["TaskSubtype"], task["Type"], task["CallDurationInSeconds"], task["CallType"]) == (
        "Call: Renewal",
        "Call",
        "Call",
        420,
        "Inbound",
    )
    assert task["ActivityDate"] == "2026-11-20" and task["RoxActivityId__c"] == str(call.code)


def test_who_is_the_contact_and_lead_resolution_applies_to_emails_only(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    switches(org, **ALL_ON)
    contact = create(sfsim, "Contact", LastName="Gibbons", Email="peter@initech.example")
    lead = create(sfsim, "Lead", LastName="Curie", Company="Radium", Email="marie@radium.example")
    both_lead = create(sfsim, "Lead", LastName="Both", Company="X", Email="both@x.example")
    both_contact = create(sfsim, "Contact", LastName="Both", Email="both@x.example")
    to_contact = log(org, admin_user, type="call", participant_emails=["peter@initech.example"])
    email_lead = log(org, admin_user, type="email", subject="Hi", participant_emails=["marie@radium.example"])
    call_lead = log(org, admin_user, type="call", participant_emails=["marie@radium.example"])
    preferred = log(org, admin_user, type="email", subject="Both", participant_emails=["both@x.example"])
    nobody = log(org, admin_user, type="email", subject="Nobody", participant_emails=["nobody@nowhere.example"])
    drain(connection, "Task")
    by_code = {t["RoxActivityId__c"]: t for t in tasks(sfsim)}
    assert by_code[str(to_contact.code)]["WhoId"] == contact
    assert by_code[str(email_lead.code)]["WhoId"] is None  # Lead Resolution is off
    assert by_code[str(preferred.code)]["WhoId"] == both_contact != both_lead  # a contact is preferred
    assert by_code[str(nobody.code)]["WhoId"] is None
    switches(org, **ALL_ON, lead_resolution=True)
    record_update(record=email_lead, values={"subject": "Hi again"}, actor=Actor.person(admin_user))
    record_update(record=call_lead, values={"subject": "Call again"}, actor=Actor.person(admin_user))
    drain(connection, "Task")
    by_code = {t["RoxActivityId__c"]: t for t in tasks(sfsim)}
    assert by_code[str(email_lead.code)]["WhoId"] == lead
    assert by_code[str(call_lead.code)]["WhoId"] is None  # calls never resolve leads
    assert len(by_code) == 5


def test_the_contact_or_lead_chosen_on_the_activity_comes_first_and_a_lead_relates_to_nothing_else(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    switches(org, **ALL_ON)
    contact = create(sfsim, "Contact", LastName="Gibbons", Email="peter@initech.example")
    other = create(sfsim, "Contact", LastName="Other", Email="other@initech.example")
    lead = create(sfsim, "Lead", LastName="Curie", Company="Radium", Email="marie@radium.example")
    converted = create(sfsim, "Lead", LastName="Done", Company="Old", Email="done@old.example")
    create(sfsim, "Account", Name="Initech")
    sfsim.control("POST", "convert-lead", {"lead": converted})
    for sobject in ("Account", "Contact", "Lead"):
        sync_object(connection, sobject)
    rox_contact = Contact.objects.get(organization=org, email="peter@initech.example")
    rox_lead = Lead.objects.get(organization=org, email="marie@radium.example")
    rox_converted = Lead.objects.get(organization=org, email="done@old.example")
    account = Account.objects.get(organization=org, name="Initech")
    # Logged from the contact's page, no addresses given.
    on_contact = log(org, admin_user, type="call", subject="No addresses", contact=rox_contact)
    # Chosen on the activity, though the address is another contact's.
    chosen = log(org, admin_user, type="email", contact=rox_contact, participant_emails=["other@initech.example"])
    # A call on a lead (chosen by a person: not Lead Resolution, which is off), its account left out.
    on_lead = log(org, admin_user, type="call", subject="Lead call", lead=rox_lead, account=account)
    # A converted lead takes no activities: the address decides (the contact the lead became).
    on_converted = log(org, admin_user, type="email", lead=rox_converted, participant_emails=["done@old.example"])
    drain(connection, "Task")
    by_code = {t["RoxActivityId__c"]: t for t in tasks(sfsim)}
    assert len(by_code) == 4
    assert by_code[str(on_contact.code)]["WhoId"] == contact
    assert by_code[str(chosen.code)]["WhoId"] == contact != other
    assert by_code[str(on_lead.code)]["WhoId"] == lead and by_code[str(on_lead.code)]["WhatId"] is None
    became = sfsim.control("POST", "query", {"q": f"SELECT ConvertedContactId FROM Lead WHERE Id = '{converted}'"})
    assert by_code[str(on_converted.code)]["WhoId"] == became["records"][0]["ConvertedContactId"] is not None
    assert OutboxEntry.objects.filter(state=OutboxEntry.State.DONE).count() == 4


def test_several_matches_take_the_most_recently_modified_and_the_choice_is_recorded(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    switches(org, email_writeback=True)
    create(sfsim, "Contact", LastName="Old", Email="dup@acme.example")
    sfsim.control("POST", "clock", {"advance_seconds": 60})
    newer = create(sfsim, "Contact", LastName="New", Email="dup@acme.example")
    log(org, admin_user, type="email", subject="Which one", participant_emails=["dup@acme.example"])
    drain(connection, "Task")
    assert tasks(sfsim)[0]["WhoId"] == newer
    choice = WritebackBatch.objects.get().records[0]["who"]
    assert "2 matched, the most recently modified was chosen" in choice


def test_what_is_the_opportunity_else_the_account_and_owner_is_the_salesforce_user(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    switches(org, email_writeback=True)
    account_id = create(sfsim, "Account", Name="Initech")
    opportunity_id = create(
        sfsim, "Opportunity", Name="Deal", StageName="Prospecting", CloseDate="2027-01-01", AccountId=account_id
    )
    sync_object(connection, "Account")
    sync_object(connection, "Opportunity")
    account = Account.objects.get(name="Initech")
    opportunity = Opportunity.objects.get(name="Deal")
    seller = User.objects.create_user(email="sam.seller@sfsim.example.com", password="x" * 20)
    from roxcrm.models import Membership

    Membership.objects.create(organization=org, user=seller)
    sf_user = sfsim.control(
        "POST", "users", {"username": "sam.seller@sfsim.example.com", "first_name": "Sam", "last_name": "Seller"}
    )
    on_deal = log(org, admin_user, type="email", subject="Deal", account=account, opportunity=opportunity, owner=seller)
    on_account = log(org, admin_user, type="email", subject="Account", account=account, owner=admin_user)
    drain(connection, "Task")
    by_code = {t["RoxActivityId__c"]: t for t in tasks(sfsim)}
    assert by_code[str(on_deal.code)]["WhatId"] == opportunity_id
    assert by_code[str(on_account.code)]["WhatId"] == account_id
    assert by_code[str(on_deal.code)]["OwnerId"] == sf_user["id"]
    assert by_code[str(on_account.code)]["OwnerId"] == connection.sf_user_id  # no Salesforce user with that e-mail


def test_a_long_body_is_cut_with_a_marker_and_static_values_apply_last(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    switches(org, email_writeback=True)
    task_mapping = ObjectMapping.objects.get(organization=org, sobject="Task")
    StaticValue.objects.create(object_mapping=task_mapping, sf_field="Subject", value="Rox")
    log(org, admin_user, type="email", subject="Long", body="x" * 40_000)
    drain(connection, "Task")
    task = tasks(sfsim)[0]
    assert task["Subject"] == "Rox"
    assert len(task["Description"]) == 32_000 and task["Description"].endswith(
        "[cut by Rox to fit Salesforce's length]"
    )


def test_a_static_value_on_the_activity_key_never_merges_activities(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User, admin_client: Client
) -> None:
    """One saved before the forms refused it (or put in through the database) is never applied: an e-mail and a
    call stay two Tasks, each with its own RoxActivityId, and a typed static value is sent typed."""
    switches(org, email_writeback=True, call_writeback=True)
    task_mapping = ObjectMapping.objects.get(organization=org, sobject="Task")
    StaticValue.objects.create(object_mapping=task_mapping, sf_field="RoxActivityId__c", value="same-for-all")
    StaticValue.objects.create(object_mapping=task_mapping, sf_field="IsReminderSet", value="false")
    email = log(org, admin_user, type="email", subject="Hello")
    call = log(org, admin_user, type="call", subject="Ring", duration_seconds=60)
    drain(connection, "Task")
    written = {t["RoxActivityId__c"]: t for t in tasks(sfsim)}
    assert set(written) == {str(email.code), str(call.code)}
    reminders = sfsim.control("POST", "query", {"q": "SELECT IsReminderSet FROM Task"})["records"]
    assert [r["IsReminderSet"] for r in reminders] == [False, False]
    # CRM Mappings says why that one is not applied.
    page = admin_client.get(reverse("mappings_tab", args=[org.slug, "activities"])).content.decode()
    assert "Not applied: Rox recognises the Task records it writes by RoxActivityId__c" in page


def test_an_edit_updates_the_same_task_and_a_switch_off_stops_new_writes(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    switches(org, email_writeback=True)
    email = log(org, admin_user, type="email", subject="First")
    drain(connection, "Task")
    record_update(record=email, values={"subject": "Second"}, actor=Actor.person(admin_user))
    drain(connection, "Task")
    assert [t["Subject"] for t in tasks(sfsim)] == ["Email: Second"]
    switches(org, email_writeback=False)
    log(org, admin_user, type="email", subject="Not written")
    record_update(record=Activity.objects.get(pk=email.pk), values={"subject": "Third"}, actor=Actor.person(admin_user))
    drain(connection, "Task")
    assert [t["Subject"] for t in tasks(sfsim)] == ["Email: Second"]  # history kept, nothing new


def test_written_twice_makes_one_task(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    switches(org, email_writeback=True)
    email = log(org, admin_user, type="email", subject="Once")
    drain(connection, "Task")
    # A crash between sending and recording: Salesforce has the Task, Rox does not know it was written.
    SalesforceLink.objects.filter(record_id=email.pk, sobject="Task").delete()
    OutboxEntry.objects.filter(record_id=email.pk).update(state="pending", not_before=None)
    drain(connection, "Task")
    assert len(tasks(sfsim)) == 1 and SalesforceLink.objects.filter(record_id=email.pk, sobject="Task").count() == 1
    # Read back by the inbound sync, it is recognised by its RoxActivityId and not duplicated in Rox.
    sync_object(connection, "Task")
    assert Activity.objects.filter(organization=org).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_make_one_task(sfsim: Any) -> None:
    from roxcrm.services import organization_create

    sfsim.reset(seed="empty", scenario="ready")
    admin = User.objects.create_user(email="twins@acme.example", password="x" * 20)
    org = organization_create(name="Twins", slug="twins", user=admin)
    client = Client()
    client.force_login(admin)
    connection = connect(client, org, sfsim)
    submit(client, org)
    switches(org, email_writeback=True)
    for n in range(50):
        log(org, admin, type="email", subject=f"Mail {n}")
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait()
            drain(SalesforceConnection.objects.get(pk=connection.pk), "Task")
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    OutboxEntry.objects.filter(state="pending").update(not_before=None)
    drain(SalesforceConnection.objects.get(pk=connection.pk), "Task")
    assert len(tasks(sfsim)) == 50
    assert len({t["RoxActivityId__c"] for t in tasks(sfsim)}) == 50


def test_the_activities_tab_has_the_switches_and_explains_when_they_cannot_be_on(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Client
) -> None:
    url = reverse("mappings_tab", args=[org.slug, "activities"])
    page = admin_client.get(url).content.decode()
    assert 'data-testid="activity-writeback"' in page and "Email Writeback" in page and "Lead Resolution" in page
    admin_client.post(
        url, {"action": "activity_switches", "target": "", "email_writeback": "on", "lead_resolution": "on"}
    )
    settings_row = ActivitySettings.objects.get(organization=org)
    assert settings_row.email_writeback and settings_row.lead_resolution and not settings_row.call_writeback
    sfsim.reset(seed="empty", scenario="short-activity-id")
    admin_client.post(reverse("salesforce_recheck", args=[org.slug]))
    page = admin_client.get(url).content.decode()
    assert "RoxActivityId__c is Text of length 50" in page  # the switch says why it cannot be turned on
    assert re.search(r'<input[^>]*name="call_writeback"[^>]*disabled', page)
    admin_client.post(
        url, {"action": "activity_switches", "target": "", "email_writeback": "on", "call_writeback": "on"}
    )
    assert not ActivitySettings.objects.get(organization=org).call_writeback
    sfsim.reset(seed="empty", scenario="ready")


def test_an_expired_session_on_the_send_thread_is_refreshed_and_every_chunk_written_once(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User, monkeypatch: Any
) -> None:
    monkeypatch.setattr("integrations.engine.activity_writeback.CHUNK", 4)  # 10 activities: three chunks
    switches(org, email_writeback=True)
    for n in range(10):
        log(org, admin_user, type="email", subject=f"Mail {n}")
    generation = connection.token_generation
    sfsim.control("POST", "faults", {"kind": "expire_sessions", "count": 1, "endpoints": ["collections"]})
    result = drain(SalesforceConnection.objects.get(pk=connection.pk), "Task")
    assert result.created == 10 and result.retry == 0 and result.run.outcome == "succeeded"
    assert sorted(t["Subject"] for t in tasks(sfsim)) == sorted(f"Email: Mail {n}" for n in range(10))
    assert OutboxEntry.objects.filter(state="done").count() == 10
    connection.refresh_from_db()
    assert connection.token_generation == generation + 1  # refreshed once, on the drain's own thread


def test_a_failed_look_up_stops_the_drain_but_chunks_already_sent_are_recorded(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User, monkeypatch: Any
) -> None:
    monkeypatch.setattr("integrations.engine.activity_writeback.CHUNK", 4)
    switches(org, email_writeback=True)
    create(sfsim, "Contact", LastName="Jones", Email="jones@acme.example")
    # Two chunks need no look-up (no participants, no owner); the third's contact query meets an outage.
    for n in range(8):
        log(org, admin_user, type="email", subject=f"Plain {n}", owner=None)
    for n in range(2):
        log(
            org,
            admin_user,
            type="email",
            subject=f"To Jones {n}",
            owner=None,
            participant_emails=["jones@acme.example"],
        )
    sfsim.control("POST", "faults", {"kind": "unavailable", "count": 1, "endpoints": ["query"]})
    first = drain(SalesforceConnection.objects.get(pk=connection.pk), "Task")
    assert first.run.outcome == "failed" and first.created == 8
    assert sorted(t["Subject"] for t in tasks(sfsim)) == sorted(f"Email: Plain {n}" for n in range(8))
    assert OutboxEntry.objects.filter(state="done").count() == 8
    assert OutboxEntry.objects.filter(state="pending").count() == 2  # waiting for their retry, nothing lost
    OutboxEntry.objects.filter(state="pending").update(not_before=None)
    second = drain(SalesforceConnection.objects.get(pk=connection.pk), "Task")
    assert second.created == 2 and len(tasks(sfsim)) == 10
    jones = sfsim.control("POST", "query", {"q": "SELECT Id FROM Contact"})["records"][0]["Id"]
    assert {t["WhoId"] for t in tasks(sfsim, "WHERE Subject LIKE 'Email: To Jones%'")} == {jones}


def test_many_activities_in_one_transaction_ask_the_worker_once(
    connection: SalesforceConnection, org: Organization, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    from django.db import transaction

    switches(org, email_writeback=True, call_writeback=True)
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for n in range(5):
            log(org, admin_user, type="email", subject=f"Mail {n}")
            log(org, admin_user, type="call", subject=f"Call {n}")
    assert OutboxEntry.objects.filter(state="pending", sobject="Task").count() == 10
    assert len(callbacks) == 1


def test_the_record_card_says_why_an_activity_is_not_in_salesforce(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Any
) -> None:
    """Issue 17: the card said "Not in Salesforce (yet)" and "Last written 0 minutes ago" at once. Now one state:
    waiting, written (with its Task), or not written and why (its type's switch is off)."""
    from django.utils import timezone

    ActivitySettings.objects.update_or_create(organization=org, defaults={"call_writeback": False})
    call = record_create(
        organization=org,
        model=Activity,
        values={"type": "call", "subject": "Intro", "occurred_at": timezone.now()},
        actor=Actor.system("test"),
    )
    drain(connection, "Task")
    page = admin_client.get(reverse("activity_detail", args=[org.slug, call.code])).content.decode()
    card = page.split('data-testid="salesforce-card"', 1)[1].split("</section>", 1)[0]
    assert "Not written to Salesforce: Phone Call Writeback is off on the Activities tab." in card
    assert "Last written" not in card
