"""Fixtures for tests that talk to the simulated Salesforce org (one sfsim per test session, over HTTPS)."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from integrations.models import SalesforceConnection
from roxcrm.models import Organization

HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture(autouse=True)
def _salesforce(salesforce_settings: Any) -> Any:
    """Every test here runs with Rox configured for sfsim."""
    return salesforce_settings


@pytest.fixture
def ready_org(sfsim: Any) -> Any:
    """sfsim reset to the `ready` scenario with the demo data."""
    sfsim.reset(seed="demo", scenario="ready")
    return sfsim


def authorize(sfsim: Any, authorize_url: str, *, username: str, password: str, action: str = "Allow") -> str:
    """Play the admin in a browser on sfsim's login and consent page; returns where Salesforce redirects."""
    browser = sfsim.session()
    page = browser.get(authorize_url, timeout=30)
    assert page.status_code == 200, page.text
    form = {name: html.unescape(value) for name, value in HIDDEN_INPUT.findall(page.text)}
    form.update({"username": username, "password": password, "action": action})
    answer = browser.post(f"{sfsim.login_url}/services/oauth2/authorize", data=form, allow_redirects=False, timeout=30)
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["Location"]


def start_wizard(client: Client, org: Organization, sfsim: Any, **extra: Any) -> str:
    """Steps 1 and 2: describe the connection and click Sign in; returns the authorize URL Rox redirects to."""
    response = client.post(
        reverse("salesforce_setup_start", args=[org.slug]),
        {
            "environment": "custom",
            "login_url": sfsim.login_url,
            "expected_edition": "Enterprise Edition",
            "expected_username": sfsim.username,
            "confirm_user": "on",
            **extra,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    response = client.post(reverse("salesforce_setup_sign_in", args=[org.slug]))
    assert response.status_code == 302
    return response["Location"]


def callback_path(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def connect(client: Client, org: Organization, sfsim: Any, **extra: Any) -> SalesforceConnection:
    """The wizard from step 1 through sign-in and consent to the prerequisite checks."""
    location = authorize(
        sfsim, start_wizard(client, org, sfsim, **extra), username=sfsim.username, password=sfsim.password
    )
    response = client.get(callback_path(location))
    assert response.status_code == 302, response.content.decode()[:2000]
    return SalesforceConnection.objects.get(organization=org)


def submit(client: Client, org: Organization, *, follow: bool = False) -> Any:
    """The last wizard steps: confirm the basic field mappings as prefilled, then Submit."""
    response = client.post(reverse("salesforce_setup_mappings", args=[org.slug]))
    assert response.status_code == 302, response.content.decode()[:3000]
    return client.post(reverse("salesforce_setup_submit", args=[org.slug]), follow=follow)


def token_works(sfsim: Any, access_token: str) -> bool:
    """Whether Salesforce (sfsim) still accepts an access token."""
    answer = requests.get(
        f"{sfsim.instance_url}/services/data/v59.0/limits/",
        headers={"Authorization": f"Bearer {access_token}"},
        verify=sfsim.ca_path,
        timeout=30,
    )
    return answer.status_code != 401
