"""Tokens and a client that sends them, for the API tests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from api.models import ApiToken
from api.services import token_create
from roxcrm.models import Organization, User


class ApiClient:
    """Django's test client speaking JSON with a bearer token."""

    def __init__(self, secret: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def _send(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, **query: Any):
        url = path if path.startswith("/") else f"/api/v1/{path}"
        kwargs: dict[str, Any] = {"headers": {**self.headers, **(headers or {})}}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        elif query:
            kwargs["data"] = query
        return getattr(self.client, method)(url, **kwargs)

    def get(self, path: str, **query: Any):
        return self._send("get", path, **query)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None):
        return self._send("post", path, body, headers)

    def patch(self, path: str, body: Any, headers: dict[str, str] | None = None):
        return self._send("patch", path, body, headers)


def make_token(org: Organization, user: User, **attrs: Any) -> tuple[ApiToken, str]:
    attrs.setdefault("name", "Test tool")
    attrs.setdefault("kind", ApiToken.Kind.USER)
    attrs.setdefault("scope", ApiToken.Scope.READ_WRITE)
    return token_create(organization=org, created_by=user, **attrs)


@pytest.fixture
def write_token(org: Organization, admin_user: User) -> tuple[ApiToken, str]:
    return make_token(org, admin_user)


@pytest.fixture
def api(write_token: tuple[ApiToken, str]) -> ApiClient:
    """A client with a read-and-write user token of Acme, created by its admin."""
    return ApiClient(write_token[1])


@pytest.fixture
def read_api(org: Organization, admin_user: User) -> ApiClient:
    return ApiClient(make_token(org, admin_user, name="Reader", scope=ApiToken.Scope.READ)[1])


@pytest.fixture
def agent_api(org: Organization, admin_user: User) -> ApiClient:
    return ApiClient(make_token(org, admin_user, name="Enrichment agent", kind=ApiToken.Kind.AGENT)[1])


@pytest.fixture
def other_api(other_org: Organization, outsider: User) -> ApiClient:
    """A client with a token of another organization (Globex)."""
    return ApiClient(make_token(other_org, outsider)[1])
