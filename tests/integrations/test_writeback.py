"""Writeback against the simulated org: what people change in Rox reaches Salesforce, once, never over a newer value,
never lost; new records are matched before being created; every class of error is handled as it should be."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from integrations.engine.drain import drain
from integrations.engine.runner import sync_object
from integrations.models import Conflict, OutboxEntry, SalesforceConnection, SalesforceLink, SyncError, WritebackBatch
from mappings.models import FieldMapping, ObjectMapping, StaticValue
from roxcrm.models import Account, Contact, Opportunity, Organization, User
from roxcrm.services import Actor, record_create, record_update
from tests.factories import make_custom_field
from tests.integrations.conftest import connect, submit


@pytest.fixture
def connection(org: Organization, admin_client: Client, sfsim: Any) -> SalesforceConnection:
    sfsim.reset(seed="empty", scenario="ready")
    connected = connect(admin_client, org, sfsim)
    submit(admin_client, org)
    connected.refresh_from_db()
    return connected


@pytest.fixture
def person(admin_user: User) -> Actor:
    return Actor.person(admin_user)


def create(sfsim: Any, sobject: str, **fields: Any) -> str:
    stamp = fields.pop("system_modstamp", None)
    body: dict[str, Any] = {"fields": fields, **({"system_modstamp": stamp} if stamp else {})}
    return sfsim.control("POST", f"records/{sobject}", body)["id"]


def ago(minutes: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(sfsim: Any, sobject: str, sf_id: str) -> dict[str, Any]:
    return sfsim.control("GET", f"records/{sobject}/{sf_id}")


def synced_account(connection: SalesforceConnection, sfsim: Any, **fields: Any) -> tuple[str, Account]:
    sf_id = create(sfsim, "Account", **{"Name": "Initech", **fields})
    sync_object(connection, "Account")
    link = SalesforceLink.objects.get(sf_id=sf_id)
    return sf_id, Account.objects.get(pk=link.record_id)


def map_tier(org: Organization) -> None:
    """A Rox text field mapped Read and Write to Salesforce's restricted picklist Customer_Tier__c (Gold, Silver,
    Bronze): "Platinum" is refused by Salesforce. Rox's copy of the describe predates a change there (an admin
    removed Platinum and Bogus from the picklist since it was read, and Rox still lists them as active values), so
    Rox cannot refuse the value itself: Salesforce does."""
    from integrations.models import DescribeCache

    make_custom_field(org, label="Tier", data_type="text")
    account_mapping = ObjectMapping.objects.get(organization=org, sobject="Account")
    FieldMapping.objects.create(
        object_mapping=account_mapping, sf_field="Customer_Tier__c", rox_field="custom.tier", rule="read_write"
    )
    cached = DescribeCache.objects.get(connection__organization=org, sobject="Account")
    for described in cached.data["fields"]:
        if described["name"] == "Customer_Tier__c":
            described["picklistValues"] += [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in ("Platinum", "Bogus")
            ]
    cached.fetched_at = timezone.now()
    cached.save(update_fields=["data", "fetched_at"])


def map_account_industry(org: Organization) -> None:
    """sfsim's Opportunity.Account_Industry__c, a formula on its account's Industry, mapped Read Only."""
    make_custom_field(org, object_type="opportunity", label="Account industry")
    FieldMapping.objects.create(
        object_mapping=ObjectMapping.objects.get(organization=org, sobject="Opportunity"),
        sf_field="Account_Industry__c",
        rox_field="custom.account_industry",
        rule="read_only",
    )


@contextlib.contextmanager
def edited_while_sending(account: Account, person: Actor, **values: Any) -> Iterator[None]:
    """The record is edited again just as a drain hands its row to Salesforce (between the claim and the send)."""
    from integrations.engine import writeback

    send = writeback.RecordWriter._send_updates

    def edited_meanwhile(self: Any, updates: Any) -> None:
        record_update(record=Account.objects.get(pk=account.pk), values=values, actor=person)
        send(self, updates)

    writeback.RecordWriter._send_updates = edited_meanwhile  # type: ignore[method-assign]
    try:
        yield
    finally:
        writeback.RecordWriter._send_updates = send  # type: ignore[method-assign]


def writes(sfsim: Any) -> int:
    stats = sfsim.control("GET", "stats")["api_calls_by_category"]
    return stats.get("collections", 0) + stats.get("bulk", 0)


def test_an_edit_is_written_back_and_its_echo_changes_nothing(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    sf_id, account = synced_account(connection, sfsim, Phone="111")
    record_update(record=account, values={"phone": "+1 555 0100", "industry": "Banking"}, actor=person)
    entry = OutboxEntry.objects.get()
    assert (entry.state, entry.operation, set(entry.fields)) == ("pending", "update", {"phone", "industry"})
    result = drain(connection, "Account")
    assert result.written == 1 and result.run.outcome == "succeeded"
    remote = read(sfsim, "Account", sf_id)
    assert (remote["Phone"], remote["Industry"]) == ("+1 555 0100", "Banking")
    assert OutboxEntry.objects.get().state == "done"
    sfsim.control("POST", "stats/reset")
    pulled = sync_object(connection, "Account").run
    assert pulled.counts["updated"] == 0  # our own write came back equal to the shadow
    assert drain(connection, "Account").skipped_reason == "nothing to write"
    assert writes(sfsim) == 0
    account.refresh_from_db()
    assert account.phone == "+1 555 0100"


def test_later_edits_coalesce_into_the_open_row(connection: SalesforceConnection, sfsim: Any, person: Actor) -> None:
    sf_id, account = synced_account(connection, sfsim)
    record_update(record=account, values={"phone": "1"}, actor=person)
    record_update(record=account, values={"phone": "2", "industry": "Retail"}, actor=person)
    assert OutboxEntry.objects.count() == 1
    drain(connection, "Account")
    assert read(sfsim, "Account", sf_id)["Phone"] == "2"


def test_a_burst_of_edits_queues_one_writeback_task(
    connection: SalesforceConnection, sfsim: Any, person: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    from django_q.conf import Conf
    from django_q.models import OrmQ

    from integrations.tasks import writeback_task

    for name in ("Globex", "Umbrella", "Hooli"):
        create(sfsim, "Account", Name=name)
    _, account = synced_account(connection, sfsim)
    others = list(Account.objects.exclude(pk=account.pk))
    assert len(others) == 3
    before, Conf.SYNC = Conf.SYNC, False  # queued, as in production, for a worker that has not picked them up yet
    try:
        for i, record in enumerate([account, *others, account]):
            with django_capture_on_commit_callbacks(execute=True):
                record_update(record=record, values={"phone": f"555 010{i}"}, actor=person)
        assert OutboxEntry.objects.filter(state="pending").count() == 4
        assert OrmQ.objects.count() == 1
        writeback_task(connection.pk, "Account")  # the task starts: changes from now on ask again
        assert OutboxEntry.objects.filter(state="done").count() == 4
        with django_capture_on_commit_callbacks(execute=True):
            record_update(record=account, values={"phone": "555 0199"}, actor=person)
        assert OrmQ.objects.count() == 2
    finally:
        Conf.SYNC = before


def test_a_newer_salesforce_value_wins_over_a_pending_rox_change(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    sf_id, account = synced_account(connection, sfsim, Phone="111")
    record_update(record=account, values={"phone": "222"}, actor=person)
    # A Salesforce user changes it after the Rox edit (the Rox change time is pushed back to be sure).
    stored = Account.objects.get(pk=account.pk)
    stored.field_times["phone"]["at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    Account.objects.filter(pk=account.pk).update(field_times=stored.field_times)
    sfsim.control("PATCH", f"records/Account/{sf_id}", {"fields": {"Phone": "333"}})
    drain(connection, "Account")
    assert read(sfsim, "Account", sf_id)["Phone"] == "333"  # the stale Rox value was not sent
    account.refresh_from_db()
    assert account.phone == "333"
    conflict = Conflict.objects.get()
    assert (conflict.winner, conflict.sf_value, conflict.rox_value) == ("salesforce", "333", "222")


def test_a_newer_rox_value_wins_and_is_sent(connection: SalesforceConnection, sfsim: Any, person: Actor) -> None:
    sf_id, account = synced_account(connection, sfsim, Phone="111", system_modstamp=ago(10))
    sfsim.control("PATCH", f"records/Account/{sf_id}", {"fields": {"Phone": "333"}, "system_modstamp": ago(2)})
    record_update(record=account, values={"phone": "444"}, actor=person)
    drain(connection, "Account")
    assert read(sfsim, "Account", sf_id)["Phone"] == "444"
    assert Conflict.objects.get().winner == "rox"


def test_read_only_fields_are_salesforces_to_change(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    """A field mapped Read Only is refused to a person (the reason names the rule and the Salesforce field) instead
    of being saved in Rox, never sent, and silently different from Salesforce; the sync still sets it."""
    FieldMapping.objects.filter(object_mapping__sobject="Account", sf_field="Industry").update(rule="read_only")
    sf_id, account = synced_account(connection, sfsim)
    with pytest.raises(ValidationError) as refused:
        record_update(record=account, values={"industry": "Energy"}, actor=person)
    assert refused.value.message_dict == {
        "industry": [
            "Read Only: this comes from Salesforce (Account.Industry, mapped Read Only in CRM Mappings). Change it "
            "in Salesforce, or map it Read and Write."
        ]
    }
    record_update(record=account, values={"phone": "555"}, actor=person)  # other fields stay editable
    assert not OutboxEntry.objects.filter(fields__has_key="industry").exists()
    sfsim.control("PATCH", f"records/Account/{sf_id}", {"fields": {"Industry": "Energy"}})
    sync_object(connection, "Account")
    assert Account.objects.get(pk=account.pk).industry == "Energy"


def test_prefer_salesforce_fills_blanks_and_never_clears(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    FieldMapping.objects.filter(object_mapping__sobject="Account", sf_field__in=["Phone", "Industry"]).update(
        rule="prefer_salesforce"
    )
    sf_id, account = synced_account(connection, sfsim, Industry="Retail")
    record_update(record=account, values={"phone": "555", "industry": "Energy"}, actor=person)
    drain(connection, "Account")
    remote = read(sfsim, "Account", sf_id)
    assert (remote["Phone"], remote["Industry"]) == ("555", "Retail")  # a blank filled; a value kept
    record_update(record=Account.objects.get(pk=account.pk), values={"phone": ""}, actor=person)
    drain(connection, "Account")
    assert read(sfsim, "Account", sf_id)["Phone"] == "555"


def test_write_only_and_static_values(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization
) -> None:
    tier = make_custom_field(org, label="Score", data_type="text")
    account_mapping = ObjectMapping.objects.get(organization=org, sobject="Account")
    FieldMapping.objects.create(
        object_mapping=account_mapping, sf_field="Description", rox_field="custom.score", rule="write_only"
    )
    StaticValue.objects.create(object_mapping=account_mapping, sf_field="Type", value="Prospect")
    StaticValue.objects.create(
        object_mapping=account_mapping, sf_field="AccountSource", value="Rox", when="create_only"
    )
    sf_id, account = synced_account(connection, sfsim)
    record_update(record=account, custom_values={tier.api_name: "92"}, actor=person)
    drain(connection, "Account")
    remote = read(sfsim, "Account", sf_id)
    assert (remote["Description"], remote["Type"], remote["AccountSource"]) == ("92", "Prospect", None)


def test_new_records_are_created_parents_first_and_linked(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization
) -> None:
    ObjectMapping.objects.filter(organization=org, sobject__in=["Account", "Contact", "Opportunity"]).update(
        new_entity_writeback=True
    )
    account = record_create(
        organization=org,
        model=Account,
        values={"name": "Brand New Co", "website": "https://brandnew.example"},
        actor=person,
    )
    contact = record_create(
        organization=org,
        model=Contact,
        values={"last_name": "Fresh", "email": "fresh@brandnew.example", "account": account},
        actor=person,
    )
    opportunity = record_create(
        organization=org,
        model=Opportunity,
        values={
            "name": "First deal",
            "stage": "Prospecting",
            "close_date": dt.date(2027, 1, 1),
            "account": account,
            "amount": Decimal("1000"),
        },
        actor=person,
    )
    # Children drained before their parent wait for it; nothing is created twice.
    assert drain(connection, "Contact").retry == 1
    assert drain(connection, "Account").created == 1
    OutboxEntry.objects.filter(state="pending").update(not_before=None)
    assert drain(connection, "Contact").created == 1
    assert drain(connection, "Opportunity").created == 1
    account_id = SalesforceLink.objects.get(sobject="Account", record_id=account.pk).sf_id
    contact_remote = read(sfsim, "Contact", SalesforceLink.objects.get(sobject="Contact", record_id=contact.pk).sf_id)
    opportunity_remote = read(
        sfsim, "Opportunity", SalesforceLink.objects.get(sobject="Opportunity", record_id=opportunity.pk).sf_id
    )
    assert contact_remote["AccountId"] == account_id and contact_remote["Email"] == "fresh@brandnew.example"
    assert (opportunity_remote["AccountId"], opportunity_remote["Amount"]) == (account_id, 1000)
    assert read(sfsim, "Account", account_id)["Website"] == "https://brandnew.example"


def test_a_new_record_that_exists_in_salesforce_is_linked_not_duplicated(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization
) -> None:
    ObjectMapping.objects.filter(organization=org, sobject="Contact").update(new_entity_writeback=True)
    existing = create(sfsim, "Contact", LastName="Known", Email="known@acme.example", Title="CTO")
    contact = record_create(
        organization=org,
        model=Contact,
        values={"last_name": "Known", "email": "Known@acme.example", "phone": "999"},
        actor=person,
    )
    result = drain(connection, "Contact")
    assert result.created == 0  # found by e-mail (by the pull that runs first, or by the match before creating)
    assert SalesforceLink.objects.get(sobject="Contact", record_id=contact.pk).sf_id == existing
    assert Contact.objects.filter(organization=org).count() == 1
    # The next pull takes Salesforce's values and keeps what Salesforce lacks, which then fills its blank.
    sync_object(connection, "Contact")
    contact.refresh_from_db()
    assert (contact.title, contact.phone) == ("CTO", "999")
    drain(connection, "Contact")
    assert read(sfsim, "Contact", existing)["Phone"] == "999"
    assert sfsim.control("POST", "query", {"q": "SELECT COUNT() FROM Contact"})["totalSize"] == 1


def test_several_matches_wait_for_review(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization
) -> None:
    ObjectMapping.objects.filter(organization=org, sobject="Lead").update(new_entity_writeback=True)
    create(sfsim, "Lead", LastName="Twin", Company="A", Email="twin@example.org")
    create(sfsim, "Lead", LastName="Twin", Company="B", Email="twin@example.org")
    from roxcrm.models import Lead

    record_create(
        organization=org,
        model=Lead,
        values={"last_name": "Twin", "company": "C", "email": "twin@example.org"},
        actor=person,
    )
    result = drain(connection, "Lead")
    assert result.review == 1 and result.created == 0
    entry = OutboxEntry.objects.get()
    assert entry.state == "review" and len(entry.candidates) == 2


def test_a_create_retried_after_a_timeout_never_makes_a_second_record(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization, settings: Any
) -> None:
    from integrations.salesforce import http

    ObjectMapping.objects.filter(organization=org, sobject="Contact").update(new_entity_writeback=True)
    record_create(
        organization=org, model=Contact, values={"last_name": "Slow", "email": "slow@acme.example"}, actor=person
    )
    sfsim.control("POST", "faults", {"kind": "latency", "latency_ms": 2500, "count": 1, "endpoints": ["collections"]})
    before = http.READ_TIMEOUT
    http.READ_TIMEOUT = 1
    try:
        first = drain(connection, "Contact")
    finally:
        http.READ_TIMEOUT = before
    assert first.retry == 1 and first.created == 0
    import time

    time.sleep(2)
    OutboxEntry.objects.update(not_before=None)
    second = drain(connection, "Contact")
    assert second.created == 0 and OutboxEntry.objects.filter(state="pending").count() == 0
    assert (
        sfsim.control("POST", "query", {"q": "SELECT COUNT() FROM Contact WHERE Email = 'slow@acme.example'"})[
            "totalSize"
        ]
        == 1
    )


def test_transient_errors_retry_and_do_not_hold_back_others(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    ids_and_accounts = [synced_account(connection, sfsim, Name=f"Co {n}") for n in range(3)]
    for _, account in ids_and_accounts:
        record_update(record=Account.objects.get(pk=account.pk), values={"phone": "777"}, actor=person)
    sfsim.control("POST", "faults", {"kind": "lock", "count": 1, "endpoints": ["collections"]})
    first = drain(connection, "Account")
    assert first.retry == 3 and OutboxEntry.objects.filter(state="pending").count() == 3
    OutboxEntry.objects.update(not_before=None)
    assert drain(connection, "Account").written == 3


def test_an_expired_session_is_refreshed_and_the_write_goes_through(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    sf_id, account = synced_account(connection, sfsim)
    record_update(record=account, values={"phone": "123"}, actor=person)
    sfsim.control("POST", "sessions/expire")
    assert drain(connection, "Account").written == 1
    assert read(sfsim, "Account", sf_id)["Phone"] == "123"


def test_the_request_limit_pauses_and_the_outbox_waits(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    _, account = synced_account(connection, sfsim)
    record_update(record=account, values={"phone": "123"}, actor=person)
    sfsim.control("POST", "faults", {"kind": "limit", "count": 1, "endpoints": ["collections"]})
    result = drain(connection, "Account")
    assert result.run.outcome == "paused"
    entry = OutboxEntry.objects.get()
    assert entry.state == "pending" and entry.not_before > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)


def test_a_permanent_error_is_shown_and_does_not_hold_back_others(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization
) -> None:
    map_tier(org)
    bad_id, bad = synced_account(connection, sfsim, Name="Bad")
    good_id, good = synced_account(connection, sfsim, Name="Good")
    record_update(
        record=bad, custom_values={"tier": "Platinum"}, actor=person
    )  # not a value of the restricted picklist
    record_update(record=good, custom_values={"tier": "Gold"}, actor=person)
    result = drain(connection, "Account")
    assert (result.written, result.failed) == (1, 1)
    assert read(sfsim, "Account", good_id)["Customer_Tier__c"] == "Gold"
    entry = OutboxEntry.objects.get(record_id=bad.pk)
    assert entry.state == "failed" and entry.error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    error = SyncError.objects.get(direction="outbound")
    assert error.sf_id == bad_id and "Customer_Tier__c" in error.fields


def test_a_refused_change_waits_with_its_error_until_it_is_written(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization, admin_client: Client
) -> None:
    """Salesforce refuses one field of an edit of two: the record's next good edit neither hides the error nor
    drops the refused edit's other field; once the person fixes the refused value, everything is written."""
    from django.urls import reverse

    map_tier(org)
    sf_id, account = synced_account(connection, sfsim, Name="Initech")
    record_update(record=account, values={"phone": "555-0100"}, custom_values={"tier": "Platinum"}, actor=person)
    assert drain(connection, "Account").failed == 1
    record_update(record=Account.objects.get(pk=account.pk), values={"industry": "Retail"}, actor=person)
    drain(connection, "Account")
    # Still refused (the tier is still Platinum) and still shown; the phone waits.
    assert read(sfsim, "Account", sf_id)["Phone"] is None
    page = admin_client.get(reverse("sync_health", args=[org.slug])).content.decode()
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in page
    waiting = OutboxEntry.objects.exclude(state__in=["done", "discarded"])
    assert [(e.state, "phone" in e.fields) for e in waiting] == [("failed", True)]
    assert SyncError.objects.filter(direction="outbound", resolved_at=None).count() == 1
    # The person fixes the tier: the phone and the tier go out with it, and nothing is left waiting or in error.
    record_update(record=Account.objects.get(pk=account.pk), custom_values={"tier": "Gold"}, actor=person)
    drain(connection, "Account")
    written = read(sfsim, "Account", sf_id)
    assert (written["Phone"], written["Customer_Tier__c"], written["Industry"]) == ("555-0100", "Gold", "Retail")
    assert not OutboxEntry.objects.exclude(state__in=["done", "discarded"]).exists()
    assert not SyncError.objects.filter(direction="outbound", resolved_at=None).exists()


