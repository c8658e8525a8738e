"""Access tokens refresh once per expiry; a revoked refresh token asks for a reconnect; disconnect revokes."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from integrations.models import SalesforceConnection
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import AuthRevokedError
from roxcrm.models import Organization
from tests.integrations.conftest import connect, submit, token_works


def test_an_expired_session_is_refreshed_transparently(org: Organization, admin_client: Client, ready_org: Any) -> None:
    connection = connect(admin_client, org, ready_org)
    old_token = connection.access_token
    ready_org.control("POST", "sessions/expire")
    client = SalesforceClient(connection)
    assert client.query("SELECT COUNT() FROM Account")["totalSize"] == 300
    connection.refresh_from_db()
    assert connection.access_token != old_token
    assert connection.token_generation == 2
    assert client.calls == 2  # the refused call and its retry


def test_a_worker_that_read_the_connection_before_a_refresh_is_not_stuck_when_the_new_token_expires(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    """Found by the model-based test: a long run (or a worker) holding the connection from before another worker's
    refresh took that worker's token when its own was refused, even when that token had expired too; it then failed
    every call with "keeps refusing fresh access tokens", for good."""
    connection = connect(admin_client, org, ready_org)
    long_running = SalesforceConnection.objects.get(pk=connection.pk)  # read before the refresh below
    ready_org.control("POST", "sessions/expire")
    assert SalesforceClient(connection).query("SELECT COUNT() FROM Account")["totalSize"] == 300  # refreshed
    ready_org.control("POST", "sessions/expire")  # and that new token expires in turn
    assert SalesforceClient(long_running).query("SELECT COUNT() FROM Account")["totalSize"] == 300


@pytest.mark.django_db(transaction=True)
def test_two_workers_hitting_an_expired_session_refresh_it_once(sfsim: Any, caplog: pytest.LogCaptureFixture) -> None:
    from roxcrm.models import User
    from roxcrm.services import organization_create

    sfsim.reset(seed="demo", scenario="ready")
    admin = User.objects.create_user(email="concurrent@acme.example", password="x" * 20)
    org = organization_create(name="Concurrent", slug="concurrent", user=admin)
    client = Client()
    client.force_login(admin)
    connection = connect(client, org, sfsim)
    sfsim.control("POST", "sessions/expire")
    caplog.set_level(logging.INFO, logger="integrations.salesforce.client")
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            own = SalesforceConnection.objects.get(pk=connection.pk)
            barrier.wait()
            results.append(SalesforceClient(own).query("SELECT COUNT() FROM Contact")["totalSize"])
        except Exception as exc:
            results.append(exc)
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [740] * 4
    refreshes = [r for r in caplog.records if r.getMessage().startswith("Refreshed the Salesforce access token")]
    assert len(refreshes) == 1
    assert SalesforceConnection.objects.get(pk=connection.pk).token_generation == 2


def test_a_revoked_refresh_token_puts_the_connection_in_action_required(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    connection = connect(admin_client, org, ready_org)
    submit(admin_client, org)
    ready_org.control("POST", "tokens/revoke", {"kind": "all"})
    with pytest.raises(AuthRevokedError):
        SalesforceClient(SalesforceConnection.objects.get(pk=connection.pk)).query("SELECT Id FROM Account LIMIT 1")
    connection.refresh_from_db()
    assert connection.status == SalesforceConnection.Status.ACTION_REQUIRED
    page = admin_client.get(reverse("integrations", args=[org.slug])).content.decode()
    assert "Action Required" in page and "Reconnect to resume; nothing waiting is lost." in page
    overview = admin_client.get(reverse("salesforce_overview", args=[org.slug])).content.decode()
    assert 'data-testid="reconnect"' in overview
    # Reconnecting signs in again and clears the problem.
    connect(admin_client, org, ready_org)
    connection.refresh_from_db()
    assert connection.status == SalesforceConnection.Status.CONNECTED
    assert SalesforceClient(connection).query("SELECT COUNT() FROM Lead")["totalSize"] == 200


def test_disconnect_revokes_the_tokens_and_keeps_the_data(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    connection = connect(admin_client, org, ready_org)
    access = connection.access_token
    response = admin_client.post(reverse("salesforce_disconnect", args=[org.slug]), follow=True)
    assert "Salesforce is disconnected. Your data and mappings are kept." in response.content.decode()
    connection.refresh_from_db()
    assert connection.status == SalesforceConnection.Status.DISCONNECTED
    assert not connection.access_token and not connection.refresh_token
    assert connection.sf_org_id  # remembered, so a reconnect to another org is caught
    assert not token_works(ready_org, access)
    assert ">Connect</a>" in admin_client.get(reverse("integrations", args=[org.slug])).content.decode()
