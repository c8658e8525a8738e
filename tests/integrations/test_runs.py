"""Every engine job's run is recorded the same way (``integrations/engine/runs.py``): it ends succeeded, paused or
failed with the reason, never "running" for good, and counts its API calls. Sync health shows what it recorded."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from integrations import services
from integrations.engine.drain import drain
from integrations.engine.formula import refresh_formulas
from integrations.engine.reconcile import reconcile
from integrations.engine.runner import sync_object
from integrations.models import OutboxEntry, SalesforceConnection, SyncRun
from roxcrm.models import Account, Organization, User
from roxcrm.services import Actor, record_update
from tests.integrations.test_writeback import connection, create, map_account_industry, read

__all__ = ["connection"]  # the fixture shared with test_writeback

NOT_SIGNED_IN = "sign in to Salesforce first"


def signed_out(connection: SalesforceConnection) -> SalesforceConnection:
    """The tokens are gone (the login URL changed, or an admin discarded them): every job must say so."""
    services.tokens_discard(connection=connection)
    connection.save()
    return SalesforceConnection.objects.get(pk=connection.pk)


def test_jobs_that_cannot_sign_in_end_failed_with_the_reason(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Client
) -> None:
    """A reconciliation and a formula refresh used to leave their run "running" for good when Salesforce could not
    be reached at all (the client was opened before the run's error handling): Sync health said running forever."""
    map_account_industry(org)
    create(sfsim, "Opportunity", Name="Deal", StageName="Prospecting", CloseDate="2026-12-31")
    sync_object(connection, "Opportunity")
    connection = signed_out(connection)
    runs = [
        reconcile(connection, "Account"),
        refresh_formulas(connection, "Opportunity"),
        sync_object(connection, "Account").run,
    ]
    for run in runs:
        assert run is not None
        run.refresh_from_db()
        assert run.outcome == SyncRun.Outcome.FAILED, run
        assert NOT_SIGNED_IN in run.error
        assert run.finished_at is not None and run.api_calls == 0
    assert not SyncRun.objects.filter(outcome=SyncRun.Outcome.RUNNING).exists()
    page = admin_client.get(reverse("sync_health", args=[org.slug])).content.decode()
    assert NOT_SIGNED_IN in page


def test_a_drain_that_cannot_sign_in_keeps_its_rows_waiting(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_user: User
) -> None:
    sf_id = create(sfsim, "Account", Name="Waiting Co")
    sync_object(connection, "Account")
    account = Account.objects.get(name="Waiting Co")
    record_update(record=account, values={"industry": "Retail"}, actor=Actor.person(admin_user))
    connection = signed_out(connection)
    result = drain(connection, "Account")
    assert result.run is not None and result.run.outcome == SyncRun.Outcome.FAILED
    assert NOT_SIGNED_IN in result.run.error
    entry = OutboxEntry.objects.get(record_id=account.pk)
    assert entry.state == OutboxEntry.State.PENDING and NOT_SIGNED_IN in entry.error_message
    assert read(sfsim, "Account", sf_id)["Industry"] != "Retail"


def test_a_drain_counts_every_call_it_made_its_read_first_included(
    connection: SalesforceConnection, sfsim: Any, admin_user: User
) -> None:
    create(sfsim, "Account", Name="Counted Co")
    sync_object(connection, "Account")
    account = Account.objects.get(name="Counted Co")
    record_update(record=account, values={"industry": "Retail"}, actor=Actor.person(admin_user))
    before = sfsim.control("GET", "stats")["api_calls"]
    result = drain(connection, "Account")
    made = sfsim.control("GET", "stats")["api_calls"] - before
    assert result.run is not None and result.written == 1
    run = SyncRun.objects.get(pk=result.run.pk)
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.counts["written"] == 1
    assert run.api_calls == made >= 2  # the read of Salesforce's changes first, then the write


def test_a_run_that_could_not_build_its_client_shows_why_on_sync_health(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Client, settings: Any
) -> None:
    """`manage.py salesforce sync` with Salesforce's host taken off the allow-list: Rox cannot even build its client
    (HOST_NOT_ALLOWED), so no record fails and the run is the only trace. Sync health showed it as "Failed" with no
    reason in its recent runs, and Errors said "No open errors"; both now say why, until a later run works."""
    from django.core.management import call_command

    settings.SALESFORCE_ALLOWED_HOSTS = []
    with pytest.raises(SystemExit):
        call_command("salesforce", "sync", "--org", org.slug, "--object", "Account", stdout=StringIO())
    run = SyncRun.objects.get(kind=SyncRun.Kind.INBOUND, sobject="Account")
    assert run.outcome == SyncRun.Outcome.FAILED and run.error.startswith("HOST_NOT_ALLOWED: The instance URL")
    assert "SALESFORCE_ALLOWED_HOSTS" in run.error
    url = reverse("sync_health", args=[org.slug])
    page = admin_client.get(url).content.decode()
    errors = page[page.index('id="errors"') : page.index("Conflicts")]
    assert "No open errors" not in errors
    assert "Sync from Salesforce of" in errors and "Account" in errors and "HOST_NOT_ALLOWED" in errors
    recent = page[page.index("Recent runs") :]
    assert "Failed" in recent and "HOST_NOT_ALLOWED: The instance URL" in recent
    # Allowed again: the next run works, and the failure leaves Errors (the run stays listed with its reason).
    settings.SALESFORCE_ALLOWED_HOSTS = sfsim.allowed_hosts.split(",")
    assert sync_object(connection, "Account").run.outcome == SyncRun.Outcome.SUCCEEDED  # type: ignore[union-attr]
    page = admin_client.get(url).content.decode()
    assert "No open errors" in page[page.index('id="errors"') : page.index("Conflicts")]