def test_a_good_write_of_a_record_never_hides_its_other_refused_change(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization
) -> None:
    """An edit made while the refused one was being sent is written on its own: the refused row keeps its error,
    and the record's next edit carries the refused change along."""
    map_tier(org)
    sf_id, account = synced_account(connection, sfsim, Name="Initech")
    record_update(record=account, custom_values={"tier": "Platinum"}, actor=person)
    with edited_while_sending(account, person, industry="Retail"):
        assert drain(connection, "Account").failed == 1
    assert drain(connection, "Account").written == 1  # the Retail edit alone
    assert read(sfsim, "Account", sf_id)["Industry"] == "Retail"
    assert OutboxEntry.objects.get(state="failed").fields.keys() == {"custom.tier"}
    assert SyncError.objects.filter(direction="outbound", resolved_at=None).count() == 1
    record_update(record=Account.objects.get(pk=account.pk), values={"phone": "1"}, actor=person)
    assert not OutboxEntry.objects.filter(state="failed").exists()  # the new edit carries the refused one along
    drain(connection, "Account")
    assert OutboxEntry.objects.get(state="failed").fields.keys() == {"custom.tier", "phone"}
    assert SyncError.objects.filter(direction="outbound", resolved_at=None).count() == 1


def test_undo_writes_back_the_values_a_batch_replaced(
    connection: SalesforceConnection, sfsim: Any, person: Actor, admin_user: User
) -> None:
    from integrations.services import writeback_revert

    sf_id, account = synced_account(connection, sfsim, Phone="111")
    record_update(record=account, values={"phone": "999"}, actor=person)
    drain(connection, "Account")
    batch = WritebackBatch.objects.get()
    writeback_revert(batch=batch, user=admin_user)
    account.refresh_from_db()
    assert account.phone == "111"
    drain(connection, "Account")
    assert read(sfsim, "Account", sf_id)["Phone"] == "111"
    batch.refresh_from_db()
    assert batch.reverted_at is not None


