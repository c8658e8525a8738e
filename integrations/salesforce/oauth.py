"""OAuth 2.0 with Salesforce: the web-server flow with state and PKCE, refresh, client credentials, identity and
revocation.

Written here rather than with django-allauth's Salesforce provider because that provider drops ``instance_url``,
never refreshes or revokes, and ties tokens to the clicking user's social account, while a connection belongs to
the organization and must keep working after that person leaves.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests

from integrations.salesforce.errors import AuthRevokedError, OAuthError, TransientError
from integrations.salesforce.http import new_session

SCOPES = "api refresh_token id"


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    instance_url: str
    identity_url: str
    org_id: str
    user_id: str
    issued_at: dt.datetime
    scopes: str
    refresh_token: str = ""


@dataclass(frozen=True)
class Identity:
    user_id: str
    org_id: str
    username: str
    email: str
    display_name: str


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_code_verifier() -> str:
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    *, login_url: str, client_id: str, redirect_uri: str, state: str, verifier: str, login_hint: str = ""
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPES,
        "state": state,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
        "prompt": "login consent",
    }
    if login_hint:
        params["login_hint"] = login_hint
    return f"{login_url.rstrip('/')}/services/oauth2/authorize?{urlencode(params)}"


def exchange_code(
    *, login_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str, verifier: str
) -> TokenResponse:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return _token_request(login_url, data)


def client_credentials(*, login_url: str, client_id: str, client_secret: str) -> TokenResponse:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    return _token_request(login_url, data)


def refresh(*, login_url: str, client_id: str, client_secret: str, refresh_token: str) -> TokenResponse:
    """A new access token. ``invalid_grant`` (revoked, user deactivated) raises ``AuthRevokedError``."""
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    try:
        return _token_request(login_url, data)
    except OAuthError as exc:
        if exc.error in ("invalid_grant", "invalid_client_id", "invalid_client", "inactive_user", "inactive_org"):
            raise AuthRevokedError(exc.message, code=exc.error) from None
        raise


def identity(*, identity_url: str, access_token: str) -> Identity:
    data = _get_json(identity_url, access_token)
    return Identity(
        user_id=data["user_id"],
        org_id=data["organization_id"],
        username=data.get("username", ""),
        email=data.get("email", ""),
        display_name=data.get("display_name", ""),
    )


def revoke(*, login_url: str, token: str) -> bool:
    """Revoke a token at Salesforce. Returns False when Salesforce could not be reached or refused."""
    try:
        response = new_session().post(f"{login_url.rstrip('/')}/services/oauth2/revoke", data={"token": token})
    except requests.RequestException:
        return False
    return response.status_code == 200


def _token_request(login_url: str, data: dict[str, str]) -> TokenResponse:
    url = f"{login_url.rstrip('/')}/services/oauth2/token"
    try:
        response = new_session().post(url, data=data, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise TransientError(f"Could not reach Salesforce at {login_url}: {exc}") from None
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 500:
        raise TransientError(f"Salesforce answered {response.status_code} at {url}", status=response.status_code)
    if response.status_code != 200 or "access_token" not in body:
        error = body.get("error", "")
        description = body.get("error_description") or response.reason or "unknown error"
        raise OAuthError(
            f"Salesforce refused the sign-in: {description} ({error or response.status_code}).", error=error
        )
    identity_url = body.get("id", "")
    org_id, user_id = _ids_from_identity_url(identity_url)
    issued_ms = int(body.get("issued_at") or 0)
    return TokenResponse(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token", ""),
        instance_url=body.get("instance_url", "").rstrip("/"),
        identity_url=identity_url,
        org_id=org_id,
        user_id=user_id,
        issued_at=dt.datetime.fromtimestamp(issued_ms / 1000, tz=dt.UTC) if issued_ms else dt.datetime.now(dt.UTC),
        scopes=body.get("scope", ""),
    )


def _ids_from_identity_url(url: str) -> tuple[str, str]:
    """``https://login.salesforce.com/id/00D.../005...`` → (org id, user id)."""
    parts = url.rstrip("/").split("/")
    if len(parts) < 3 or parts[-3] != "id":
        raise OAuthError("Salesforce's token response had no identity URL.")
    return parts[-2], parts[-1]


def _get_json(url: str, access_token: str) -> dict[str, Any]:
    try:
        response = new_session().get(url, headers={"Authorization": f"Bearer {access_token}"})
    except requests.RequestException as exc:
        raise TransientError(f"Could not reach Salesforce: {exc}") from None
    if response.status_code == 401:
        raise AuthRevokedError("Salesforce refused the access token.", code="INVALID_SESSION_ID", status=401)
    if response.status_code != 200:
        raise TransientError(f"Salesforce answered {response.status_code} at {url}", status=response.status_code)
    return response.json()
