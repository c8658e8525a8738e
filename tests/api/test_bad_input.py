"""Input no client should send is refused with a JSON 4xx in the API's error format, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from roxcrm.models import Account, Organization
from roxcrm.services import record_update
from tests.api.conftest import ApiClient
from tests.factories import SYSTEM, make_account, make_custom_field

LONE_SURROGATE = "\ud800"  # json.dumps writes it as the escape "\ud800", which JSON allows and UTF-8 cannot hold


def test_a_lone_surrogate_in_a_custom_field_is_refused_and_nothing_is_saved(api: ApiClient, org: Organization) -> None:
    make_custom_field(org, label="Notes")
    make_custom_field(org, label="Regions", data_type="multi_picklist", options=["EMEA", "APAC"])
    account = record_update(record=make_account(org), values={}, custom_values={"notes": "Kept"}, actor=SYSTEM).record

    for custom in (
        {"notes": LONE_SURROGATE},
        {"notes": f"before {LONE_SURROGATE} after"},
        {"regions": ["EMEA", LONE_SURROGATE]},
    ):
        response = api.patch(f"accounts/{account.code}", {"custom_fields": custom})
        assert response.status_code == 400, response.content
        [name] = custom
        assert "not valid Unicode" in " ".join(response.json()["fields"][f"custom_fields.{name}"])

    response = api.post("accounts", {"name": "Hooli", "custom_fields": {"notes": LONE_SURROGATE}})
    assert response.status_code == 400
    response = api.post("accounts", {"name": "Hooli", "custom_fields": {LONE_SURROGATE: "x"}})
    assert response.status_code == 400

    assert list(Account.objects.values_list("name", flat=True)) == ["Initech"]
    account.refresh_from_db()
    assert (account.version, account.custom_values) == (2, {"notes": "Kept"})


@pytest.mark.parametrize("if_match", ["1" * 5000, f'"{"9" * 5000}"', f'W/"{"1" * 4301}"', f'"{"9" * 21}"'])
def test_an_if_match_of_thousands_of_digits_is_refused_and_nothing_is_saved(
    api: ApiClient, org: Organization, if_match: str
) -> None:
    account = make_account(org)
    response = api.patch(f"accounts/{account.code}", {"name": "Hooli"}, headers={"If-Match": if_match})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "If-Match" in response.json()["fields"]
    account.refresh_from_db()
    assert (account.name, account.version) == ("Initech", 1)


def test_an_if_match_of_a_version_never_reached_is_stale(api: ApiClient, org: Organization) -> None:
    account = make_account(org)
    response = api.patch(f"accounts/{account.code}", {"name": "Hooli"}, headers={"If-Match": f'"{"9" * 20}"'})
    assert response.status_code == 412
    account.refresh_from_db()
    assert account.name == "Initech"


TEN_MB = 10 * 1024 * 1024


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("upload_limit", ["default", None, 100 * 1024 * 1024], ids=["default", "no-limit", "100MB"])
def test_a_10_mb_body_is_refused_as_json_whatever_the_settings(
    api: ApiClient, org: Organization, settings: Any, debug: bool, upload_limit: Any
) -> None:
    settings.DEBUG = debug
    if upload_limit != "default":
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = upload_limit
    make_custom_field(org, label="Notes", data_type="long_text")
    account = make_account(org)
    # Valid JSON all the way through, so nothing but its size is wrong with it.
    body = {"name": "Hooli", "custom_fields": {f"field_{n}": "x" * 1000 for n in range(TEN_MB // 1000)}}

    for response in (api.post("accounts", body), api.patch(f"accounts/{account.code}", body)):
        assert response.status_code == 413, response.content[:500]
        assert response["Content-Type"].startswith("application/json")
        error = response.json()
        assert error["code"] == "too_large"
        assert "larger than" in error["message"]

    assert list(Account.objects.values_list("name", flat=True)) == ["Initech"]


def test_a_body_just_under_the_limit_is_still_read(api: ApiClient, org: Organization) -> None:
    make_custom_field(org, label="Notes", data_type="long_text")
    body = {"name": "Hooli", "custom_fields": {"notes": "x" * 32768}}
    assert api.post("accounts", body).status_code == 201
