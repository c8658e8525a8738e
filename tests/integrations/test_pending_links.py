"""A child read before its parent waits in ``PendingReference`` and is linked when the parent arrives, whichever
worker reads which first and however their pages interleave (found by the soak: a contact and its account read by
two workers at the same moment kept a blank account for good: the account page looked for waiting children before
the contact page had committed its wait, and the contact page looked for the account before the account page had
committed its link). A waiting link whose parent is in Rox is also repaired by the child object's next run."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import close_old_connections
from django.db import connection as db

from integrations.engine.inbound import InboundPage
from integrations.engine.runner import sync_object
from integrations.models import PendingReference, SalesforceConnection, SalesforceLink
from roxcrm.models import Account, Contact, FieldChange
from tests.integrations.test_writeback import connection, create

__all__ = ["connection"]  # the fixture shared with test_writeback


def rox(model: Any, sf_id: str) -> Any:
    return model.objects.get(pk=SalesforceLink.objects.get(sf_id=sf_id).record_id)


def test_a_waiting_link_whose_parent_is_in_rox_is_repaired_by_the_childs_next_run(
    connection: SalesforceConnection, sfsim: Any, monkeypatch: Any
) -> None:
    """The state the race leaves (the account linked, its contact still waiting), as databases hold it today: the
    contact's next run links it, although Salesforce changed nothing."""
    account_id = create(sfsim, "Account", Name="Parent Co")
    contact_id = create(sfsim, "Contact", LastName="Early", AccountId=account_id)
    sync_object(connection, "Contact")
    assert PendingReference.objects.count() == 1
    with monkeypatch.context() as patched:
        patched.setattr(InboundPage, "_resolve", lambda self, new_sf_ids: None)  # the account page misses it
        sync_object(connection, "Account")
    assert rox(Contact, contact_id).account_id is None
    sync_object(connection, "Contact")  # nothing changed in Salesforce: the run repairs it anyway
    contact = rox(Contact, contact_id)
    assert contact.account_id == rox(Account, account_id).pk
    assert not PendingReference.objects.exists()
    change = FieldChange.objects.get(object_type="contact", record_id=contact.pk, field="account")
    assert change.actor_label == "Salesforce sync" and contact.version == 2


@pytest.mark.django_db(transaction=True)
def test_a_contact_and_its_account_read_by_two_workers_at_once_end_linked(
    connection: SalesforceConnection, sfsim: Any, monkeypatch: Any
) -> None:
    if db.vendor != "postgresql":
        pytest.skip("two page transactions at once need PostgreSQL (SQLite runs one writer at a time)")
    account_id = create(sfsim, "Account", Name="Parent Co")
    contact_id = create(sfsim, "Contact", LastName="Early", AccountId=account_id)
    looked = threading.Event()  # the account page looked for waiting children (and has not committed yet)
    contact_done = threading.Event()
    resolve = InboundPage._resolve

    def account_page_waits_for_the_contact_page(self: Any, new_sf_ids: list[str]) -> None:
        resolve(self, new_sf_ids)
        if self.plan.sobject == "Account":
            looked.set()
            # Without a guard the contact page commits its wait here, unseen; with one it waits for this page.
            contact_done.wait(3)

    monkeypatch.setattr(InboundPage, "_resolve", account_page_waits_for_the_contact_page)
    errors: list[BaseException] = []

    def contacts() -> None:
        try:
            looked.wait(10)
            sync_object(SalesforceConnection.objects.get(pk=connection.pk), "Contact")
        except BaseException as exc:
            errors.append(exc)
        finally:
            contact_done.set()
            close_old_connections()
            db.close()

    worker = threading.Thread(target=contacts)
    worker.start()
    sync_object(connection, "Account")
    worker.join(20)
    assert not errors and not worker.is_alive()
    assert rox(Contact, contact_id).account_id == rox(Account, account_id).pk
    assert not PendingReference.objects.exists()
