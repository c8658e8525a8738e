"""Every change the sync engine makes to a record moves its version and ``updated_at`` under the row lock: a late
parent link, a merge, a formula refresh, a deletion or restoration seen from Salesforce. A form opened before such a
change and saved after it is refused as stale (it would undo it), and ``updated_since`` shows the change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.test import Client

from integrations.engine.formula import refresh_formulas
from integrations.engine.runner import sync_object
from integrations.models import OutboxEntry, SalesforceConnection, SalesforceLink
from roxcrm.models import Account, Contact, FieldChange, Opportunity, Organization, User
from tests.api.conftest import ApiClient, make_token
from tests.integrations.test_writeback import connection, create, map_account_industry, read

__all__ = ["connection"]  # the fixture shared with test_writeback

STALE = "while you were editing it"


def rox(model: Any, sf_id: str) -> Any:
    return model.objects.get(pk=SalesforceLink.objects.get(sf_id=sf_id).record_id)


def test_a_form_opened_before_a_late_parent_link_cannot_blank_it(
    connection: SalesforceConnection, sfsim: Any, admin_client: Client
) -> None:
    account_id = create(sfsim, "Account", Name="Parent Co")
    contact_id = create(sfsim, "Contact", LastName="Early", AccountId=account_id)
    sync_object(connection, "Contact")  # the contact arrives before its account: its link waits
    contact = rox(Contact, contact_id)
    assert contact.account_id is None
    opened = admin_client.get(f"{contact.get_absolute_url()}edit/")  # a person opens the form now
    assert opened.status_code == 200
    sync_object(connection, "Account")  # the account arrives: the contact is linked to it
    linked = Contact.objects.get(pk=contact.pk)
    assert linked.account is not None and linked.version > contact.version
    history = FieldChange.objects.filter(object_type="contact", record_id=contact.pk, field="account")
    assert history.get().actor_label == "Salesforce sync"
    response = admin_client.post(
        f"{contact.get_absolute_url()}edit/",
        {"last_name": "Early", "account": "", "version": contact.version},
        follow=True,
    )
    assert STALE in response.content.decode()
    assert Contact.objects.get(pk=contact.pk).account_id == linked.account_id
    assert not OutboxEntry.objects.exists()
    assert read(sfsim, "Contact", contact_id)["AccountId"] == account_id


def test_a_deletion_and_a_restore_seen_from_salesforce_show_in_updated_since(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    sf_id = create(sfsim, "Account", Name="Doomed Ltd")
    sync_object(connection, "Account")
    account = rox(Account, sf_id)
    since = dt.datetime.now(dt.UTC).isoformat()
    api = ApiClient(make_token(org, admin_user)[1])
    assert api.get("accounts", updated_since=since, include_removed="true").json()["data"] == []
    sfsim.control("DELETE", f"records/Account/{sf_id}")
    sync_object(connection, "Account")
    removed = Account.objects.get(pk=account.pk)
    assert removed.removed_at is not None and removed.version == account.version + 1
    listed = api.get("accounts", updated_since=since, include_removed="true").json()["data"]
    assert [(a["name"], a["removed_reason"]) for a in listed] == [("Doomed Ltd", "Deleted in Salesforce")]
    history = FieldChange.objects.get(object_type="account", record_id=account.pk, field="removed_at")
    assert history.actor_label == "Deleted in Salesforce"


def test_a_formula_refresh_moves_the_version_under_the_row_lock(
    connection: SalesforceConnection, sfsim: Any, org: Organization
) -> None:
    map_account_industry(org)
    account_id = create(sfsim, "Account", Name="Formula Co", Industry="Banking")
    deal_id = create(
        sfsim, "Opportunity", Name="Deal", StageName="Prospecting", CloseDate="2027-01-31", AccountId=account_id
    )
    sync_object(connection, "Opportunity")
    deal = rox(Opportunity, deal_id)
    # The formula's input changes on the parent: the opportunity's SystemModstamp does not move.
    sfsim.control("PATCH", f"records/Account/{account_id}", {"fields": {"Industry": "Energy"}})
    assert refresh_formulas(connection, "Opportunity").counts == {"updated": 1}
    refreshed = Opportunity.objects.get(pk=deal.pk)
    assert refreshed.custom_values == {"account_industry": "Energy"}
    assert refreshed.version == deal.version + 1 and refreshed.updated_at > deal.updated_at


def test_a_merge_seen_from_salesforce_moves_the_children_it_repoints(
    connection: SalesforceConnection, sfsim: Any
) -> None:
    survivor_id = create(sfsim, "Account", Name="Survivor Inc")
    loser_id = create(sfsim, "Account", Name="Loser Inc")
    contact_id = create(sfsim, "Contact", LastName="Moved", AccountId=loser_id)
    sync_object(connection, "Account")
    sync_object(connection, "Contact")
    contact = rox(Contact, contact_id)
    assert contact.account == rox(Account, loser_id)
    sfsim.control("POST", "merge", {"object": "Account", "master": survivor_id, "losers": [loser_id]})
    sync_object(connection, "Account")
    moved = Contact.objects.get(pk=contact.pk)
    assert moved.account == rox(Account, survivor_id) and moved.version > contact.version
    history = FieldChange.objects.get(object_type="contact", record_id=contact.pk, field="account")
    assert history.actor_label == "Salesforce merge of Account" and history.record_version == moved.version
