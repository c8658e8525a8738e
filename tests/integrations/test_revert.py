"""Revert a writeback (issue 17): a confirmation that lists each record and field that gets its earlier value back,
then the change, written to Salesforce like any edit; nothing is reported reverted when the records hold those
values already. Against sfsim over HTTPS."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from integrations.engine.drain import drain
from integrations.models import SalesforceConnection, WritebackBatch
from roxcrm.models import Account, Organization
from roxcrm.services import Actor, record_update
from tests.integrations.test_writeback import connection, person, read, synced_account

__all__ = ["connection", "person"]  # the fixtures shared with test_writeback


def test_revert_asks_first_shows_what_changes_and_writes_it_back(
    connection: SalesforceConnection, sfsim: Any, person: Actor, admin_client: Client, org: Organization
) -> None:
    sf_id, account = synced_account(connection, sfsim, Phone="111")
    record_update(record=account, values={"phone": "999"}, actor=person)
    drain(connection, "Account")
    batch = WritebackBatch.objects.get()
    url = reverse("writeback_undo", args=[org.slug])
    health = admin_client.get(reverse("sync_health", args=[org.slug])).content.decode()
    assert f'href="{url}?batch={batch.pk}"' in health  # a link to the confirmation, not an immediate POST
    page = admin_client.get(url, {"batch": batch.pk}).content.decode()
    plan = page.split('data-testid="revert-plan"', 1)[1].split("</table>", 1)[0]
    assert "Initech" in plan and "Phone" in plan and "999" in plan and "111" in plan
    assert Account.objects.get(pk=account.pk).phone == "999"  # nothing changed by looking
    response = admin_client.post(url, {"batch": batch.pk, "confirm": "on"}, follow=True)
    assert "Reverted in Rox: 1 record(s)" in response.content.decode()
    assert Account.objects.get(pk=account.pk).phone == "111"
    drain(connection, "Account")
    assert read(sfsim, "Account", sf_id)["Phone"] == "111"


def test_nothing_to_revert_is_said_and_not_marked_reverted(
    connection: SalesforceConnection, sfsim: Any, person: Actor, admin_client: Client, org: Organization
) -> None:
    _, account = synced_account(connection, sfsim, Phone="111")
    record_update(record=account, values={"phone": "999"}, actor=person)
    drain(connection, "Account")
    record_update(record=Account.objects.get(pk=account.pk), values={"phone": "111"}, actor=person)  # by hand
    batch = WritebackBatch.objects.order_by("created_at").first()
    url = reverse("writeback_undo", args=[org.slug])
    assert "Nothing to revert" in admin_client.get(url, {"batch": batch.pk}).content.decode()
    response = admin_client.post(url, {"batch": batch.pk, "confirm": "on"}, follow=True)
    assert "Nothing to revert: the records hold those values already." in response.content.decode()
    batch.refresh_from_db()
    assert batch.reverted_at is None
