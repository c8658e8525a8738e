"""Settings → API tokens: admins create tokens (the secret shown once, stored hashed), see their use, revoke them."""

from __future__ import annotations

import hashlib
import re

from django.db import connection
from django.test import Client
from django.urls import reverse

from api.models import ApiToken
from roxcrm.models import Organization, User
from tests.api.conftest import ApiClient, make_token


def tokens_url(org: Organization) -> str:
    return reverse("api_tokens", args=[org.slug])


SECRET_RE = re.compile(r"rox_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def create(client: Client, org: Organization, **data: str) -> str:
    response = client.post(tokens_url(org), {"name": "Dialer", "kind": "user", "scope": "read_write", **data})
    assert response.status_code == 200
    return response.content.decode()


def secret_on(page: str) -> str:
    [secret] = set(SECRET_RE.findall(page))
    return secret


def test_admin_creates_a_token_and_sees_its_secret_once(admin_client: Client, org: Organization) -> None:
    page = create(admin_client, org)
    secret = secret_on(page)
    assert "not shown again" in page

    token = ApiToken.objects.get(organization=org)
    assert (token.name, token.kind, token.scope) == ("Dialer", "user", "read_write")
    assert token.created_by.email == "ada@acme.example"
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()

    again = admin_client.get(tokens_url(org)).content.decode()
    assert secret not in again
    assert "Dialer" in again and token.display_prefix in again
    assert ApiClient(secret).get("accounts").status_code == 200


def test_the_database_holds_no_plaintext_secret(admin_client: Client, org: Organization) -> None:
    secret = secret_on(create(admin_client, org))
    body = secret.split("_", 2)[2]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_apitoken")
        rows = cursor.fetchall()
        cursor.execute("SELECT session_data FROM django_session")
        sessions = cursor.fetchall()
    dumped = repr(rows) + repr(sessions)
    assert rows and body not in dumped and secret not in dumped


def test_token_page_shows_last_use_and_revoked_tokens(
    admin_client: Client, org: Organization, admin_user: User
) -> None:
    token, secret = make_token(org, admin_user, name="Calendar sync")
    assert "never" in admin_client.get(tokens_url(org)).content.decode()
    ApiClient(secret).get("accounts")
    token.refresh_from_db()
    assert token.last_used_at is not None

    response = admin_client.post(reverse("api_token_revoke", args=[org.slug, token.code]), follow=True)
    assert "was revoked" in response.content.decode()
    assert "revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiClient(secret).get("accounts").status_code == 401


def test_invalid_form_creates_nothing(admin_client: Client, org: Organization) -> None:
    page = create(admin_client, org, name="", scope="everything")
    assert "This field is required" in page
    assert not ApiToken.objects.exists()


def test_member_cannot_open_or_use_the_tokens_page(member_client: Client, org: Organization, admin_user: User) -> None:
    token, _ = make_token(org, admin_user)
    assert member_client.get(tokens_url(org)).status_code == 403
    assert member_client.post(tokens_url(org), {"name": "x", "kind": "user", "scope": "read"}).status_code == 403
    assert member_client.post(reverse("api_token_revoke", args=[org.slug, token.code])).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    assert ApiToken.objects.count() == 1
    assert "API tokens" not in member_client.get(reverse("settings_members", args=[org.slug])).content.decode()


def test_outsider_gets_404_and_anonymous_visitors_sign_in(
    outsider_client: Client, org: Organization, admin_user: User
) -> None:
    token, _ = make_token(org, admin_user)
    revoke_url = reverse("api_token_revoke", args=[org.slug, token.code])
    assert outsider_client.get(tokens_url(org)).status_code == 404
    assert outsider_client.post(revoke_url).status_code == 404
    response = Client().get(tokens_url(org))
    assert response.status_code == 302 and "/auth/login/" in response["Location"]


def test_admin_cannot_revoke_another_organizations_token(
    admin_client: Client, org: Organization, other_org: Organization, outsider: User
) -> None:
    token, _ = make_token(other_org, outsider)
    assert admin_client.post(reverse("api_token_revoke", args=[org.slug, token.code])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_settings_link_to_the_tokens_page_and_the_api_documentation(admin_client: Client, org: Organization) -> None:
    members_page = admin_client.get(reverse("settings_members", args=[org.slug])).content.decode()
    assert tokens_url(org) in members_page
    tokens_page = admin_client.get(tokens_url(org)).content.decode()
    assert "/api/v1/docs" in tokens_page
    docs = Client().get("/api/v1/docs")
    assert docs.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in docs.content.decode()
    assert "cdn" not in docs.content.decode().lower()
