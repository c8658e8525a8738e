"""Writeback after a worker died or a send failed while the same record was edited again (found by the soak test,
``bench/soak.py``): the claimed row goes back into the record's newer pending row, nothing is lost, and the
outbox keeps working for every other record."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.db import connection as db

from integrations.engine.drain import drain
from integrations.engine.inbound import InboundPage
from integrations.engine.runner import sync_object
from integrations.models import OutboxEntry, SalesforceConnection
from roxcrm.models import Account
from roxcrm.services import Actor, record_update
from tests.integrations.test_writeback import connection, edited_while_sending, person, read, synced_account

__all__ = ["connection", "person"]  # fixtures shared with test_writeback


def open_rows() -> list[tuple[str, list[str]]]:
    return sorted((e.state, sorted(e.fields)) for e in OutboxEntry.objects.filter(state__in=["pending", "in_flight"]))


def test_a_row_left_in_flight_by_a_dead_worker_joins_the_records_newer_pending_row(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    sf_id, account = synced_account(connection, sfsim, Phone="111")
    other_id, other = synced_account(connection, sfsim, Name="Other Co")
    record_update(record=account, values={"phone": "222"}, actor=person)
    # A worker claimed the row and was killed (SIGKILL) before writing it; the run timeout has passed since.
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    OutboxEntry.objects.update(state="in_flight", in_flight_since=long_ago, attempts=1)
    # The record is edited again: a new pending row, while the old one is still in flight.
    record_update(record=Account.objects.get(pk=account.pk), values={"industry": "Banking"}, actor=person)
    record_update(record=other, values={"phone": "333"}, actor=person)
    assert open_rows() == [("in_flight", ["phone"]), ("pending", ["industry"]), ("pending", ["phone"])]

    result = drain(connection, "Account")

    assert result.written == 2 and result.run.outcome == "succeeded"
    remote = read(sfsim, "Account", sf_id)
    assert (remote["Phone"], remote["Industry"]) == ("222", "Banking")
    assert read(sfsim, "Account", other_id)["Phone"] == "333"
    assert open_rows() == []


@pytest.mark.parametrize("fault", ["lock", "limit"])
def test_a_failed_send_of_a_record_edited_during_the_drain_keeps_both_changes(
    connection: SalesforceConnection, sfsim: Any, person: Actor, fault: str
) -> None:
    """``lock``: that record is retried later; ``limit``: the whole drain waits. Either way the claimed row goes
    back to pending while the record already has a newer pending row."""
    sf_id, account = synced_account(connection, sfsim, Phone="111")
    record_update(record=account, values={"phone": "222"}, actor=person)
    sfsim.control("POST", "faults", {"kind": fault, "count": 1, "endpoints": ["collections"]})

    with edited_while_sending(account, person, industry="Banking"):
        drain(connection, "Account")

    assert open_rows() == [("pending", ["industry", "phone"])]
    OutboxEntry.objects.update(not_before=None)
    assert drain(connection, "Account").written == 1
    remote = read(sfsim, "Account", sf_id)
    assert (remote["Phone"], remote["Industry"]) == ("222", "Banking")
    assert open_rows() == []


@pytest.mark.django_db(transaction=True)
def test_an_edit_saved_while_a_pull_applies_its_page_is_kept(
    connection: SalesforceConnection, sfsim: Any, person: Actor, monkeypatch: Any
) -> None:
    """A person saves a record (another connection, another thread) after the pull read the page and before it
    wrote it: the page's row lock makes the edit wait for the page instead of the page overwriting it."""
    if db.vendor != "postgresql":
        pytest.skip("row locks (SELECT ... FOR UPDATE) need PostgreSQL; SQLite has none")
    sf_id, account = synced_account(connection, sfsim, Phone="111", Industry="Retail")
    other_id, _ = synced_account(connection, sfsim, Name="Other Co", Phone="1")
    # Salesforce users change the industry of one account and the phone of the other.
    sfsim.control("PATCH", f"records/Account/{sf_id}", {"fields": {"Industry": "Banking"}})
    sfsim.control("PATCH", f"records/Account/{other_id}", {"fields": {"Phone": "2"}})
    apply_page = InboundPage._write
    editors: list[threading.Thread] = []

    def edit() -> None:
        try:
            record_update(record=Account.objects.get(pk=account.pk), values={"phone": "222"}, actor=person)
        finally:
            db.close()

    def edited_meanwhile(self: Any, *args: Any) -> None:
        if not editors:  # the first page only (the edit's own writeback pulls again)
            editors.append(threading.Thread(target=edit))
            editors[0].start()
            editors[0].join(1)  # without the page's lock the edit commits here, before the page writes
        apply_page(self, *args)

    monkeypatch.setattr(InboundPage, "_write", edited_meanwhile)
    sync_object(connection, "Account")
    editors[0].join(10)
    account.refresh_from_db()
    assert (account.phone, account.industry) == ("222", "Banking")
    assert (account.field_times["phone"]["by"], account.field_times["industry"]["by"]) == ("user", "sync")


