"""`manage.py salesforce connect|preflight|status|disconnect` for automation."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from integrations.models import SalesforceConnection
from roxcrm.models import Organization


def run(*args: str) -> str:
    out = StringIO()
    call_command("salesforce", *args, stdout=out)
    return out.getvalue()


def connect_command(org: Organization, sfsim: Any, *extra: str) -> str:
    """`salesforce connect` with sfsim's client credentials."""
    return run(
        "connect",
        "--org",
        org.slug,
        "--login-url",
        sfsim.login_url,
        "--client-id",
        sfsim.client_id,
        "--client-secret",
        sfsim.client_secret,
        *extra,
    )


def test_connect_headlessly_check_status_and_disconnect(org: Organization, ready_org: Any) -> None:
    out = run(
        "connect",
        "--org",
        org.slug,
        "--login-url",
        ready_org.login_url,
        "--client-id",
        ready_org.client_id,
        "--client-secret",
        ready_org.client_secret,
        "--submit",
    )
    assert f"as {ready_org.username}" in out and "Set-up submitted: Connected." in out
    connection = SalesforceConnection.objects.get(organization=org)
    assert connection.grant == "client_credentials" and connection.client_secret == ready_org.client_secret
    assert "PASS  Salesforce edition supports the API" in run("preflight", "--org", org.slug)
    status = json.loads(run("status", "--org", org.slug, "--json"))
    assert status["status"] == "Connected" and status["integration_user"] == ready_org.username
    assert "Disconnected Acme. Salesforce revoked the tokens." in run("disconnect", "--org", org.slug)
    assert json.loads(run("status", "--org", org.slug, "--json"))["status"] == "Not connected"


def test_preflight_exits_1_when_a_check_fails(org: Organization, ready_org: Any) -> None:
    connect_command(org, ready_org)
    ready_org.reset(seed="empty", scenario="fresh")
    with pytest.raises(SystemExit) as exit_info:
        run("preflight", "--org", org.slug)
    assert exit_info.value.code == 1


def test_client_credentials_session_renews_itself(org: Organization, ready_org: Any) -> None:
    from integrations.salesforce.client import SalesforceClient

    connect_command(org, ready_org)
    ready_org.control("POST", "sessions/expire")
    connection = SalesforceConnection.objects.get(organization=org)
    assert SalesforceClient(connection).query("SELECT COUNT() FROM Account")["totalSize"] == 300


def test_a_client_credentials_connection_whose_user_is_deactivated_needs_action(
    org: Organization, ready_org: Any
) -> None:
    """Salesforce refuses the grant (the run-as user was deactivated): Action Required with the reason, not a
    connection that still says Connected while nothing syncs."""
    from integrations.salesforce.client import AUTH_REFUSED_REASON, SalesforceClient
    from integrations.salesforce.errors import AuthRevokedError

    run(
        "connect", "--org", org.slug, "--login-url", ready_org.login_url, "--client-id", ready_org.client_id,
        "--client-secret", ready_org.client_secret, "--submit",
    )  # fmt: skip
    connection = SalesforceConnection.objects.get(organization=org)
    assert connection.status == SalesforceConnection.Status.CONNECTED
    ready_org.control("POST", f"users/{ready_org.username}/deactivate")
    try:
        with pytest.raises(AuthRevokedError):
            SalesforceClient(connection).query("SELECT COUNT() FROM Account")
    finally:
        ready_org.control("POST", f"users/{ready_org.username}/activate")
    connection.refresh_from_db()
    assert connection.status == SalesforceConnection.Status.ACTION_REQUIRED
    assert connection.action_reason == AUTH_REFUSED_REASON


def test_bad_input_is_a_clear_error(org: Organization, ready_org: Any) -> None:
    with pytest.raises(CommandError, match="No organization with the slug “nope”"):
        run("status", "--org", "nope")
    with pytest.raises(CommandError, match="Salesforce refused the sign-in"):
        run(
            "connect",
            "--org",
            org.slug,
            "--login-url",
            ready_org.login_url,
            "--client-id",
            ready_org.client_id,
            "--client-secret",
            "wrong",
        )
    with pytest.raises(CommandError, match="is not connected"):
        run("preflight", "--org", org.slug)


def test_sync_works_right_after_a_connect(org: Organization, ready_org: Any) -> None:
    """Issue 17: `connect` (without --submit) then `sync` reads the objects; it used to answer "Nothing to sync: no
    enabled object with a known schema" because the default mappings were made only by the pages."""
    connect_command(org, ready_org)
    out = run("sync", "--org", org.slug, "--object", "Account")
    assert "Account" in out and "Nothing to sync" not in out
    from roxcrm.models import Account

    assert Account.objects.filter(organization=org).count() == 300  # the demo seed's accounts
    with pytest.raises(CommandError, match="Nothing to sync: Bogus__c is not synced"):
        run("sync", "--org", org.slug, "--object", "Bogus__c")
