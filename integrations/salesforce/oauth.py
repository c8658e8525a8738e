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
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from django.views.decorators.debug import sensitive_variables

from integrations.salesforce.errors import AuthRevokedError, OAuthError, TransientError
from integrations.salesforce.hosts import host_allowed, require_allowed
from integrations.salesforce.http import new_session

SCOPES = "api refresh_token id"
# Salesforce's answers that mean "this sign-in is no longer accepted": reconnecting is the only way out.
REFUSED_GRANT_ERRORS = frozenset(
    {"invalid_grant", "invalid_client_id", "invalid_client", "inactive_user", "inactive_org"}
)
_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


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
    require_allowed(login_url, what="The login URL")
    return f"{login_url.rstrip('/')}/services/oauth2/authorize?{urlencode(params)}"


@sensitive_variables()
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


@sensitive_variables()
def client_credentials(*, login_url: str, client_id: str, client_secret: str) -> TokenResponse:
    """A token for the connected app's run-as user. A refused grant (the user deactivated, the app or its secret
    changed) raises ``AuthRevokedError``."""
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    return _grant(login_url, data)


@sensitive_variables()
def refresh(*, login_url: str, client_id: str, client_secret: str, refresh_token: str) -> TokenResponse:
    """A new access token. ``invalid_grant`` (revoked, user deactivated) raises ``AuthRevokedError``."""
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    return _grant(login_url, data)


@sensitive_variables()
def _grant(login_url: str, data: dict[str, str]) -> TokenResponse:
    """A token request for a grant Rox already holds: an answer that it is no longer accepted raises
    ``AuthRevokedError`` (reconnecting is the only way out)."""
    try:
        return _token_request(login_url, data)
    except OAuthError as exc:
        if exc.error in REFUSED_GRANT_ERRORS:
            raise AuthRevokedError(exc.message, code=exc.error) from None
        raise


@sensitive_variables()
def identity(*, identity_url: str, access_token: str) -> Identity:
    require_allowed(identity_url, what="The identity URL in Salesforce's answer")
    data = _get_json(identity_url, access_token)
    strings = {key: data.get(key) for key in ("user_id", "organization_id", "username", "email", "display_name")}
    if not all(isinstance(value, str) for value in strings.values() if value is not None) or not (
        _SALESFORCE_ID.match(strings["user_id"] or "") and _SALESFORCE_ID.match(strings["organization_id"] or "")
    ):
        raise OAuthError("Salesforce's answer about the signed-in user could not be understood. Please try again.")
    return Identity(
        user_id=strings["user_id"],
        org_id=strings["organization_id"],
        username=strings["username"] or "",
        email=strings["email"] or "",
        display_name=strings["display_name"] or "",
    )


@sensitive_variables()
def revoke(*, login_url: str, token: str) -> bool:
    """Revoke a token at the host that issued it. Returns False when Salesforce could not be reached or refused,
    and without sending anything when that host is not an allowed Salesforce host."""
    if not host_allowed(login_url):
        return False
    try:
        response = new_session().post(f"{login_url.rstrip('/')}/services/oauth2/revoke", data={"token": token})
    except requests.RequestException:
        return False
    return response.status_code == 200


@sensitive_variables()
def _token_request(login_url: str, data: dict[str, str]) -> TokenResponse:
    """POST to the token endpoint of ``login_url``, which must be an allowed host (nothing is sent otherwise); the
    answer's instance and identity URLs must be allowed hosts too, or the tokens are not used."""
    require_allowed(login_url, what="The login URL")
    url = f"{login_url.rstrip('/')}/services/oauth2/token"
    try:
        response = new_session().post(url, data=data, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise TransientError(f"Could not reach Salesforce at {login_url} ({exc.__class__.__name__}).") from None
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code >= 500:
        raise TransientError(f"Salesforce answered {response.status_code} at {url}", status=response.status_code)
    if response.status_code != 200 or not isinstance(body.get("access_token"), str):
        error = str(body.get("error", ""))[:100]
        description = str(body.get("error_description") or response.reason or "unknown error")[:300]
        raise OAuthError(
            f"Salesforce refused the sign-in: {description} ({error or response.status_code}).", error=error
        )
    identity_url, instance_url = body.get("id"), body.get("instance_url")
    if not isinstance(identity_url, str) or not isinstance(instance_url, str):
        raise OAuthError("Salesforce's token answer had no identity or instance URL.")
    require_allowed(identity_url, what="The identity URL in Salesforce's answer")
    require_allowed(instance_url, what="The instance URL in Salesforce's answer")
    org_id, user_id = _ids_from_identity_url(identity_url)
    try:
        issued_ms = int(body.get("issued_at") or 0)
        issued_at = dt.datetime.fromtimestamp(issued_ms / 1000, tz=dt.UTC) if issued_ms else dt.datetime.now(dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        issued_at = dt.datetime.now(dt.UTC)
    refresh_token, scopes = body.get("refresh_token") or "", body.get("scope") or ""
    return TokenResponse(
        access_token=body["access_token"],
        refresh_token=refresh_token if isinstance(refresh_token, str) else "",
        instance_url=instance_url.rstrip("/"),
        identity_url=identity_url,
        org_id=org_id,
        user_id=user_id,
        issued_at=issued_at,
        scopes=scopes if isinstance(scopes, str) else "",
    )


def _ids_from_identity_url(url: str) -> tuple[str, str]:
    """``https://login.salesforce.com/id/00D.../005...`` → (org id, user id)."""
    parts = urlsplit(url).path.rstrip("/").split("/")
    if len(parts) < 3 or parts[-3] != "id" or not (_SALESFORCE_ID.match(parts[-2]) and _SALESFORCE_ID.match(parts[-1])):
        raise OAuthError("Salesforce's token response had no identity URL.")
    return parts[-2], parts[-1]


@sensitive_variables()
def _get_json(url: str, access_token: str) -> dict[str, Any]:
    try:
        response = new_session().get(url, headers={"Authorization": f"Bearer {access_token}"})
    except requests.RequestException as exc:
        raise TransientError(f"Could not reach Salesforce ({exc.__class__.__name__}).") from None
    if response.status_code == 401:
        raise AuthRevokedError("Salesforce refused the access token.", code="INVALID_SESSION_ID", status=401)
    if response.status_code != 200:
        raise TransientError(f"Salesforce answered {response.status_code} at {url}", status=response.status_code)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise OAuthError("Salesforce's answer about the signed-in user could not be understood. Please try again.")
    return data
