"""Closed sign-ups stay closed: an invitation signs up only the address it was sent to, and where creating
organizations is kept for staff (ORGANIZATION_CREATION=staff) nobody else can create one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from roxcrm.models import Invitation, Membership, Organization, User
from tests.conftest import PASSWORD


@pytest.fixture
def closed(settings: Any) -> Any:
    settings.ACCOUNT_ALLOW_SIGNUPS = False
    return settings


def sign_up(client: Client, email: str, **extra: str) -> Any:
    data = {"email": email, "password1": PASSWORD, "password2": PASSWORD, **extra}
    return client.post(reverse("account_signup"), data, follow=True)


def test_closed_sign_up_refuses_a_visitor_without_an_invitation(closed: Any, client: Client, db: None) -> None:
    assert "sign up is currently closed" in client.get(reverse("account_signup")).content.decode()
    sign_up(client, "mallory@evil.example")
    assert not User.objects.filter(email="mallory@evil.example").exists()


def test_an_invitation_signs_up_only_the_address_it_was_sent_to(
    closed: Any, org: Organization, admin_user: User, client: Client
) -> None:
    invitation = Invitation.objects.create(organization=org, email="new.person@acme.example", invited_by=admin_user)
    link = reverse("invitation_accept", args=[invitation.token])
    client.get(link)

    response = sign_up(client, "mallory@evil.example")
    assert response.status_code == 200
    assert (
        "This invitation is for new.person@acme.example: sign up with that address, or ask for an invitation "
        "to yours." in response.content.decode()
    )
    assert not User.objects.filter(email="mallory@evil.example").exists()

    sign_up(client, "New.Person@Acme.example", next=link)
    assert User.objects.filter(email="new.person@acme.example").exists()
    assert "Welcome to Acme." in client.post(link, follow=True).content.decode()
    assert Membership.objects.filter(organization=org, user__email="new.person@acme.example").exists()


def test_the_invitation_page_fills_in_the_invited_address_for_sign_up(
    closed: Any, org: Organization, admin_user: User, client: Client
) -> None:
    invitation = Invitation.objects.create(organization=org, email="new.person@acme.example", invited_by=admin_user)
    page = client.get(reverse("invitation_accept", args=[invitation.token])).content.decode()
    signup_link = next(part for part in page.split('"') if part.startswith(reverse("account_signup")))
    assert 'value="new.person@acme.example"' in client.get(signup_link.replace("&amp;", "&")).content.decode()


def test_a_used_or_expired_invitation_does_not_open_sign_up(
    closed: Any, org: Organization, admin_user: User, member_user: User
) -> None:
    used = Invitation.objects.create(
        organization=org, email="someone@acme.example", invited_by=admin_user, accepted_at=timezone.now()
    )
    expired = Invitation.objects.create(
        organization=org,
        email="late@acme.example",
        invited_by=admin_user,
        expires_at=timezone.now() - dt.timedelta(days=1),
    )
    for invitation in (used, expired):
        client = Client()
        client.get(reverse("invitation_accept", args=[invitation.token]))
        assert "sign up is currently closed" in sign_up(client, invitation.email).content.decode()
        assert not User.objects.filter(email=invitation.email).exists()


def test_an_invitation_accepted_on_one_tab_does_not_keep_sign_up_open_on_another(
    closed: Any, org: Organization, admin_user: User
) -> None:
    invitation = Invitation.objects.create(organization=org, email="new.person@acme.example", invited_by=admin_user)
    client = Client()
    client.get(reverse("invitation_accept", args=[invitation.token]))
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    assert "sign up is currently closed" in sign_up(client, "new.person@acme.example").content.decode()
    assert not User.objects.filter(email="new.person@acme.example").exists()


def test_open_sign_up_takes_any_address(settings: Any, client: Client, db: None) -> None:
    settings.ACCOUNT_ALLOW_SIGNUPS = True
    sign_up(client, "solo@startup.example")
    assert User.objects.filter(email="solo@startup.example").exists()


# ---------------------------------------------------------------------------------------------------------------
# Who may create organizations


STAFF_ONLY = "Only the site's staff can create organizations here."


def test_where_creation_is_for_staff_a_user_sees_why_instead_of_the_form(settings: Any, member_client: Client) -> None:
    settings.ORGANIZATION_CREATION = "staff"
    response = member_client.get(reverse("organization_create"))
    assert response.status_code == 403
    page = response.content.decode()
    assert STAFF_ONLY in page and 'name="name"' not in page
    assert "+ New organization" not in member_client.get("/", follow=True).content.decode()

    response = member_client.post(reverse("organization_create"), {"name": "Shadow IT"})
    assert response.status_code == 403
    assert STAFF_ONLY in response.content.decode()
    assert not Organization.objects.filter(name="Shadow IT").exists()


def test_a_new_user_without_an_organization_is_told_to_ask_for_an_invitation(settings: Any, db: None) -> None:
    settings.ORGANIZATION_CREATION = "staff"
    client = Client()
    sign_up(client, "solo@startup.example")
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("organization_create")
    assert "ask an admin of your organization to invite you" in response.content.decode()


def test_where_creation_is_for_staff_staff_create_organizations(settings: Any, db: None) -> None:
    settings.ORGANIZATION_CREATION = "staff"
    operator = User.objects.create_user(email="ops@rox.example", password=PASSWORD, is_staff=True)
    client = Client()
    client.force_login(operator)
    assert 'name="name"' in client.get(reverse("organization_create")).content.decode()
    response = client.post(reverse("organization_create"), {"name": "Initech"}, follow=True)
    assert "Initech is ready. You are its admin." in response.content.decode()
    assert Membership.objects.filter(user=operator, organization__name="Initech", role="admin").exists()


def test_where_anyone_may_create_organizations_a_user_does(settings: Any, member_client: Client) -> None:
    settings.ORGANIZATION_CREATION = "anyone"
    assert "+ New organization" in member_client.get("/", follow=True).content.decode()
    response = member_client.post(reverse("organization_create"), {"name": "Side Project"}, follow=True)
    assert "Side Project is ready. You are its admin." in response.content.decode()
