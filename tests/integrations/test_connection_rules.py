"""One connection per organization and one organization per Salesforce org, unless the admins agree."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from integrations.models import SalesforceConnection
from roxcrm.models import Organization
from tests.integrations.conftest import authorize, callback_path, connect, start_wizard


def sign_in(client: Client, org: Organization, sfsim: Any, **extra: Any) -> str:
    location = authorize(
        sfsim, start_wizard(client, org, sfsim, **extra), username=sfsim.username, password=sfsim.password
    )
    return client.get(callback_path(location), follow=True).content.decode()


def test_reconnecting_to_a_different_org_is_refused_unless_confirmed(
    org: Organization, admin_client: Client, ready_org: Any
) -> None:
    connection = connect(admin_client, org, ready_org)
    real_org_id = connection.sf_org_id
    # As if this organization had been connected to another Salesforce org before.
    SalesforceConnection.objects.filter(pk=connection.pk).update(sf_org_id="00D000000000001AAA")
    page = sign_in(admin_client, org, ready_org)
    assert "You signed in to a different Salesforce org" in page
    assert "Records linked to one org must never be written to another" in page
    connection.refresh_from_db()
    assert connection.sf_org_id == "00D000000000001AAA"
    page = sign_in(admin_client, org, ready_org, allow_org_change="on")
    connection.refresh_from_db()
    assert connection.sf_org_id == real_org_id
    assert connection.status == SalesforceConnection.Status.SETUP  # a new org means a new set-up


def test_a_second_organization_needs_both_admins_to_share_a_salesforce_org(
    org: Organization, admin_client: Client, other_org: Organization, outsider_client: Client, ready_org: Any
) -> None:
    connect(admin_client, org, ready_org)
    page = sign_in(outsider_client, other_org, ready_org, allow_shared_org="on")
    assert "already connected to the Rox organization “Acme”" in page
    assert not SalesforceConnection.objects.get(organization=other_org).access_token
    # The first organization's admin agrees too.
    sign_in(admin_client, org, ready_org, allow_shared_org="on")
    sign_in(outsider_client, other_org, ready_org, allow_shared_org="on")
    assert SalesforceConnection.objects.get(organization=other_org).access_token


def test_one_connection_per_organization(org: Organization, admin_client: Client, ready_org: Any) -> None:
    connect(admin_client, org, ready_org)
    connect(admin_client, org, ready_org)
    assert SalesforceConnection.objects.filter(organization=org).count() == 1
    assert admin_client.get(reverse("salesforce_overview", args=[org.slug])).status_code == 200