def test_large_drains_use_a_bulk_job_and_report_failed_rows_one_by_one(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization, settings: Any
) -> None:
    settings.SALESFORCE_BULK_WRITE_THRESHOLD = 5
    map_tier(org)
    for n in range(8):
        create(sfsim, "Account", Name=f"Bulk {n}")
    sync_object(connection, "Account")
    for n, account in enumerate(Account.objects.filter(organization=org).order_by("name")):
        record_update(record=account, custom_values={"tier": "Bogus" if n < 2 else "Silver"}, actor=person)
    sfsim.control("POST", "stats/reset")
    result = drain(connection, "Account")
    assert (result.written, result.failed) == (6, 2)
    assert sfsim.control("GET", "stats")["api_calls_by_category"].get("collections", 0) == 0
    failed = OutboxEntry.objects.filter(state="failed")
    assert failed.count() == 2 and all(e.error_code for e in failed)


def test_saving_on_the_page_writes_back_at_once(
    connection: SalesforceConnection, sfsim: Any, admin_client: Client
) -> None:
    sf_id, account = synced_account(connection, sfsim, Phone="111")
    response = admin_client.post(
        f"{account.get_absolute_url()}edit/",
        {"name": "Initech", "phone": "222", "version": account.version},
        follow=True,
    )
    assert "Saved 1 change(s) to “Initech” — written to Salesforce." in response.content.decode()
    assert read(sfsim, "Account", sf_id)["Phone"] == "222"


