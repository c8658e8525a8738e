"""Tokens: who gets in (401), what they may do (403), what they see (their own organization only), how often (429)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from api.models import ApiToken
from api.services import token_revoke, token_use
from roxcrm.models import Organization, User
from tests.api.conftest import ApiClient, make_token
from tests.factories import make_account, make_activity, make_contact, make_lead, make_opportunity, make_product

FACTORIES = {
    "accounts": make_account,
    "contacts": make_contact,
    "opportunities": make_opportunity,
    "leads": make_lead,
    "products": make_product,
    "activities": make_activity,
}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer nonsense",
        "Bearer rox_000000000000_" + "a" * 43,
        "Basic dXNlcjpwYXNz",
    ],
)
def test_missing_or_unknown_token_gets_401(org: Organization, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = ApiClient(None).client.get("/api/v1/accounts", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_with_a_wrong_secret_after_a_real_prefix_gets_401(write_token: tuple[ApiToken, str]) -> None:
    _, secret = write_token
    assert ApiClient(secret[:-1] + ("A" if secret[-1] != "A" else "B")).get("accounts").status_code == 401


def test_revoked_token_gets_401(org: Organization, write_token: tuple[ApiToken, str]) -> None:
    token, secret = write_token
    assert ApiClient(secret).get("accounts").status_code == 200
    token_revoke(token=token)
    assert ApiClient(secret).get("accounts").status_code == 401


def test_read_token_reads_but_cannot_write(read_api: ApiClient, org: Organization) -> None:
    account = make_account(org)
    assert read_api.get(f"accounts/{account.code}").status_code == 200
    refused = [
        read_api.post("accounts", {"name": "Hooli"}),
        read_api.patch(f"accounts/{account.code}", {"name": "Hooli"}),
        read_api.post("activities", {"type": "call"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert refused[0].json()["code"] == "forbidden"
    account.refresh_from_db()
    assert account.name == "Initech" and account.version == 1


@pytest.mark.parametrize("resource", FACTORIES)
def test_another_organizations_record_is_404(
    resource: str, api: ApiClient, other_org: Organization, org: Organization
) -> None:
    theirs = FACTORIES[resource](other_org)
    for response in (api.get(f"{resource}/{theirs.code}"), api.patch(f"{resource}/{theirs.code}", {})):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert api.get(resource).json()["data"] == []
    theirs.refresh_from_db()
    assert theirs.version == 1


def test_a_token_sees_only_its_own_organization(api: ApiClient, other_api: ApiClient, org: Organization) -> None:
    ours = make_account(org, name="Ours")
    assert [a["name"] for a in api.get("accounts").json()["data"]] == ["Ours"]
    assert other_api.get("accounts").json()["data"] == []
    assert other_api.get(f"accounts/{ours.code}").status_code == 404


def test_records_of_another_organization_cannot_be_linked(
    api: ApiClient, org: Organization, other_org: Organization, outsider: User
) -> None:
    theirs = make_account(other_org)
    response = api.post("contacts", {"last_name": "Bolton", "account": str(theirs.code)})
    assert response.status_code == 400
    assert "account" in response.json()["fields"]
    response = api.post("accounts", {"name": "Hooli", "owner": outsider.email})
    assert response.status_code == 400
    assert "No member" in response.json()["fields"]["owner"][0]


def test_rate_limit_answers_429_with_retry_after(settings: Any, api: ApiClient, org: Organization) -> None:
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    assert [api.get("accounts").status_code for _ in range(3)] == [200, 200, 200]
    response = api.get("accounts")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_rate_limit_window_reopens_after_a_minute(org: Organization, admin_user: User) -> None:
    token, _ = make_token(org, admin_user)
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert [token_use(token=token, limit=2, now=start + dt.timedelta(seconds=s)) for s in (0, 10, 20)] == [
        None,
        None,
        40,
    ]
    assert token_use(token=token, limit=2, now=start + dt.timedelta(seconds=61)) is None
    token.refresh_from_db()
    assert token.rate_window_count == 1
    assert token.last_used_at == start + dt.timedelta(seconds=61)