def test_a_row_a_dead_run_left_in_flight_is_written_by_the_next_run_at_once(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    """The next run holds the object's lock, so whatever of the object is still in flight belongs to a run that
    died: it is written now, not after the run timeout."""
    sf_id, account = synced_account(connection, sfsim, Phone="111")
    record_update(record=account, values={"phone": "222"}, actor=person)
    OutboxEntry.objects.update(state="in_flight", in_flight_since=dt.datetime.now(dt.UTC), attempts=1)
    assert drain(connection, "Account").written == 1
    assert read(sfsim, "Account", sf_id)["Phone"] == "222"
    assert open_rows() == []


def test_retrying_a_failed_row_of_a_record_edited_since_joins_its_pending_row(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    from integrations.services import outbox_retry

    sf_id, account = synced_account(connection, sfsim, Phone="111")
    record_update(record=account, values={"phone": "222"}, actor=person)
    # Edited again while the first row was being sent, which Salesforce then refused.
    OutboxEntry.objects.update(state="in_flight")
    record_update(record=Account.objects.get(pk=account.pk), values={"industry": "Banking"}, actor=person)
    OutboxEntry.objects.filter(state="in_flight").update(state="failed", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    failed = OutboxEntry.objects.get(state="failed")

    outbox_retry(entry=failed)  # the admin fixed the validation rule and clicks Retry

    assert open_rows() == [("pending", ["industry", "phone"])]
    assert drain(connection, "Account").written == 1
    remote = read(sfsim, "Account", sf_id)
    assert (remote["Phone"], remote["Industry"]) == ("222", "Banking")


def test_an_edit_after_a_refusal_carries_the_refused_change_along(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    sf_id, account = synced_account(connection, sfsim, Phone="111")
    record_update(record=account, values={"phone": "222"}, actor=person)
    OutboxEntry.objects.update(state="failed", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    record_update(record=Account.objects.get(pk=account.pk), values={"industry": "Banking"}, actor=person)
    assert open_rows() == [("pending", ["industry", "phone"])]
    assert not OutboxEntry.objects.filter(state="failed").exists()
    assert drain(connection, "Account").written == 1
    remote = read(sfsim, "Account", sf_id)
    assert (remote["Phone"], remote["Industry"]) == ("222", "Banking")


@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_run_lock_goes_with_its_database_session(connection: SalesforceConnection, sfsim: Any) -> None:
    """On PostgreSQL the run lock is the worker's session's: when the worker dies its lock is gone, and the next
    run starts at once instead of after the run timeout."""
    from django.db import connections

    from integrations.engine.locks import acquire, release
    from integrations.models import SyncCursor

    if db.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; on SQLite a dead run's lock waits for the run timeout")
    cursor, _ = SyncCursor.objects.get_or_create(connection=connection, sobject="Account")
    taken: dict[str, Any] = {}
    go = threading.Event()

    def worker() -> None:  # another worker process: its own database session
        taken["token"] = acquire(cursor)
        go.set()
        taken["done"] = threading.Event()
        taken["done"].wait(10)
        connections["default"].close()  # the process is killed: its session ends without releasing anything

    thread = threading.Thread(target=worker)
    thread.start()
    go.wait(10)
    assert taken["token"] and acquire(cursor) is None  # held by the other worker
    assert sync_object(connection, "Account").skipped_reason == "another run of this object is in progress"
    taken["done"].set()
    thread.join(10)
    # At once, not after the 30-minute run timeout: as soon as the server has ended the closed session (closing
    # only asks it to; the backend exits a moment later).
    deadline = time.monotonic() + 5
    while (token := acquire(cursor)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert token
    release(cursor, token)
    assert sync_object(connection, "Account").run is not None


@pytest.mark.parametrize("sobject", ["Account", "Contact", "Opportunity"])
def test_records_a_killed_worker_created_in_salesforce_are_linked_not_imported_again(
    connection: SalesforceConnection, sfsim: Any, person: Actor, sobject: str
) -> None:
    """The worker sent the creates and was killed before recording them: the next drain's pull meets those records
    first. Each is recognised as the Rox record whose create was under way: one record on each side, linked."""
    from integrations.models import SalesforceLink
    from mappings.models import ObjectMapping
    from roxcrm.models import Contact, Opportunity
    from roxcrm.services import record_create

    ObjectMapping.objects.filter(organization=connection.organization).update(new_entity_writeback=True)
    parent_id, parent = synced_account(connection, sfsim, Name="Parent Co")
    model, values, fields = {
        "Account": (Account, {"name": "Fresh Co"}, {"Name": "Fresh Co"}),
        "Contact": (Contact, {"last_name": "Fresh", "email": "fresh@example.org", "account": parent},
                    {"LastName": "Fresh", "Email": "fresh@example.org", "AccountId": parent_id}),
        "Opportunity": (Opportunity, {"name": "Fresh deal", "stage": "Prospecting", "close_date": "2027-01-31",
                                      "account": parent},
                        {"Name": "Fresh deal", "StageName": "Prospecting", "CloseDate": "2027-01-31",
                         "AccountId": parent_id}),
    }[sobject]  # fmt: skip
    record = record_create(organization=connection.organization, model=model, values=values, actor=person)
    # What the killed worker did: claimed the row and created the record in Salesforce (as the integration user).
    OutboxEntry.objects.filter(record_id=record.pk, sobject=sobject).update(state="in_flight", attempts=1)
    created = sfsim.control("POST", f"records/{sobject}", {"fields": fields})["id"]

    result = drain(connection, sobject)

    assert result.failed == 0
    assert model.objects.filter(organization=connection.organization).count() == (2 if sobject == "Account" else 1)
    assert SalesforceLink.objects.get(sobject=sobject, record_id=record.pk).sf_id == created
    count = sfsim.control("POST", "query", {"q": f"SELECT COUNT() FROM {sobject}"})["totalSize"]
    assert count == (2 if sobject == "Account" else 1)
    assert not OutboxEntry.objects.exclude(state="done").exists()