def test_a_page_save_writes_only_its_record_whatever_the_backlog(
    connection: SalesforceConnection, sfsim: Any, admin_client: Client, person: Actor
) -> None:
    """A backlog of other records' changes (and Salesforce changes not read yet) is left to the worker: the save
    reads and writes its own record only, so the request's time does not grow with the backlog."""
    from integrations.engine.locks import acquire, release
    from integrations.models import SyncCursor

    sf_id, account = synced_account(connection, sfsim, Phone="111")
    others = [synced_account(connection, sfsim, Name=f"Backlog {n}") for n in range(5)]
    cursor = SyncCursor.objects.get(connection=connection, sobject="Account")
    token = acquire(cursor)  # the worker is busy: the edits below wait in the outbox
    for _, other in others:
        record_update(record=other, values={"phone": "999"}, actor=person)
    release(cursor, token)
    elsewhere = create(sfsim, "Account", Name="Made in Salesforce meanwhile")
    before = sfsim.control("GET", "stats")["api_calls_by_category"]
    response = admin_client.post(
        f"{account.get_absolute_url()}edit/",
        {"name": "Initech", "phone": "222", "version": account.version},
        follow=True,
    )
    assert "Saved 1 change(s) to “Initech” — written to Salesforce." in response.content.decode()
    assert read(sfsim, "Account", sf_id)["Phone"] == "222"
    after = sfsim.control("GET", "stats")["api_calls_by_category"]
    assert after.get("collections", 0) - before.get("collections", 0) == 1
    assert OutboxEntry.objects.filter(state="pending").count() == 5  # the backlog is the worker's
    assert all(read(sfsim, "Account", other_id)["Phone"] is None for other_id, _ in others)
    assert not SalesforceLink.objects.filter(sf_id=elsewhere).exists()  # nor did the save read the object's changes
    assert drain(connection, "Account").written == 5


