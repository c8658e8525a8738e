"""A token acts for the person who created it: it stops working the moment they leave the organization or are
deactivated, the tokens page says which tokens died with whom, and an admin re-issues them."""

from __future__ import annotations

import html
import re

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api.models import ApiToken
from api.services import token_authenticate
from roxcrm.models import Membership, Organization, User
from tests.api.conftest import ApiClient, make_token
from tests.factories import make_account

SECRET_RE = re.compile(r"rox_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def tokens_url(org: Organization) -> str:
    return reverse("api_tokens", args=[org.slug])


def reissue_url(org: Organization, token: ApiToken) -> str:
    return reverse("api_token_reissue", args=[org.slug, token.code])


def mels_token(org: Organization, member_user: User) -> tuple[ApiToken, str]:
    """A read-and-write agent token that Mel created while she was an Organization Admin."""
    Membership.objects.filter(user=member_user).update(role=Membership.Role.ADMIN)
    return make_token(org, member_user, name="Mel's dialer", kind=ApiToken.Kind.AGENT)


def test_a_token_stops_working_when_its_creator_leaves_the_organization(
    org: Organization, admin_client: Client, member_user: User
) -> None:
    account = make_account(org)
    _, secret = mels_token(org, member_user)
    api = ApiClient(secret)
    assert api.get("accounts").status_code == 200

    admin_client.post(reverse("member_remove", args=[org.slug, member_user.pk]))

    for response in (api.get("accounts"), api.patch(f"accounts/{account.code}", {"name": "Hooli"})):
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"
    account.refresh_from_db()
    assert account.name == "Initech"


def test_a_token_stops_working_when_its_creator_is_deactivated(org: Organization, member_user: User) -> None:
    _, secret = mels_token(org, member_user)
    assert ApiClient(secret).get("accounts").status_code == 200
    member_user.is_active = False
    member_user.save(update_fields=["is_active"])
    assert ApiClient(secret).get("accounts").status_code == 401
    assert ApiClient(secret).post("accounts", {"name": "Hooli"}).status_code == 401


def test_a_token_whose_creator_was_deleted_stops_working(org: Organization, member_user: User) -> None:
    _, secret = mels_token(org, member_user)
    member_user.delete()
    assert ApiClient(secret).get("accounts").status_code == 401


def test_checking_a_token_and_its_creator_is_one_query(org: Organization, admin_user: User) -> None:
    _, secret = make_token(org, admin_user)
    with CaptureQueriesContext(connection) as queries:
        token = token_authenticate(secret=secret)
        # What the request then reads of the token and its creator comes with that one query.
        assert (token.organization.slug, token.created_by.email) == ("acme", "ada@acme.example")
    assert len(queries) == 1


def test_the_tokens_page_says_which_tokens_died_with_whom(
    org: Organization, admin_client: Client, admin_user: User, member_user: User
) -> None:
    mels_token(org, member_user)
    olly = User.objects.create_user(email="olly@acme.example", full_name="Olly Ops")
    Membership.objects.create(organization=org, user=olly, role=Membership.Role.ADMIN)
    make_token(org, olly, name="Olly's script")
    make_token(org, admin_user, name="Ada's calendar")

    admin_client.post(reverse("member_remove", args=[org.slug, member_user.pk]))
    olly.is_active = False
    olly.save(update_fields=["is_active"])

    page = admin_client.get(tokens_url(org)).content.decode()
    assert "Stopped working: Mel Member left the organization" in page
    assert "Stopped working: Olly Ops was deactivated" in page
    assert page.count("Stopped working") == 2
    assert page.count(">Re-issue</button>") == 2


def test_an_admin_reissues_a_dead_token(
    org: Organization, admin_client: Client, admin_user: User, member_user: User
) -> None:
    dead, old_secret = mels_token(org, member_user)
    admin_client.post(reverse("member_remove", args=[org.slug, member_user.pk]))

    response = admin_client.post(reissue_url(org, dead))
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "“Mel's dialer” was re-issued" in page and "not shown again" in page
    [new_secret] = set(SECRET_RE.findall(page))

    dead.refresh_from_db()
    assert dead.revoked_at is not None
    new = ApiToken.objects.get(organization=org, revoked_at=None)
    assert (new.name, new.kind, new.scope, new.created_by) == (dead.name, dead.kind, dead.scope, admin_user)
    assert ApiClient(new_secret).post("accounts", {"name": "Hooli"}).status_code == 201
    assert ApiClient(old_secret).get("accounts").status_code == 401

    again = admin_client.get(tokens_url(org)).content.decode()
    assert new_secret not in again and "Stopped working" not in again


def test_a_token_that_works_or_was_revoked_is_not_reissued(
    org: Organization, admin_client: Client, admin_user: User, member_user: User
) -> None:
    working, _ = make_token(org, admin_user)
    response = admin_client.post(reissue_url(org, working), follow=True)
    assert "still works" in response.content.decode()

    dead, _ = mels_token(org, member_user)
    admin_client.post(reverse("member_remove", args=[org.slug, member_user.pk]))
    admin_client.post(reissue_url(org, dead))
    response = admin_client.post(reissue_url(org, dead), follow=True)  # a second click, or the page reloaded
    assert "was already revoked" in response.content.decode()
    assert ApiToken.objects.filter(organization=org).count() == 3
    assert not SECRET_RE.search(response.content.decode())


def test_only_an_admin_of_the_organization_reissues(
    org: Organization, member_client: Client, outsider_client: Client, admin_user: User
) -> None:
    olly = User.objects.create_user(email="olly@acme.example", full_name="Olly Ops")
    Membership.objects.create(organization=org, user=olly, role=Membership.Role.ADMIN)
    dead, _ = make_token(org, olly)
    olly.is_active = False
    olly.save(update_fields=["is_active"])
    assert member_client.post(reissue_url(org, dead)).status_code == 403
    assert outsider_client.post(reissue_url(org, dead)).status_code == 404
    assert Client().post(reissue_url(org, dead)).status_code == 302
    assert ApiToken.objects.filter(organization=org).count() == 1
    dead.refresh_from_db()
    assert dead.revoked_at is None
