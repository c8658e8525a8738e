"""Custom fields: every data type, visibility and editability, as people meet them on the pages."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from roxcrm.custom_fields import clean_value, filter_by_custom_value
from roxcrm.models import Account, CustomField, Membership, Organization, User
from roxcrm.services import Actor, record_update
from tests.factories import make_account, make_custom_field

# data type, extra definition attributes, valid inputs with their stored form, invalid inputs with a message part
CASES: list[tuple[str, dict[str, Any], list[tuple[Any, Any]], list[tuple[Any, str]]]] = [
    (
        "text",
        {"max_length": 10},
        [("Gold", "Gold"), ("  padded ", "padded")],
        [("x" * 11, "limit is 10"), ([1], "must be text")],
    ),
    ("long_text", {}, [("line one\nline two", "line one\nline two")], [("x" * 32769, "limit is 32768")]),
    (
        "number",
        {"decimal_places": 1, "min_value": Decimal(0), "max_value": Decimal(100)},
        [("12.5", 12.5), (7, 7.0)],
        [
            ("abc", "not a number"),
            ("1.25", "at most 1 decimal place"),
            ("-1", "at least 0"),
            (True, "must be a number"),
        ],
    ),
    ("number", {}, [("42", 42), ("1,000", 1000)], [("4.2", "no decimal places")]),
    # Too large for the field's digits once its decimal places are added (was a decimal.InvalidOperation: a 500).
    ("number", {"decimal_places": 4}, [("12.5", 12.5)], [("1e+24", "more than 18 digits"), ("9" * 27, "more than")]),
    ("currency", {}, [("19.99", 19.99), (Decimal("5"), 5.0)], [("1.999", "at most 2 decimal places")]),
    ("percent", {"max_value": Decimal(100)}, [("55", 55)], [("101", "at most 100")]),
    ("date", {}, [("2026-02-28", "2026-02-28")], [("2026-02-30", "not a date"), ("tomorrow", "not a date")]),
    (
        "datetime",
        {},
        [("2026-02-28T09:30:00Z", "2026-02-28T09:30:00Z"), ("2026-02-28T10:30:00+01:00", "2026-02-28T09:30:00Z")],
        [("noon", "not a date and time")],
    ),
    ("checkbox", {}, [(True, True), ("false", False), ("yes", True)], [("maybe", "true or false")]),
    ("picklist", {"options": ["Gold", "Silver"]}, [("gold", "Gold")], [("Bronze", "not one of its options")]),
    (
        "multi_picklist",
        {"options": ["EMEA", "APAC", "AMER"]},
        [(["AMER", "EMEA"], ["EMEA", "AMER"]), ("APAC;EMEA", ["EMEA", "APAC"])],
        [(["Mars"], "not one of its options"), (5, "list of options")],
    ),
    ("email", {}, [("Ada@Example.COM", "ada@example.com")], [("not-an-email", "not a valid e-mail")]),
    ("phone", {}, [("+1 (555) 010-9999", "+1 (555) 010-9999")], [("call me", "not a phone number")]),
    ("url", {}, [("example.com/pricing", "https://example.com/pricing")], [("not a url", "not a valid web address")]),
]


@pytest.mark.parametrize(("data_type", "attrs", "valid", "invalid"), CASES)
def test_each_data_type_accepts_valid_values_and_rejects_invalid_ones(
    org: Organization, data_type: str, attrs: dict, valid: list, invalid: list
) -> None:
    field = make_custom_field(org, label=f"Field {data_type}", data_type=data_type, **attrs)
    account = make_account(org)
    for raw, stored in valid:
        change = record_update(record=account, custom_values={field.api_name: raw}, actor=Actor.system("t"))
        expected = stored if stored is not None else clean_value(field, raw)
        assert change.record.custom_values[field.api_name] == expected
    for raw, message in invalid:
        with pytest.raises(ValidationError) as excinfo:
            record_update(record=account, custom_values={field.api_name: raw}, actor=Actor.system("t"))
        assert message in " ".join(excinfo.value.message_dict[f"custom.{field.api_name}"])


def test_required_field_must_have_a_value_on_create_and_cannot_be_emptied(
    admin_client: Client, org: Organization
) -> None:
    make_custom_field(org, label="Tier", required=True)
    url = reverse("account_create", args=[org.slug])
    response = admin_client.post(url, {"name": "Initech"})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Account.objects.exists()
    response = admin_client.post(url, {"name": "Initech", "cf_tier": "Gold"})
    account = Account.objects.get()
    assert account.custom_values == {"tier": "Gold"}
    with pytest.raises(ValidationError, match="Tier is required"):
        record_update(record=account, custom_values={"tier": ""}, actor=Actor.system("t"))


def test_definition_validation_explains_what_is_wrong(org: Organization) -> None:
    bad = [
        ({"data_type": "picklist", "options": []}, "options", "at least one option"),
        ({"data_type": "picklist", "options": ["A", "a"]}, "options", "only once"),
        ({"data_type": "text", "max_length": 300}, "max_length", "at most 255"),
        ({"data_type": "date", "max_length": 10}, "max_length", "Only text fields"),
        ({"data_type": "number", "min_value": Decimal(5), "max_value": Decimal(1)}, "max_value", "below the minimum"),
        ({"data_type": "checkbox", "required": True}, "required", "cannot be required"),
        ({"data_type": "text", "api_name": "Bad Name"}, "api_name", "lower-case letters"),
    ]
    for attrs, key, message in bad:
        field = CustomField(
            organization=org, object_type="account", label="X", api_name=attrs.pop("api_name", "x"), **attrs
        )
        with pytest.raises(ValidationError) as excinfo:
            field.full_clean()
        assert message in " ".join(excinfo.value.message_dict[key]), attrs


def test_admin_adds_a_field_on_the_page_and_the_api_name_comes_from_the_label(
    admin_client: Client, org: Organization
) -> None:
    url = reverse("custom_field_create", args=[org.slug])
    response = admin_client.post(
        url,
        {
            "object_type": "opportunity",
            "label": "Renewal date (FY)",
            "data_type": "date",
            "editable_in_rox": "on",
            "visibility": "organization",
        },
    )
    assert response.status_code == 302
    field = CustomField.objects.get()
    assert (field.api_name, field.object_type, field.data_type) == ("renewal_date_fy", "opportunity", "date")
    response = admin_client.post(
        url,
        {"object_type": "opportunity", "label": "Renewal date FY", "data_type": "text", "visibility": "organization"},
    )
    assert "already uses the API name “renewal_date_fy”" in response.content.decode()


def test_api_name_is_frozen_once_a_record_holds_a_value(admin_client: Client, org: Organization) -> None:
    field = make_custom_field(org, label="Tier")
    account = make_account(org)
    record_update(record=account, custom_values={"tier": "Gold"}, actor=Actor.system("t"))
    field.refresh_from_db()
    assert field.first_used_at is not None
    url = reverse("custom_field_edit", args=[org.slug, field.code])
    admin_client.post(url, {"label": "Customer tier", "api_name": "customer_tier", "visibility": "organization"})
    field.refresh_from_db()
    assert (field.label, field.api_name) == ("Customer tier", "tier")


def test_deleting_a_field_removes_its_values(admin_client: Client, org: Organization) -> None:
    field = make_custom_field(org, label="Tier")
    keep = make_custom_field(org, label="Region")
    account = make_account(org)
    record_update(record=account, custom_values={"tier": "Gold", "region": "EMEA"}, actor=Actor.system("t"))
    response = admin_client.post(reverse("custom_field_delete", args=[org.slug, field.code]), follow=True)
    assert "1 record(s) held a value" in response.content.decode()
    account.refresh_from_db()
    assert account.custom_values == {"region": "EMEA"}
    assert list(CustomField.objects.all()) == [keep]


def test_private_field_is_invisible_to_other_users(
    org: Organization, admin_user: User, member_user: User, admin_client: Client, member_client: Client
) -> None:
    make_custom_field(org, created_by=admin_user, label="My notes", visibility="private")
    account = make_account(org)
    record_update(record=account, custom_values={"my_notes": "Champion is Peter"}, actor=Actor.person(admin_user))
    detail = reverse("account_detail", args=[org.slug, account.code])
    assert "Champion is Peter" in admin_client.get(detail).content.decode()
    for url in (
        detail,
        reverse("account_edit", args=[org.slug, account.code]),
        reverse("custom_field_list", args=[org.slug]),
    ):
        page = member_client.get(url).content.decode()
        assert "My notes" not in page and "Champion is Peter" not in page, url
    # Nor can they write it by crafting a request or through the edit service.
    member_client.post(reverse("account_edit", args=[org.slug, account.code]), {"name": "Initech", "cf_my_notes": "x"})
    with pytest.raises(ValidationError, match="no custom field"):
        record_update(record=account, custom_values={"my_notes": "x"}, actor=Actor.person(member_user))
    account.refresh_from_db()
    assert account.custom_values == {"my_notes": "Champion is Peter"}


def test_read_only_in_rox_field_cannot_be_edited_on_pages(org: Organization, admin_client: Client) -> None:
    make_custom_field(org, label="SF Score", api_name="sf_score", data_type="number", editable_in_rox=False)
    account = make_account(org)
    record_update(record=account, custom_values={"sf_score": 80}, actor=Actor(kind="sync", label="Salesforce"))
    account.refresh_from_db()
    edit = reverse("account_edit", args=[org.slug, account.code])
    page = admin_client.get(edit).content.decode()
    field_input = re.search(r'<input[^>]*name="cf_sf_score"[^>]*>', page)
    assert field_input and "disabled" in field_input.group(0)
    assert "Read-only in Rox" in page
    response = admin_client.post(edit, {"name": "Initech", "cf_sf_score": "5", "version": account.version})
    assert response.status_code == 302, response.context["form"].errors
    account.refresh_from_db()
    assert account.custom_values["sf_score"] == 80
    with pytest.raises(ValidationError, match="read-only in Rox"):
        record_update(record=account, custom_values={"sf_score": 5}, actor=Actor.system("t"))


def test_filtering_by_a_custom_value(org: Organization) -> None:
    tier = make_custom_field(org, label="Tier", data_type="picklist", options=["Gold", "Silver"])
    regions = make_custom_field(org, label="Regions", data_type="multi_picklist", options=["EMEA", "APAC", "AMER"])
    gold = make_account(org, name="Gold Co")
    silver = make_account(org, name="Silver Co")
    record_update(record=gold, custom_values={"tier": "Gold", "regions": ["EMEA", "APAC"]}, actor=Actor.system("t"))
    record_update(record=silver, custom_values={"tier": "Silver", "regions": ["EMEA"]}, actor=Actor.system("t"))
    accounts = Account.objects.filter(organization=org)
    assert list(filter_by_custom_value(accounts, tier, "gold")) == [gold]
    assert set(filter_by_custom_value(accounts, regions, ["EMEA"])) == {gold, silver}
    assert list(filter_by_custom_value(accounts, regions, ["APAC", "EMEA"])) == [gold]


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the GIN index exists on PostgreSQL only")
def test_filtering_by_a_custom_value_uses_an_index_on_postgresql(org: Organization) -> None:
    tier = make_custom_field(org, label="Tier", data_type="picklist", options=["Gold", "Silver"])
    queryset = filter_by_custom_value(Account.objects.all(), tier, "Gold")
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        plan = queryset.explain()
        cursor.execute("SET enable_seqscan = on")
    assert "roxcrm_account_custom_values_gin" in plan


def test_another_admins_private_field_cannot_be_opened_or_deleted(
    org: Organization, admin_user: User, member_user: User, member_client: Client
) -> None:
    field = make_custom_field(org, created_by=admin_user, label="My notes", visibility="private")
    Membership.objects.filter(user=member_user).update(role="admin")
    assert member_client.get(reverse("custom_field_edit", args=[org.slug, field.code])).status_code == 404
    assert member_client.post(reverse("custom_field_delete", args=[org.slug, field.code])).status_code == 404
    assert CustomField.objects.filter(pk=field.pk).exists()


def test_saving_a_form_leaves_an_untouched_checkbox_unset(admin_client: Client, org: Organization) -> None:
    """A checkbox never ticked nor unticked stays unset: the save records no "None → False" change (which the
    writeback would also send to Salesforce)."""
    from roxcrm.models import FieldChange
    from tests.factories import make_account, make_custom_field

    make_custom_field(org, label="VIP", data_type="checkbox")
    account = make_account(org)
    response = admin_client.post(
        f"{account.get_absolute_url()}edit/", {"name": "Initech Ltd", "version": account.version}, follow=True
    )
    assert "Saved 1 change(s)" in response.content.decode()
    account.refresh_from_db()
    assert "vip" not in (account.custom_values or {})
    changed = set(
        FieldChange.objects.filter(object_type="account", record_id=account.pk).values_list("field", flat=True)
    )
    assert "custom.vip" not in changed
