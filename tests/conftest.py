"""Shared fixtures: organizations with an admin, a member and an outsider, and clients signed in as each.

The simulated Salesforce org (one per test session) lives in tests/fixtures_sfsim.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from roxcrm.models import Membership, Organization, User
from roxcrm.services import organization_create

pytest_plugins = ["tests.fixtures_sfsim"]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_user(db: None) -> User:
    return User.objects.create_user(email="ada@acme.example", password=PASSWORD, full_name="Ada Admin")


@pytest.fixture
def org(admin_user: User) -> Organization:
    return organization_create(name="Acme", slug="acme", user=admin_user)


@pytest.fixture
def member_user(org: Organization) -> User:
    user = User.objects.create_user(email="mel@acme.example", password=PASSWORD, full_name="Mel Member")
    Membership.objects.create(organization=org, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def other_org(db: None) -> Organization:
    outsider = User.objects.create_user(email="olga@globex.example", password=PASSWORD)
    return organization_create(name="Globex", slug="globex", user=outsider)


@pytest.fixture
def outsider(other_org: Organization) -> User:
    return User.objects.get(email="olga@globex.example")


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    return _client_for(admin_user)


@pytest.fixture
def member_client(member_user: User) -> Client:
    return _client_for(member_user)


@pytest.fixture
def outsider_client(outsider: User) -> Client:
    return _client_for(outsider)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Password hashing is deliberately slow; the tests sign many people in and do not test its strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache: allauth counts sign-ups and sign-ins per address in it, and a test that
    posts many (the hostile URL walk) must not throttle the sign-up of the next test on the same worker."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True, scope="session")
def _django_q_sync_mode() -> Any:
    """Queued tasks run inline (django-q2's sync mode), so a test sees their effect without a worker process."""
    from django_q.conf import Conf

    before, Conf.SYNC = Conf.SYNC, True
    yield
    Conf.SYNC = before


@pytest.fixture
def salesforce_settings(settings: Any, sfsim: Any) -> Any:
    """Rox configured with sfsim's connected app, login URL and CA, as `make run` configures it."""
    from integrations.salesforce.http import ca_bundle

    settings.SALESFORCE_CLIENT_ID = sfsim.client_id
    settings.SALESFORCE_CLIENT_SECRET = sfsim.client_secret
    settings.SALESFORCE_LOGIN_URL = sfsim.login_url
    settings.SALESFORCE_CA_BUNDLE = sfsim.ca_path
    settings.SALESFORCE_ALLOWED_HOSTS = sfsim.allowed_hosts.split(",")
    settings.SALESFORCE_RETRY_SCALE = 0.01
    ca_bundle.cache_clear()
    yield settings
    ca_bundle.cache_clear()
