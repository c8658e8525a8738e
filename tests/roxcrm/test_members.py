"""Organizations, members, invitations and switching between organizations."""

from __future__ import annotations

from typing import Any

from django.core import mail
from django.test import Client
from django.urls import reverse

from roxcrm.models import Invitation, Membership, Organization, User
from tests.conftest import PASSWORD


def test_admin_invites_by_email_and_the_invitee_signs_up_and_joins(
    org: Organization, admin_client: Client, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("settings_members", args=[org.slug]),
            {"email": "New.Person@Acme.example", "role": "member"},
            follow=True,
        )
    assert "Invitation sent to new.person@acme.example." in response.content.decode()
    assert len(mail.outbox) == 1
    invitation = Invitation.objects.get()
    link = reverse("invitation_accept", args=[invitation.token])
    assert link in mail.outbox[0].body
    page = client.get(link).content.decode()
    assert "Join Acme" in page and "Create an account" in page
    response = client.post(
        reverse("account_signup") + f"?next={link}",
        {"email": "new.person@acme.example", "password1": PASSWORD, "password2": PASSWORD, "next": link},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == link
    response = client.post(link, follow=True)
    assert "Welcome to Acme." in response.content.decode()
    membership = Membership.objects.get(user__email="new.person@acme.example")
    assert (membership.organization, membership.role) == (org, "member")
    assert client.post(link, follow=True).content.decode().count("expired or was already used") == 1


def test_an_invitation_is_only_for_its_addressee(org: Organization, admin_user: User, outsider_client: Client) -> None:
    invitation = Invitation.objects.create(organization=org, email="someone@acme.example", invited_by=admin_user)
    response = outsider_client.post(reverse("invitation_accept", args=[invitation.token]), follow=True)
    assert "This invitation was sent to someone@acme.example" in response.content.decode()
    assert not Membership.objects.filter(organization=org, user__email="olga@globex.example").exists()


def test_admin_changes_roles_but_the_last_admin_stays(
    org: Organization, admin_client: Client, admin_user: User, member_user: User
) -> None:
    url = reverse("member_role", args=[org.slug, admin_user.pk])
    response = admin_client.post(url, {"role": "member"}, follow=True)
    assert "An organization needs at least one admin" in response.content.decode()
    admin_client.post(reverse("member_role", args=[org.slug, member_user.pk]), {"role": "admin"})
    assert Membership.objects.get(user=member_user).role == "admin"
    admin_client.post(url, {"role": "member"})
    assert Membership.objects.get(user=admin_user).role == "member"


def test_removing_a_member(org: Organization, admin_client: Client, member_user: User) -> None:
    admin_client.post(reverse("member_remove", args=[org.slug, member_user.pk]))
    assert not Membership.objects.filter(user=member_user).exists()
    assert User.objects.filter(pk=member_user.pk).exists()


def test_a_user_in_two_organizations_switches_and_every_page_shows_the_active_one(
    org: Organization, other_org: Organization, admin_user: User, admin_client: Client
) -> None:
    Membership.objects.create(organization=other_org, user=admin_user, role="member")
    page = admin_client.get(reverse("account_list", args=[org.slug])).content.decode()
    assert '<strong data-testid="active-org">Acme</strong>' in page
    assert reverse("dashboard", args=[other_org.slug]) in page  # the switcher offers the other one
    page = admin_client.get(reverse("account_list", args=[other_org.slug])).content.decode()
    assert '<strong data-testid="active-org">Globex</strong>' in page
    # The home page takes them back to the organization they used last.
    assert admin_client.get("/")["Location"] == reverse("dashboard", args=[other_org.slug])


def test_a_new_user_without_organization_creates_one(settings: Any, client: Client, db: None) -> None:
    settings.ORGANIZATION_CREATION = "anyone"  # where only staff may, tests/roxcrm/test_closed_signups.py
    client.post(
        reverse("account_signup"), {"email": "solo@startup.example", "password1": PASSWORD, "password2": PASSWORD}
    )
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("organization_create")
    response = client.post(reverse("organization_create"), {"name": "Startup Inc"}, follow=True)
    assert "Startup Inc is ready. You are its admin." in response.content.decode()
    membership = Membership.objects.get(user__email="solo@startup.example")
    assert (membership.organization.slug, membership.role) == ("startup-inc", "admin")


def test_an_invitation_links_to_where_the_app_runs(
    org: Organization, admin_client: Client, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Issue 17: invitation e-mails linked to SITE_URL's port when `make run` served another one. In development
    the link is the page's own address; in production SITE_URL (a request's Host is not trusted for mail)."""
    settings.SITE_URL = "https://rox.example.com"
    for debug, expected in ((True, "http://127.0.0.1:8100/"), (False, "https://rox.example.com/")):
        settings.DEBUG = debug
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(
                reverse("settings_members", args=[org.slug]),
                {"email": f"someone{int(debug)}@acme.example", "role": "member"},
                HTTP_HOST="127.0.0.1:8100",
                secure=False,
            )
        assert f"Accept the invitation: {expected}invitations/" in mail.outbox[0].body, mail.outbox[0].body
