"""Tenancy: every record and settings page is the organization's own."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from roxcrm.models import CustomField, Invitation, Organization, User
from tests.factories import (
    make_account,
    make_activity,
    make_contact,
    make_custom_field,
    make_lead,
    make_opportunity,
    make_product,
)

RECORD_FACTORIES: dict[str, Callable] = {
    "account": make_account,
    "contact": make_contact,
    "opportunity": make_opportunity,
    "lead": make_lead,
    "product": make_product,
    "activity": make_activity,
}

MEMBER_SETTINGS = ["settings_members", "custom_field_list"]
ADMIN_SETTINGS = ["settings_organization", "custom_field_create"]


def record_urls(org: Organization) -> list[str]:
    urls = []
    for key, factory in RECORD_FACTORIES.items():
        record = factory(org)
        urls += [
            reverse(f"{key}_list", args=[org.slug]),
            reverse(f"{key}_create", args=[org.slug]),
            reverse(f"{key}_detail", args=[org.slug, record.code]),
            reverse(f"{key}_edit", args=[org.slug, record.code]),
        ]
    return urls


def admin_only_urls(org: Organization, admin: User) -> list[str]:
    field = make_custom_field(org, created_by=admin)
    return [reverse(name, args=[org.slug]) for name in ADMIN_SETTINGS] + [
        reverse("custom_field_edit", args=[org.slug, field.code]),
        reverse("custom_field_delete", args=[org.slug, field.code]),
    ]


def test_outsider_gets_404_on_every_page_of_another_organization(
    org: Organization, admin_user: User, outsider_client: Client
) -> None:
    urls = record_urls(org) + admin_only_urls(org, admin_user)
    urls += [reverse(name, args=[org.slug]) for name in ["dashboard", "settings", *MEMBER_SETTINGS]]
    for url in urls:
        assert outsider_client.get(url).status_code == 404, url
        assert outsider_client.post(url, {"name": "hijack"}).status_code == 404, url


def test_record_of_another_organization_is_404_under_ones_own_organization(
    org: Organization, other_org: Organization, outsider_client: Client
) -> None:
    for key, factory in RECORD_FACTORIES.items():
        foreign = factory(org)
        for page in ("detail", "edit"):
            url = reverse(f"{key}_{page}", args=[other_org.slug, foreign.code])
            assert outsider_client.get(url).status_code == 404, url


def test_anonymous_visitor_is_sent_to_sign_in(org: Organization, admin_user: User, client: Client) -> None:
    urls = record_urls(org) + admin_only_urls(org, admin_user) + [reverse("dashboard", args=[org.slug])]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login")), url


def test_member_cannot_open_admin_only_settings(org: Organization, admin_user: User, member_client: Client) -> None:
    for url in admin_only_urls(org, admin_user):
        assert member_client.get(url).status_code == 403, url
        assert member_client.post(url, {"label": "x"}).status_code == 403, url
    assert CustomField.objects.filter(organization=org).count() == 1


def test_member_can_open_records_and_member_settings(org: Organization, member_client: Client) -> None:
    for url in record_urls(org) + [reverse(name, args=[org.slug]) for name in MEMBER_SETTINGS]:
        assert member_client.get(url).status_code == 200, url


def test_admin_can_open_every_page(org: Organization, admin_user: User, admin_client: Client) -> None:
    urls = record_urls(org) + admin_only_urls(org, admin_user)
    urls += [reverse(name, args=[org.slug]) for name in MEMBER_SETTINGS]
    for url in urls:
        assert admin_client.get(url).status_code == 200, url


def test_member_cannot_change_roles_or_invite(org: Organization, admin_user: User, member_client: Client) -> None:
    role_url = reverse("member_role", args=[org.slug, admin_user.pk])
    assert member_client.post(role_url, {"role": "member"}).status_code == 403
    response = member_client.post(reverse("settings_members", args=[org.slug]), {"email": "x@y.example"}, follow=True)
    assert "Only organization admins can invite people." in response.content.decode()
    assert not Invitation.objects.exists()


def test_django_admin_is_for_staff_only(admin_client: Client, admin_user: User) -> None:
    assert admin_client.get("/admin/").status_code == 302
    admin_user.is_staff = True
    admin_user.save()
    assert admin_client.get("/admin/").status_code == 200


@pytest.mark.parametrize("key", sorted(RECORD_FACTORIES))
def test_list_shows_only_the_organizations_records(
    key: str, org: Organization, other_org: Organization, admin_client: Client
) -> None:
    mine = RECORD_FACTORIES[key](org)
    RECORD_FACTORIES[key](other_org)
    response = admin_client.get(reverse(f"{key}_list", args=[org.slug]))
    assert response.context["page"].paginator.count == 1
    assert mine.get_absolute_url() in response.content.decode()
