"""Bad input on the record and settings pages gets a clear message, never a server error, and saves nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from roxcrm.models import Contact, CustomField, Membership, Organization, User
from tests.factories import make_account, make_contact, make_custom_field


def _page_messages(response: object) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("data_type", "options", "message"),
    [
        ("picklist", "", "A picklist needs at least one option."),
        ("multi_picklist", "  \n \n", "A picklist needs at least one option."),
        ("picklist", "Gold\nSilver\ngold", "Each option may appear only once."),
        ("multi_picklist", "EMEA\nAPAC;AMER", "cannot contain &#x27;;&#x27;"),
        ("text", "Gold\nSilver", "Only picklists have options."),
    ],
)
def test_a_custom_field_with_options_that_cannot_work_is_refused_on_the_form(
    admin_client: Client, org: Organization, data_type: str, options: str, message: str
) -> None:
    response = admin_client.post(
        reverse("custom_field_create", args=[org.slug]),
        {
            "object_type": "account",
            "label": "Tier",
            "data_type": data_type,
            "options_text": options,
            "visibility": "organization",
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "Tier" in page  # what the admin typed is still in the form
    assert not CustomField.objects.exists()


def test_options_posted_for_an_existing_text_field_are_refused_and_the_field_is_unchanged(
    admin_client: Client, org: Organization
) -> None:
    field = make_custom_field(org, label="Region", data_type="text")
    response = admin_client.post(
        reverse("custom_field_edit", args=[org.slug, field.code]),
        {"label": "Region renamed", "api_name": "region", "options_text": "EMEA", "visibility": "organization"},
    )
    assert response.status_code == 200
    assert "Only picklists have options." in response.content.decode()
    field.refresh_from_db()
    assert (field.label, field.options) == ("Region", [])


@pytest.mark.parametrize("account", ["not-a-uuid", "%C3%BC", "1" * 5000, "00000000-0000-0000-0000-000000000000"])
def test_a_new_contact_link_naming_no_account_opens_an_empty_form_with_a_message(
    member_client: Client, org: Organization, account: str
) -> None:
    response = member_client.get(f"{reverse('contact_create', args=[org.slug])}?account={account}")
    assert response.status_code == 200
    assert "There is no account with the code in this link" in response.content.decode()
    assert not Contact.objects.exists()


def test_a_new_contact_link_naming_another_organizations_account_prefills_nothing(
    member_client: Client, org: Organization, other_org: Organization
) -> None:
    theirs = make_account(other_org, name="Globex Corp")
    response = member_client.get(f"{reverse('contact_create', args=[org.slug])}?account={theirs.code}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is no account with the code in this link" in page
    assert "Globex Corp" not in page


def test_a_new_contact_link_naming_an_account_prefills_it(member_client: Client, org: Organization) -> None:
    ours = make_account(org, name="Initrode")
    response = member_client.get(f"{reverse('contact_create', args=[org.slug])}?account={ours.code}")
    assert f'<option value="{ours.pk}" selected>Initrode</option>' in response.content.decode()
    assert not _page_messages(response)


@pytest.mark.parametrize("kind", ["account", "contact", "opportunity", "lead", "product", "activity"])
def test_a_search_with_a_nul_character_is_refused_with_a_message(
    member_client: Client, org: Organization, kind: str
) -> None:
    make_contact(org, last_name="Gibbons")
    response = member_client.get(f"{reverse(f'{kind}_list', args=[org.slug])}?q=Gib%00bons")
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/invitations/%00/",
        "/invitations/abc%00def/",
        "/o/acme/accounts/?page=%00",
        "/o/acme/contacts/new/?account=%00",
        "/admin/roxcrm/membership/?role__exact=%00",
        "/admin/roxcrm/account/%00/change/",
        "/admin/r/1/%00/",
        "/auth/login/?next=%00",
        "/o/acme%00/",
    ],
)
def test_an_address_holding_a_nul_character_is_refused_before_any_view(
    admin_client: Client, admin_user: User, org: Organization, url: str
) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    for client in (admin_client, Client()):
        response = client.get(url)
        assert response.status_code == 400
        assert "NUL character" in response.content.decode()


def test_an_api_query_holding_a_nul_character_is_refused_in_the_apis_format(client: Client) -> None:
    response = client.get("/api/v1/accounts?q=a%00b&limit=5")
    assert response.status_code == 400
    assert response.json()["fields"] == {"q": ["NUL characters are not allowed."]}


@pytest.mark.parametrize("user_id", ["99999999999999999999", "9" * 19, "1" * 5000])
def test_a_member_id_beyond_any_database_id_is_not_found_and_nothing_changes(
    admin_client: Client, org: Organization, member_user: User, user_id: str
) -> None:
    for name, data in (("member_role", {"role": "admin"}), ("member_remove", {})):
        response = admin_client.post(f"/o/{org.slug}/settings/members/{user_id}/{name.split('_')[1]}/", data)
        assert response.status_code == 404
    assert Membership.objects.get(organization=org, user=member_user).role == Membership.Role.MEMBER


def test_a_picklist_whose_options_are_not_a_list_of_texts_is_refused_in_the_django_admin(
    admin_client: Client, admin_user: User, org: Organization
) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    field = make_custom_field(org, label="Tier", data_type="picklist", options=["Gold", "Silver"])
    url = reverse("admin:roxcrm_customfield_change", args=[field.pk])
    form = {
        "organization": org.pk,
        "object_type": "account",
        "label": "Tier",
        "api_name": "tier",
        "data_type": "picklist",
        "visibility": "organization",
        "editable_in_rox": "on",
    }
    for options, message in [
        ("-1", "Options are a list of texts"),
        ('["Gold", 5]', "Options are a list of texts"),
        ('"Gold"', "Options are a list of texts"),
        ("1" * 5000, "Enter a valid JSON."),
        ("NaN", "Enter a valid JSON."),
        ("[1e999]", "Enter a valid JSON."),
    ]:
        response = admin_client.post(url, {**form, "options": options})
        assert response.status_code == 200, options
        assert message in response.content.decode(), options
    field.refresh_from_db()
    assert field.options == ["Gold", "Silver"]


@pytest.mark.parametrize("huge", ["99999999999999999999", "9" * 4000])
def test_a_permission_or_group_id_beyond_any_database_id_is_an_invalid_choice_in_the_django_admin(
    admin_client: Client, admin_user: User, huge: str
) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    response = admin_client.post(reverse("admin:auth_group_add"), {"name": "Sales", "permissions": [huge]})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Group.objects.exists()

    change = reverse("admin:roxcrm_user_change", args=[admin_user.pk])
    response = admin_client.post(change, {"email": admin_user.email, "groups": [huge], "user_permissions": [huge]})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not admin_user.groups.exists()


def test_an_empty_to_field_in_the_django_admin_means_the_primary_key(
    admin_client: Client, admin_user: User, org: Organization
) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    account = make_account(org)
    for name, pk in [
        ("roxcrm_account_change", account.pk),
        ("roxcrm_account_delete", account.pk),
        ("roxcrm_user_change", admin_user.pk),
        ("roxcrm_organization_change", org.pk),
        ("auth_group_change", Group.objects.create(name="Sales").pk),
    ]:
        response = admin_client.get(reverse(f"admin:{name}", args=[pk]) + "?_to_field=")
        assert response.status_code == 200, name
