"""Custom fields through the API: validated by their definitions, private ones only for their creator's tokens."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from roxcrm.models import Organization, User
from tests.api.conftest import ApiClient, make_token
from tests.factories import make_account, make_custom_field
from tests.roxcrm.test_custom_fields import CASES


def as_json(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@pytest.mark.parametrize(("data_type", "attrs", "valid", "invalid"), CASES)
def test_each_data_type_accepts_valid_values_and_rejects_invalid_ones(
    api: ApiClient, org: Organization, data_type: str, attrs: dict, valid: list, invalid: list
) -> None:
    field = make_custom_field(org, label=f"Field {data_type}", data_type=data_type, **attrs)
    account = make_account(org)
    for raw, stored in valid:
        response = api.patch(f"accounts/{account.code}", {"custom_fields": {field.api_name: as_json(raw)}})
        assert response.status_code == 200, response.json()
        assert response.json()["custom_fields"][field.api_name] == stored
    for raw, message in invalid:
        response = api.patch(f"accounts/{account.code}", {"custom_fields": {field.api_name: as_json(raw)}})
        assert response.status_code == 400
        assert message in " ".join(response.json()["fields"][f"custom_fields.{field.api_name}"])


def test_custom_fields_are_set_on_create_and_cleared_with_null(api: ApiClient, org: Organization) -> None:
    make_custom_field(org, label="Tier", data_type="picklist", options=["Gold", "Silver"])
    make_custom_field(org, label="Seats", data_type="number")
    created = api.post("accounts", {"name": "Hooli", "custom_fields": {"tier": "gold", "seats": 40}}).json()
    assert created["custom_fields"] == {"tier": "Gold", "seats": 40}
    cleared = api.patch(f"accounts/{created['code']}", {"custom_fields": {"tier": None}}).json()
    assert cleared["custom_fields"] == {"tier": None, "seats": 40}


def test_required_custom_field_must_be_given_on_create(api: ApiClient, org: Organization) -> None:
    make_custom_field(org, label="Region", required=True)
    response = api.post("accounts", {"name": "Hooli"})
    assert response.status_code == 400
    assert response.json()["fields"] == {"custom_fields.region": ["Region is required."]}
    assert api.post("accounts", {"name": "Hooli", "custom_fields": {"region": "EMEA"}}).status_code == 201


def test_unknown_and_read_only_custom_fields_are_refused(api: ApiClient, org: Organization) -> None:
    make_custom_field(org, label="Salesforce score", editable_in_rox=False)
    account = make_account(org)
    response = api.patch(f"accounts/{account.code}", {"custom_fields": {"shoe_size": 44, "salesforce_score": "9"}})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"custom_fields.shoe_size"}
    response = api.patch(f"accounts/{account.code}", {"custom_fields": {"salesforce_score": "9"}})
    assert response.status_code == 400
    assert "read-only in Rox" in response.json()["fields"]["custom_fields.salesforce_score"][0]
    response = api.patch(f"accounts/{account.code}", {"custom_fields": {"salesforce_score": "a\x00b"}})
    assert response.status_code == 400


def test_private_fields_are_seen_only_by_their_creators_tokens(
    api: ApiClient, org: Organization, admin_user: User, member_user: User
) -> None:
    make_custom_field(org, created_by=admin_user, label="Admin notes", visibility="private")
    make_custom_field(org, created_by=member_user, label="Mel notes", visibility="private")
    account = make_account(org)

    shown = api.get(f"accounts/{account.code}").json()["custom_fields"]
    assert shown == {"admin_notes": None}
    assert api.patch(f"accounts/{account.code}", {"custom_fields": {"admin_notes": "Ours"}}).status_code == 200
    refused = api.patch(f"accounts/{account.code}", {"custom_fields": {"mel_notes": "Not ours"}})
    assert refused.status_code == 400

    _, mels_secret = make_token(org, member_user, name="Mel's tool")
    mel = ApiClient(mels_secret)
    assert mel.get(f"accounts/{account.code}").json()["custom_fields"] == {"mel_notes": None}
    assert mel.patch(f"accounts/{account.code}", {"custom_fields": {"admin_notes": "x"}}).status_code == 400

    # A token whose creator's account was deleted sees nothing at all: it stopped working with them
    # (tests/api/test_token_creator.py).
    token, secret = make_token(org, member_user, name="Orphan")
    type(token).objects.filter(pk=token.pk).update(created_by=None)
    assert ApiClient(secret).get(f"accounts/{account.code}").status_code == 401
