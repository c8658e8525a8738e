"""The admin's first hour: Integrations card, wizard steps, OAuth sign-in with state and PKCE, checks, Submit."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db
from django.test import Client
from django.urls import reverse

from integrations.models import SalesforceConnection, SyncRun
from roxcrm.models import Organization
from tests.integrations.conftest import authorize, callback_path, connect, start_wizard, submit


def card(client: Client, org: Organization) -> str:
    return client.get(reverse("integrations", args=[org.slug])).content.decode()


def test_the_whole_wizard_from_connect_to_connected(org: Organization, admin_client: Client, ready_org: Any) -> None:
    page = card(admin_client, org)
    assert ">Not connected<" in page and ">Connect</a>" in page
    authorize_url = start_wizard(admin_client, org, ready_org)
    query = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(f"{ready_org.login_url}/services/oauth2/authorize?")
    assert query["scope"] == ["api refresh_token id"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0]
    assert ">Set-up in progress<" in card(admin_client, org)

    location = authorize(ready_org, authorize_url, username=ready_org.username, password=ready_org.password)
    response = admin_client.get(callback_path(location), follow=True)
    assert response.redirect_chain[-1][0] == reverse("salesforce_setup_checks", args=[org.slug])
    page = response.content.decode()
    assert f"Signed in to Salesforce as {ready_org.username}." in page
    assert page.count('data-status="pass"') >= 20 and 'data-status="fail"' not in page

    connection = SalesforceConnection.objects.get(organization=org)
    assert connection.instance_url == ready_org.instance_url
    assert connection.sf_org_id.startswith("00D") and len(connection.sf_org_id) == 18
    assert connection.sf_user_id.startswith("005") and connection.sf_username == ready_org.username
    assert set(connection.scopes.split()) >= {"api", "refresh_token", "id"}
    assert connection.access_token and connection.refresh_token and connection.token_issued_at
    assert connection.sf_edition == "Enterprise Edition"

    response = submit(admin_client, org, follow=True)
    assert "Salesforce is connected." in response.content.decode()
    connection.refresh_from_db()
    assert connection.status == SalesforceConnection.Status.CONNECTED and connection.submitted_at
    page = card(admin_client, org)
    assert ">Connected<" in page and "No sync yet" in page


def test_each_wizard_step_has_its_own_url_and_shows_progress(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    start = reverse("salesforce_setup_start", args=[org.slug])
    page = admin_client.get(start).content.decode()
    assert 'aria-current="step"' in page and "Before you start" in page
    # Steps not reached yet send the admin back to where they are.
    assert admin_client.get(reverse("salesforce_setup_checks", args=[org.slug]))["Location"].endswith("/sign-in/")
    connect(admin_client, org, ready_org)
    submit_url = reverse("salesforce_setup_submit", args=[org.slug])
    assert admin_client.get(submit_url)["Location"].endswith("/setup/mappings/")  # mappings come first
    for name in (
        "salesforce_setup_start",
        "salesforce_setup_sign_in",
        "salesforce_setup_checks",
        "salesforce_setup_mappings",
    ):
        assert admin_client.get(reverse(name, args=[org.slug])).status_code == 200, name
    admin_client.post(reverse("salesforce_setup_mappings", args=[org.slug]))
    page = admin_client.get(submit_url).content.decode()
    assert page.count('class="reached"') == 6 and 'aria-current="step"' in page


def test_denied_consent_brings_the_admin_back_with_a_message(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    location = authorize(
        ready_org,
        start_wizard(admin_client, org, ready_org),
        username=ready_org.username,
        password=ready_org.password,
        action="Deny",
    )
    assert "error=access_denied" in location
    response = admin_client.get(callback_path(location), follow=True)
    assert response.redirect_chain[-1][0] == reverse("salesforce_setup_sign_in", args=[org.slug])
    assert "Salesforce sign-in was cancelled or denied" in response.content.decode()
    assert not SalesforceConnection.objects.get(organization=org).access_token


def test_tampered_state_is_refused(org: Organization, admin_client: Client, ready_org: Any) -> None:
    location = authorize(
        ready_org, start_wizard(admin_client, org, ready_org), username=ready_org.username, password=ready_org.password
    )
    tampered = callback_path(location).replace("state=", "state=x")
    response = admin_client.get(tampered, follow=True)
    assert "could not be matched to one you started" in response.content.decode()
    assert not SalesforceConnection.objects.get(organization=org).access_token


def test_replayed_state_is_refused(org: Organization, admin_client: Client, ready_org: Any) -> None:
    location = authorize(
        ready_org, start_wizard(admin_client, org, ready_org), username=ready_org.username, password=ready_org.password
    )
    assert admin_client.get(callback_path(location)).status_code == 302
    generation = SalesforceConnection.objects.get(organization=org).token_generation
    response = admin_client.get(callback_path(location), follow=True)
    assert "could not be matched to one you started (or it was already used)" in response.content.decode()
    assert SalesforceConnection.objects.get(organization=org).token_generation == generation


def test_a_callback_without_the_pkce_verifier_is_refused(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    location = authorize(
        ready_org, start_wizard(admin_client, org, ready_org), username=ready_org.username, password=ready_org.password
    )
    session = admin_client.session
    pending = session["salesforce_oauth"]
    pending.pop("verifier")
    session["salesforce_oauth"] = pending
    session.save()
    response = admin_client.get(callback_path(location), follow=True)
    assert "cannot be completed securely (its PKCE verifier is missing)" in response.content.decode()
    assert not SalesforceConnection.objects.get(organization=org).access_token


def test_salesforce_refuses_a_code_redeemed_without_its_verifier(ready_org: Any) -> None:
    """PKCE is enforced by Salesforce (sfsim) itself: the code alone is useless to someone who intercepts it."""
    from integrations.salesforce import oauth

    verifier = oauth.new_code_verifier()
    url = oauth.authorize_url(
        login_url=ready_org.login_url,
        client_id=ready_org.client_id,
        redirect_uri="https://rox.example/cb",
        state="s",
        verifier=verifier,
    )
    code = parse_qs(
        urlsplit(authorize(ready_org, url, username=ready_org.username, password=ready_org.password)).query
    )["code"][0]
    with pytest.raises(oauth.OAuthError, match="invalid_grant"):
        oauth.exchange_code(
            login_url=ready_org.login_url,
            client_id=ready_org.client_id,
            client_secret=ready_org.client_secret,
            redirect_uri="https://rox.example/cb",
            code=code,
            verifier="not-the-verifier",
        )


def test_tokens_are_encrypted_at_rest_and_never_logged(
    org: Organization, admin_client: Client, ready_org: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connection = connect(admin_client, org, ready_org)
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM integrations_salesforceconnection WHERE id = %s", [connection.pk]
        )
        stored_access, stored_refresh = cursor.fetchone()
    for secret, stored in ((connection.access_token, stored_access), (connection.refresh_token, stored_refresh)):
        assert secret and stored and secret not in stored and stored.startswith("gAAAA")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert connection.access_token not in logged and connection.refresh_token not in logged
    page = admin_client.get(reverse("salesforce_overview", args=[org.slug])).content.decode()
    assert connection.access_token not in page and connection.refresh_token not in page


def test_members_see_the_status_read_only_and_outsiders_nothing(
    org: Organization, admin_client: Client, member_client: Client, outsider_client: Client, ready_org: Any
) -> None:
    connect(admin_client, org, ready_org)
    page = card(member_client, org)
    assert "Set-up in progress" in page and "Only organization admins can change this." in page
    names = [
        "salesforce_overview",
        "salesforce_setup_start",
        "salesforce_setup_sign_in",
        "salesforce_setup_checks",
        "salesforce_setup_submit",
        "salesforce_disconnect",
    ]
    for name in names:
        url = reverse(name, args=[org.slug])
        assert member_client.get(url).status_code == 403, name
        assert outsider_client.get(url).status_code == 404, name
    assert member_client.post(reverse("salesforce_recheck", args=[org.slug])).status_code == 403
    assert outsider_client.get(reverse("integrations", args=[org.slug])).status_code == 404


def test_a_member_cannot_complete_an_admins_sign_in(
    org: Organization, admin_client: Client, member_client: Client, ready_org: Any
) -> None:
    """The callback trusts only the session that started the sign-in."""
    location = authorize(
        ready_org, start_wizard(admin_client, org, ready_org), username=ready_org.username, password=ready_org.password
    )
    response = member_client.get(callback_path(location), follow=True)
    assert "could not be matched" in response.content.decode()
    assert not SalesforceConnection.objects.get(organization=org).access_token


def test_submit_with_failing_checks_is_action_required_with_the_reason(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    ready_org.reset(seed="empty", scenario="short-activity-id")
    connect(admin_client, org, ready_org)
    submit(admin_client, org)
    page = card(admin_client, org)
    assert ">Action Required<" in page
    assert "RoxActivityId__c on Task: text, length 100" in page
    ready_org.reset(seed="empty", scenario="ready")
    response = admin_client.post(reverse("salesforce_recheck", args=[org.slug]), follow=True)
    assert "Every prerequisite is met." in response.content.decode()
    assert SalesforceConnection.objects.get(organization=org).status == SalesforceConnection.Status.CONNECTED
    assert SyncRun.objects.filter(kind="preflight").count() == 2


def test_continue_set_up_goes_on_from_where_the_admin_left(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    """Issue 17: Continue set-up reopened step 1 every time, even after the sign-in; it goes to the first step not
    done yet."""
    resume = reverse("salesforce_setup_resume", args=[org.slug])
    assert admin_client.get(resume)["Location"] == reverse("salesforce_setup_start", args=[org.slug])
    start_wizard(admin_client, org, ready_org)
    assert admin_client.get(resume)["Location"] == reverse("salesforce_setup_sign_in", args=[org.slug])
    assert f'href="{resume}"' in card(admin_client, org)  # the card's Continue set-up
    connect(admin_client, org, ready_org)
    assert admin_client.get(resume)["Location"] == reverse("salesforce_setup_first_sync", args=[org.slug])
    admin_client.post(reverse("salesforce_setup_first_sync", args=[org.slug]))
    assert admin_client.get(resume)["Location"] == reverse("salesforce_setup_mappings", args=[org.slug])
    admin_client.post(reverse("salesforce_setup_mappings", args=[org.slug]))
    assert admin_client.get(resume)["Location"] == reverse("salesforce_setup_submit", args=[org.slug])


def test_a_sign_in_as_another_user_or_edition_than_step_one_said_is_shown(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    connect(
        admin_client, org, ready_org, expected_username="integration@acme.example", expected_edition="Unlimited Edition"
    )
    page = admin_client.get(reverse("salesforce_setup_checks", args=[org.slug])).content.decode()
    shown = [part.split("</div>", 1)[0] for part in page.split('data-testid="step-one-mismatch">')[1:]]
    assert len(shown) == 2
    assert "you confirmed integration@acme.example as the integration user, but Rox is signed in as" in shown[0]
    assert "you chose Unlimited Edition; the org says it is Enterprise Edition" in shown[1]