def test_a_page_save_while_the_object_is_busy_hands_the_change_to_the_worker(
    connection: SalesforceConnection, sfsim: Any, admin_client: Client
) -> None:
    from integrations.engine.locks import acquire, release
    from integrations.models import SyncCursor

    sf_id, account = synced_account(connection, sfsim, Phone="111")
    cursor = SyncCursor.objects.get(connection=connection, sobject="Account")
    token = acquire(cursor)  # a long inbound sync of Account is running
    try:
        response = admin_client.post(
            f"{account.get_absolute_url()}edit/",
            {"name": "Initech", "phone": "222", "version": account.version},
            follow=True,
        )
    finally:
        release(cursor, token)
    assert "the worker writes it shortly" in response.content.decode()
    assert OutboxEntry.objects.get().state == "pending"
    assert drain(connection, "Account").written == 1
    assert read(sfsim, "Account", sf_id)["Phone"] == "222"


def test_a_parents_writeback_refreshes_its_childrens_formulas(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization
) -> None:
    """An opportunity's formula that reads its account's industry follows an edit of the account made in Rox."""
    map_account_industry(org)
    sf_id, account = synced_account(connection, sfsim, Industry="Banking")
    deal = create(sfsim, "Opportunity", Name="Deal", StageName="Prospecting", CloseDate="2027-01-31", AccountId=sf_id)
    sync_object(connection, "Opportunity")
    opportunity = Opportunity.objects.get(pk=SalesforceLink.objects.get(sf_id=deal).record_id)
    assert opportunity.custom_values == {"account_industry": "Banking"}
    record_update(record=account, values={"industry": "Energy"}, actor=person)
    drain(connection, "Account")
    assert read(sfsim, "Account", sf_id)["Industry"] == "Energy"
    opportunity.refresh_from_db()
    assert opportunity.custom_values == {"account_industry": "Energy"}


