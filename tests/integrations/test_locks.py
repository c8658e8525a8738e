"""Every job that reads or writes an object's records holds that object's run lock: reconciliation, formula refresh
and retries as much as the inbound sync and the writeback. The interleavings the soak never lands on are forced
here: another worker's job runs at the worst moment of this one."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from integrations.engine.drain import drain
from integrations.engine.formula import refresh_formulas
from integrations.engine.locks import BUSY, acquire, release
from integrations.engine.reconcile import reconcile, reconcile_due
from integrations.engine.runner import retry_records, sync_object
from integrations.models import SalesforceConnection, SalesforceLink, SyncCursor
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import TransientError
from mappings.models import FieldMapping, ObjectMapping
from roxcrm.models import Account
from roxcrm.services import Actor, record_create
from tests.factories import make_custom_field
from tests.integrations.test_writeback import connection, create, person

__all__ = ["connection", "person"]  # fixtures shared with test_writeback


def as_another_worker(job: Callable[[], Any]) -> Any:
    """Run ``job`` on its own thread with its own database connection, as another worker process would, and wait."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = job()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.mark.django_db(transaction=True)
def test_a_record_created_during_a_reconciliation_is_not_marked_gone(
    connection: SalesforceConnection, sfsim: Any, person: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker's writeback creates an account in Salesforce and links it just after the reconciliation read
    Salesforce's Ids: it must wait for the reconciliation, not be marked "no longer found" by it."""
    ObjectMapping.objects.filter(organization=connection.organization, sobject="Account").update(
        new_entity_writeback=True
    )
    create(sfsim, "Account", Name="Already there")
    sync_object(connection, "Account")
    cursor = SyncCursor.objects.get(connection=connection, sobject="Account")
    token = acquire(cursor)  # so that the writeback the edit asks for waits (the worker runs tasks inline here)
    new = record_create(organization=connection.organization, model=Account, values={"name": "Brand new"}, actor=person)
    release(cursor, token)
    listed = SalesforceClient.query
    drains: list[Any] = []

    def then_a_writeback_runs(self: SalesforceClient, soql: str, **kwargs: Any) -> Any:
        page = listed(self, soql, **kwargs)
        if soql.startswith("SELECT Id FROM Account") and not drains:
            drains.append(as_another_worker(lambda: drain(connection, "Account")))
        return page

    monkeypatch.setattr(SalesforceClient, "query", then_a_writeback_runs)
    run = reconcile(connection, "Account")
    monkeypatch.undo()
    assert run is not None and run.counts == {"deleted": 0}
    assert drains[0].skipped_reason == BUSY
    assert drain(connection, "Account").created == 1
    assert Account.objects.get(pk=new.pk).removed_at is None
    assert SalesforceLink.objects.get(record_id=new.pk, sobject="Account").deleted_at is None


def test_jobs_on_an_object_wait_for_its_lock_and_leave_nothing_half_done(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    """While another run holds Account: the reconciliation, the formula refresh and a retry from Sync health do
    not run (they say so, and the hourly checks come back), and they run once it is free."""
    make_custom_field(connection.organization, label="Billing location")
    FieldMapping.objects.create(
        object_mapping=ObjectMapping.objects.get(organization=connection.organization, sobject="Account"),
        sf_field="Billing_Location__c",
        rox_field="custom.billing_location",
        rule="read_only",
    )
    sf_id = create(sfsim, "Account", Name="Locked Ltd")
    sync_object(connection, "Account")
    cursor = SyncCursor.objects.get(connection=connection, sobject="Account")
    SyncCursor.objects.filter(pk=cursor.pk).update(backfilled_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    token = acquire(cursor)  # a run of Account in progress
    assert token
    try:
        assert reconcile(connection, "Account", wait=0) is None
        assert "Account: another run of this object is in progress" in reconcile_due(connection)
        assert refresh_formulas(connection, "Account") is None
        with pytest.raises(TransientError, match="Try again in a moment"):
            retry_records(connection, "Account", [sf_id])
    finally:
        release(cursor, token)
    assert "Account: 0 gone" in reconcile_due(connection)
    assert "Account" not in reconcile_due(connection)  # reconciled: not due again for a week
    assert refresh_formulas(connection, "Account").outcome == "succeeded"
    assert retry_records(connection, "Account", [sf_id]) == 0


def dead_process_id() -> int:
    """The id of a process that has just exited (a worker killed with SIGKILL looks the same)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_rows_a_killed_worker_left_in_flight_are_written_by_the_next_sweep(
    connection: SalesforceConnection, sfsim: Any, person: Actor
) -> None:
    """Not 30 minutes later, and not only once an unrelated edit of the object queues a drain."""
    from integrations.models import OutboxEntry
    from integrations.tasks import writeback_sweep_task
    from roxcrm.services import record_update
    from tests.integrations.test_writeback import read, synced_account

    sf_id, account = synced_account(connection, sfsim, Phone="111")
    record_update(record=account, values={"phone": "222"}, actor=person)
    # A worker claimed the row a moment ago and was killed: its lock row still names it.
    now = dt.datetime.now(dt.UTC)
    OutboxEntry.objects.update(state="in_flight", in_flight_since=now, attempts=1)
    SyncCursor.objects.filter(connection=connection, sobject="Account").update(
        running_since=now, running_token=f"{'0' * 32}:{dead_process_id()}"
    )
    assert "Account: Succeeded" in writeback_sweep_task(connection.pk)
    assert read(sfsim, "Account", sf_id)["Phone"] == "222"
    assert OutboxEntry.objects.get().state == "done"


def test_a_lock_whose_process_is_alive_is_not_taken_over(connection: SalesforceConnection) -> None:
    """On SQLite (a conditional UPDATE is the lock): only a gone process loses it before the run timeout."""
    import os

    if connections["default"].vendor == "postgresql":
        pytest.skip("on PostgreSQL the lock is the session's advisory lock, whatever the row says")
    cursor, _ = SyncCursor.objects.get_or_create(connection=connection, sobject="Account")
    alive = os.getppid()  # the test runner's parent: alive, and not this process
    SyncCursor.objects.filter(pk=cursor.pk).update(
        running_since=dt.datetime.now(dt.UTC), running_token=f"{'0' * 32}:{alive}"
    )
    assert acquire(cursor) is None
    SyncCursor.objects.filter(pk=cursor.pk).update(running_token=f"{'0' * 32}:{dead_process_id()}")
    token = acquire(cursor)
    assert token
    release(cursor, token)
