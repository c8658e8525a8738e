"""OAuth 2.0 against sfsim with plain requests: authorize page, code + PKCE, refresh, client credentials, errors."""

import base64
import hashlib
import re
import secrets
import urllib.parse

import pytest

REDIRECT = "http://127.0.0.1:8000/accounts/salesforce/login/callback/"


def _authorize(sfsim, session, **params):
    query = {"response_type": "code", "client_id": sfsim.client_id, "redirect_uri": REDIRECT, **params}
    return session.get(f"{sfsim.login_url}/services/oauth2/authorize", params=query, allow_redirects=False)


def _submit(sfsim, session, page_params: dict, action="Allow", username=None, password=None):
    form = {
        "response_type": "code",
        "client_id": sfsim.client_id,
        "redirect_uri": REDIRECT,
        **page_params,
        "action": action,
    }
    if username is not None:
        form.update(username=username, password=password)
    return session.post(f"{sfsim.login_url}/services/oauth2/authorize", data=form, allow_redirects=False)


def _code(resp) -> str:
    assert resp.status_code == 302, resp.text
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(resp.headers["Location"]).query)
    return query["code"][0]


def _pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _token(sfsim, session, **data):
    return session.post(f"{sfsim.login_url}/services/oauth2/token", data=data)


def test_authorize_page_is_a_plain_login_and_consent_form(sfsim):
    page = _authorize(sfsim, sfsim.session(), state="s1", scope="api refresh_token id")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert 'value="Allow"' in page.text and 'value="Deny"' in page.text
    assert "sessionid" not in page.headers.get("Set-Cookie", "")