def test_a_field_salesforce_moved_since_the_form_was_opened_asks_the_person(
    connection: SalesforceConnection, sfsim: Any, admin_client: Client
) -> None:
    sf_id, account = synced_account(connection, sfsim, Phone="111", Industry="Retail")
    user = sfsim.control(
        "POST", "users", {"username": "sam.seller@sfsim.example.com", "first_name": "Sam", "last_name": "Seller"}
    )
    sfsim.control(
        "PATCH", f"records/Account/{sf_id}", {"as": "sam.seller@sfsim.example.com", "fields": {"Phone": "999"}}
    )
    form = {"name": "Initech", "phone": "222", "industry": "Retail", "version": account.version}
    response = admin_client.post(f"{account.get_absolute_url()}edit/", form)
    page = response.content.decode()
    assert response.status_code == 409 and user
    assert "Changed in Salesforce since you opened this form" in page
    assert "Salesforce now says “999” — Sam Seller" in page
    assert 'value="222"' in page  # what the person typed is kept
    account.refresh_from_db()
    assert account.phone == "111"
    # Taking Salesforce's value saves it, and nothing stale is sent.
    response = admin_client.post(f"{account.get_absolute_url()}edit/", {**form, "resolve:phone": "theirs"}, follow=True)
    account.refresh_from_db()
    assert account.phone == "999" and read(sfsim, "Account", sf_id)["Phone"] == "999"
    # Keeping one's own value writes it.
    sfsim.control("PATCH", f"records/Account/{sf_id}", {"fields": {"Phone": "888"}})
    response = admin_client.post(
        f"{account.get_absolute_url()}edit/", {**form, "version": account.version, "resolve:phone": "mine"}, follow=True
    )
    assert "written to Salesforce" in response.content.decode()
    assert read(sfsim, "Account", sf_id)["Phone"] == "222"


def test_sync_health_shows_the_outbox_and_admins_act_on_it(
    connection: SalesforceConnection,
    sfsim: Any,
    person: Actor,
    org: Organization,
    admin_client: Client,
    member_client: Client,
) -> None:
    from django.urls import reverse

    from roxcrm.models import Lead

    ObjectMapping.objects.filter(organization=org, sobject="Lead").update(new_entity_writeback=True)
    first = create(sfsim, "Lead", LastName="Twin", Company="A", Email="twin@example.org")
    create(sfsim, "Lead", LastName="Twin", Company="B", Email="twin@example.org")
    lead = record_create(
        organization=org,
        model=Lead,
        values={"last_name": "Twin", "company": "C", "email": "twin@example.org"},
        actor=person,
    )
    drain(connection, "Lead")
    url = reverse("sync_health", args=[org.slug])
    page = admin_client.get(url).content.decode()
    assert 'data-state="review"' in page and "2 Salesforce records match" in page
    assert (
        member_client.post(
            reverse("outbox_action", args=[org.slug]), {"entry": OutboxEntry.objects.get().pk, "action": "discard"}
        ).status_code
        == 403
    )
    # The matches came into Rox with the inbound sync: linking to one of them would make a duplicate.
    entry = OutboxEntry.objects.get()
    action = reverse("outbox_action", args=[org.slug])
    response = admin_client.post(action, {"entry": entry.pk, "action": "choose", "choice": first}, follow=True)
    assert "is already linked to another Rox record" in response.content.decode()
    admin_client.post(action, {"entry": entry.pk, "action": "choose", "choice": "new"})
    assert drain(connection, "Lead").created == 1
    assert SalesforceLink.objects.filter(sobject="Lead", record_id=lead.pk).exists()
    count = sfsim.control("POST", "query", {"q": "SELECT COUNT() FROM Lead WHERE Email = 'twin@example.org'"})
    assert count["totalSize"] == 3
    batch_page = admin_client.get(url).content.decode()
    assert "Recent writebacks" in batch_page