def test_code_flow_returns_salesforce_token_shape(sfsim):
    s = sfsim.session()
    resp = _submit(
        sfsim,
        s,
        {"state": "xyz", "scope": "api refresh_token id openid"},
        username=sfsim.username,
        password=sfsim.password,
    )
    assert "state=xyz" in resp.headers["Location"]
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("sfsim_sid=") and "Secure" in cookie and "HttpOnly" in cookie
    token = _token(
        sfsim,
        s,
        grant_type="authorization_code",
        code=_code(resp),
        client_id=sfsim.client_id,
        client_secret=sfsim.client_secret,
        redirect_uri=REDIRECT,
    ).json()
    assert {
        "access_token",
        "refresh_token",
        "signature",
        "scope",
        "id_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    } <= set(token)
    assert "expires_in" not in token
    assert token["instance_url"] == sfsim.instance_url
    assert re.fullmatch(r".*/id/00D\w{15}/005\w{15}", token["id"])
    assert token["issued_at"].isdigit() and len(token["issued_at"]) == 13
    assert token["token_type"] == "Bearer"


def test_code_is_single_use(sfsim):
    s = sfsim.session()
    code = _code(_submit(sfsim, s, {}, username=sfsim.username, password=sfsim.password))
    args = dict(
        grant_type="authorization_code",
        code=code,
        client_id=sfsim.client_id,
        client_secret=sfsim.client_secret,
        redirect_uri=REDIRECT,
    )
    assert _token(sfsim, s, **args).status_code == 200
    again = _token(sfsim, s, **args)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_signed_in_browser_only_sees_consent(sfsim):
    s = sfsim.session()
    _submit(sfsim, s, {}, username=sfsim.username, password=sfsim.password)
    page = _authorize(sfsim, s)
    assert 'name="password"' not in page.text and "Signed in as" in page.text
    assert _code(_submit(sfsim, s, {}))


def test_wrong_password_shows_the_form_again(sfsim):
    resp = _submit(sfsim, sfsim.session(), {}, username=sfsim.username, password="nope")
    assert resp.status_code == 200 and "check your username and password" in resp.text


def test_deny_redirects_with_access_denied(sfsim):
    resp = _submit(sfsim, sfsim.session(), {"state": "st"}, action="Deny")
    assert resp.status_code == 302
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(resp.headers["Location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st"]


def test_pkce_is_required_when_a_challenge_was_given(sfsim):
    s = sfsim.session()
    verifier, challenge = _pkce()
    params = {"code_challenge": challenge, "code_challenge_method": "S256"}
    code = _code(_submit(sfsim, s, params, username=sfsim.username, password=sfsim.password))
    missing = _token(
        sfsim,
        s,
        grant_type="authorization_code",
        code=code,
        client_id=sfsim.client_id,
        client_secret=sfsim.client_secret,
        redirect_uri=REDIRECT,
    )
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    code = _code(_submit(sfsim, s, params))
    wrong = _token(
        sfsim,
        s,
        grant_type="authorization_code",
        code=code,
        client_id=sfsim.client_id,
        client_secret=sfsim.client_secret,
        redirect_uri=REDIRECT,
        code_verifier="x" * 50,
    )
    assert wrong.json()["error"] == "invalid_grant"
    code = _code(_submit(sfsim, s, params))
    ok = _token(
        sfsim,
        s,
        grant_type="authorization_code",
        code=code,
        client_id=sfsim.client_id,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert ok.status_code == 200 and ok.json()["access_token"]


def test_bad_client_secret_and_unknown_client(sfsim):
    s = sfsim.session()
    bad = _token(sfsim, s, grant_type="client_credentials", client_id=sfsim.client_id, client_secret="wrong")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    unknown = _token(sfsim, s, grant_type="client_credentials", client_id="nope", client_secret="x")
    assert unknown.json()["error"] == "invalid_client_id"
    grant = _token(sfsim, s, grant_type="magic", client_id=sfsim.client_id)
    assert grant.json()["error"] == "unsupported_grant_type"


def test_refresh_response_has_no_refresh_token_and_revoked_refresh_fails(sfsim):
    s = sfsim.session()
    code = _code(_submit(sfsim, s, {"scope": "api refresh_token"}, username=sfsim.username, password=sfsim.password))
    first = _token(
        sfsim,
        s,
        grant_type="authorization_code",
        code=code,
        client_id=sfsim.client_id,
        client_secret=sfsim.client_secret,
        redirect_uri=REDIRECT,
    ).json()
    refreshed = _token(
        sfsim,
        s,
        grant_type="refresh_token",
        refresh_token=first["refresh_token"],
        client_id=sfsim.client_id,
        client_secret=sfsim.client_secret,
    ).json()
    assert refreshed["access_token"] != first["access_token"]
    assert "refresh_token" not in refreshed and "expires_in" not in refreshed
    revoke = s.post(f"{sfsim.login_url}/services/oauth2/revoke", data={"token": first["refresh_token"]})
    assert revoke.status_code == 200
    again = _token(
        sfsim, s, grant_type="refresh_token", refresh_token=first["refresh_token"], client_id=sfsim.client_id
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_client_credentials_has_no_refresh_token(sfsim):
    token = sfsim.token()
    assert "refresh_token" not in token and token["scope"] == "api"


def test_userinfo_and_identity(sfsim):
    token = sfsim.token()
    s = sfsim.session()
    info = s.get(f"{sfsim.login_url}/services/oauth2/userinfo", params={"oauth_token": token["access_token"]}).json()
    assert info["preferred_username"] == sfsim.username
    assert info["user_id"].startswith("005") and info["organization_id"].startswith("00D")
    for key in (
        "sub",
        "nickname",
        "name",
        "email",
        "email_verified",
        "given_name",
        "family_name",
        "zoneinfo",
        "photos",
        "profile",
        "picture",
        "urls",
        "active",
        "user_type",
        "language",
        "locale",
        "utcOffset",
        "updated_at",
        "is_app_installed",
    ):
        assert key in info
    ident = s.get(token["id"], headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert ident["username"] == sfsim.username
    assert ident["urls"]["rest"] == f"{sfsim.instance_url}/services/data/v{{version}}/"
    versioned = s.get(
        token["id"], params={"version": "59.0"}, headers={"Authorization": f"Bearer {token['access_token']}"}
    ).json()
    assert versioned["urls"]["rest"].endswith("/services/data/v59.0/")


def test_revoked_access_token_answers_invalid_session(sfsim, api):
    s = sfsim.session()
    assert api.get(api.url("limits")).status_code == 200
    s.post(f"{sfsim.login_url}/services/oauth2/revoke", data={"token": api.token["access_token"]})
    resp = api.get(api.url("limits"))
    assert resp.status_code == 401
    assert resp.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


@pytest.mark.parametrize("lifetime", [60])
def test_sessions_expire_after_the_configured_time(sfsim, api, lifetime):
    sfsim.control("PUT", "settings", {"session_lifetime_seconds": lifetime})
    try:
        assert api.get(api.url("limits")).status_code == 200
        sfsim.control("POST", "clock", {"advance_seconds": lifetime + 5})
        resp = api.get(api.url("limits"))
        assert resp.status_code == 401 and resp.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    finally:
        sfsim.control("POST", "clock", {"reset": True})
        sfsim.control("PUT", "settings", {"session_lifetime_seconds": 7200})


def test_deactivated_user_cannot_refresh(sfsim):
    s = sfsim.session()
    user = sfsim.control(
        "POST",
        "users",
        {
            "username": f"rep-{secrets.token_hex(3)}@sfsim.example.com",
            "password": "pw-123456",
            "profile": "System Administrator",
        },
    )
    username = s.get(f"{sfsim.instance_url}/_sfsim/records/User/{user['id']}").json()["Username"]
    code = _code(
        _submit(sfsim, sfsim.session(), {"scope": "api refresh_token"}, username=username, password="pw-123456")
    )
    token = _token(
        sfsim,
        s,
        grant_type="authorization_code",
        code=code,
        client_id=sfsim.client_id,
        client_secret=sfsim.client_secret,
        redirect_uri=REDIRECT,
    ).json()
    sfsim.control("POST", f"users/{user['id']}/deactivate")
    again = _token(
        sfsim, s, grant_type="refresh_token", refresh_token=token["refresh_token"], client_id=sfsim.client_id
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