def test_slices_and_chunks_send_full_calls_and_an_expired_session_on_the_send_thread_is_refreshed(
    connection: SalesforceConnection, sfsim: Any, person: Actor, org: Organization, monkeypatch: Any
) -> None:
    monkeypatch.setattr("integrations.engine.writeback.WRITE_SLICE", 3)  # 7 rows: slices of 3, 3, 1
    for n in range(7):
        create(sfsim, "Account", Name=f"Slice {n}")
    sync_object(connection, "Account")
    for n, account in enumerate(Account.objects.filter(organization=org).order_by("name")):
        record_update(record=account, values={"phone": f"555 01{n:02}"}, actor=person)
    generation = connection.token_generation
    sfsim.control("POST", "stats/reset")
    sfsim.control("POST", "faults", {"kind": "expire_sessions", "count": 1, "endpoints": ["collections"]})
    result = drain(SalesforceConnection.objects.get(pk=connection.pk), "Account")
    assert (result.written, result.retry, result.failed) == (7, 0, 0)
    phones = sfsim.control("POST", "query", {"q": "SELECT Name, Phone FROM Account"})["records"]
    assert {r["Name"]: r["Phone"] for r in phones} == {f"Slice {n}": f"555 01{n:02}" for n in range(7)}
    # A slice's leftovers wait for the next one: one call for the seven (the refused one is not counted as a call).
    stats = sfsim.control("GET", "stats")
    assert stats["faults_injected"] == {"expire_sessions": 1}
    assert stats["api_calls_by_category"]["collections"] == 1
    connection.refresh_from_db()
    assert connection.token_generation == generation + 1
    assert OutboxEntry.objects.filter(state="done").count() == 7
