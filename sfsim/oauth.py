"""OAuth 2.0 as Salesforce serves it on the login host: the authorize page (login + consent), the token endpoint
(authorization_code with PKCE, refresh_token, client_credentials), userinfo, the identity URL and revoke."""

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import urllib.parse

from werkzeug.wrappers import Request, Response

from . import defaults
from .http import dumps, json_response

KNOWN_SCOPES = {
    "api",
    "id",
    "openid",
    "refresh_token",
    "offline_access",
    "web",
    "full",
    "profile",
    "email",
    "address",
    "phone",
    "chatter_api",
    "custom_permissions",
    "visualforce",
}
DEFAULT_SCOPE = "api id refresh_token"
CODE_LIFETIME = 15 * 60


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


class OAuth:
    def __init__(self, org, urls: dict):
        self.org = org
        self.urls = urls  # login, instance
        self.sessions: dict[str, tuple[str, float]] = {}  # browser session -> (user id, created)
        self._lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------------------------------
    def identity_url(self, user_id: str) -> str:
        return f"{self.urls['login']}/id/{self.org.org_id}/{user_id}"

    def _token_body(self, access, user_id: str, scope: str, refresh=None) -> dict:
        issued_at = str(int(access.issued * 1000))
        ident = self.identity_url(user_id)
        body = {"access_token": access.token}
        if refresh is not None:
            body["refresh_token"] = refresh.token
        body["signature"] = self.org.signature(ident, issued_at, defaults.CLIENT_SECRET)
        body["scope"] = scope
        if "openid" in scope.split():
            body["id_token"] = self._id_token(user_id)
        body.update(
            {"instance_url": self.urls["instance"], "id": ident, "token_type": "Bearer", "issued_at": issued_at}
        )
        return body

    def _id_token(self, user_id: str) -> str:
        user = self.org.user_row(user_id)
        now = int(time.time())
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "iss": self.urls["login"],
            "sub": self.identity_url(user_id),
            "aud": defaults.CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "email": user["Email"],
            "name": user["Name"],
            "preferred_username": user["Username"],
        }

        def b64(obj) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        signing = f"{b64(header)}.{b64(claims)}"
        sig = hmac.new(defaults.CLIENT_SECRET.encode(), signing.encode(), hashlib.sha256).digest()
        return signing + "." + base64.urlsafe_b64encode(sig).decode().rstrip("=")

    def _browser_user(self, req: Request) -> str | None:
        sid = req.cookies.get(defaults.SESSION_COOKIE)
        with self._lock:
            entry = self.sessions.get(sid or "")
        if entry is None:
            return None
        user = self.org.user_row(entry[0])
        return entry[0] if user and user["IsActive"] else None

    # -- authorize -------------------------------------------------------------------------------------------------
    def authorize(self, req: Request) -> Response:
        params = req.values
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if client_id != defaults.CLIENT_ID:
            return self._page(
                "Error",
                "<p class=err>OAUTH_EC_APP_NOT_FOUND: the client id is not a known connected "
                "app (invalid_client_id).</p>",
                400,
            )
        if not redirect_uri.startswith(("http://", "https://")):
            return self._page(
                "Error", "<p class=err>redirect_uri must be an absolute http(s) URL (redirect_uri_mismatch).</p>", 400
            )
        state = params.get("state")
        if params.get("response_type") != "code":
            return self._redirect(
                redirect_uri,
                {"error": "unsupported_response_type", "error_description": "response type not supported"},
                state,
            )
        if req.method == "POST":
            return self._authorize_post(req, redirect_uri, state)
        user_id = None if params.get("prompt") == "login" else self._browser_user(req)
        return self._form(params, user_id)

    def _authorize_post(self, req: Request, redirect_uri: str, state: str | None) -> Response:
        form = req.form
        if form.get("action", "").lower() == "deny":
            return self._redirect(
                redirect_uri, {"error": "access_denied", "error_description": "end-user denied authorization"}, state
            )
        user_id = self._browser_user(req) if not form.get("username") else None
        new_sid = None
        if user_id is None:
            user_id = self.org.check_password(form.get("username", ""), form.get("password", ""))
            if user_id is None:
                return self._form(
                    form,
                    None,
                    error="Please check your username and password. If you still can't "
                    "log in, contact your Salesforce administrator.",
                )
            new_sid = secrets.token_urlsafe(32)
            with self._lock:
                self.sessions[new_sid] = (user_id, time.time())
        scope = self._scope(form.get("scope"))
        challenge = form.get("code_challenge")
        code = self.org.issue(
            "code",
            user_id,
            defaults.CLIENT_ID,
            scope,
            extra={
                "redirect_uri": redirect_uri,
                "code_challenge": challenge,
                "code_challenge_method": form.get("code_challenge_method") or ("S256" if challenge else None),
            },
        )
        resp = self._redirect(redirect_uri, {"code": code.token}, state)
        if new_sid:
            resp.set_cookie(defaults.SESSION_COOKIE, new_sid, httponly=True, secure=True, samesite="Lax", path="/")
        return resp

    def _scope(self, requested: str | None) -> str:
        words = [w for w in (requested or DEFAULT_SCOPE).replace(",", " ").split() if w in KNOWN_SCOPES]
        return " ".join(dict.fromkeys(words)) or DEFAULT_SCOPE

    def _redirect(self, uri: str, params: dict, state: str | None) -> Response:
        if state is not None:
            params = {**params, "state": state}
        sep = "&" if "?" in uri else "?"
        return Response(status=302, headers={"Location": uri + sep + urllib.parse.urlencode(params)})

    def _form(self, params, user_id: str | None, error: str | None = None) -> Response:
        keep = (
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "login_hint",
            "display",
            "nonce",
        )
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(params.get(k, ""))}">'
            for k in keep
            if params.get(k) is not None
        )
        scopes = html.escape(self._scope(params.get("scope")))
        if user_id is None:
            login = (
                f'<label>Username <input name="username" autocomplete="username" '
                f'value="{html.escape(params.get("login_hint", "") or "")}"></label>'
                '<label>Password <input name="password" type="password" autocomplete="current-password">'
                "</label>"
            )
        else:
            user = self.org.user_row(user_id)
            login = f"<p>Signed in as <b>{html.escape(user['Username'])}</b>.</p>"
        body = (
            f"{f'<p class=err>{html.escape(error)}</p>' if error else ''}"
            f'<form method="post" action="/services/oauth2/authorize">{hidden}{login}'
            f"<p>Allow <b>sfsim Default Connected App</b> to access your org with the scopes "
            f"<code>{scopes}</code>?</p>"
            '<button name="action" value="Allow" type="submit">Allow</button> '
            '<button name="action" value="Deny" type="submit">Deny</button></form>'
        )
        return self._page("Log in to sfsim", body)

    def _page(self, title: str, body: str, status: int = 200) -> Response:
        page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>" + html.escape(title) + "</title>"
            "<meta name=viewport content='width=device-width,initial-scale=1'><style>body{font:16px sans-serif;"
            "max-width:26rem;margin:4rem auto;padding:0 1rem}label{display:block;margin:.8rem 0}input{display:"
            "block;width:100%;padding:.4rem;box-sizing:border-box}button{padding:.5rem 1.2rem;margin-right:.5rem}"
            ".err{color:#b00}</style></head><body><h1>" + html.escape(title) + "</h1>" + body + "</body></html>"
        )
        return Response(
            page, status=status, content_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"}
        )

    # -- token -----------------------------------------------------------------------------------------------------
    def token(self, req: Request) -> Response:
        form = req.form
        grant = form.get("grant_type")
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        if req.authorization and req.authorization.type == "basic":
            client_id = client_id or req.authorization.username
            secret = secret or req.authorization.password
        if grant not in ("authorization_code", "refresh_token", "client_credentials"):
            return oauth_error("unsupported_grant_type", "grant type not supported")
        if client_id != defaults.CLIENT_ID:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if secret is not None and secret != defaults.CLIENT_SECRET:
            return oauth_error("invalid_client", "invalid client credentials")
        if grant == "authorization_code":
            return self._code_grant(form, secret)
        if grant == "refresh_token":
            return self._refresh_grant(form)
        if secret is None:
            return oauth_error("invalid_client", "invalid client credentials")
        user = self.org.user_row(self.org.admin_id)
        if not user or not user["IsActive"]:
            return oauth_error("invalid_grant", "user is inactive")
        access = self.org.issue("access", self.org.admin_id, client_id, "api")
        return json_response(self._token_body(access, self.org.admin_id, "api"))

    def _code_grant(self, form, secret: str | None) -> Response:
        code = self.org.token(form.get("code", ""), "code")
        if code is None:
            return oauth_error("invalid_grant", "invalid authorization code")
        extra = code.extra or {}
        if self.org.clock.now().timestamp() - code.issued > CODE_LIFETIME:
            return oauth_error("invalid_grant", "expired authorization code")
        if form.get("redirect_uri") != extra.get("redirect_uri"):
            return oauth_error("redirect_uri_mismatch", "redirect_uri must match configuration")
        verifier = form.get("code_verifier")
        challenge = extra.get("code_challenge")
        if challenge:
            if not verifier:
                return oauth_error("invalid_grant", "invalid code verifier")
            if extra.get("code_challenge_method", "S256").upper() == "PLAIN":
                expected = verifier
            else:
                digest = hashlib.sha256(verifier.encode()).digest()
                expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
            if not hmac.compare_digest(expected, challenge):
                return oauth_error("invalid_grant", "invalid code verifier")
        elif secret is None:
            return oauth_error("invalid_client", "invalid client credentials")
        self.org.revoke(token=code.token)
        user = self.org.user_row(code.user_id)
        if not user or not user["IsActive"]:
            return oauth_error("invalid_grant", "inactive user")
        scope = code.scope
        refresh = None
        if {"refresh_token", "offline_access"} & set(scope.split()):
            refresh = self.org.issue("refresh", code.user_id, defaults.CLIENT_ID, scope)
        access = self.org.issue(
            "access", code.user_id, defaults.CLIENT_ID, scope, extra={"refresh": refresh.token} if refresh else None
        )
        return json_response(self._token_body(access, code.user_id, scope, refresh))

    def _refresh_grant(self, form) -> Response:
        refresh = self.org.token(form.get("refresh_token", ""), "refresh")
        if refresh is None:
            return oauth_error("invalid_grant", "expired access/refresh token")
        user = self.org.user_row(refresh.user_id)
        if not user or not user["IsActive"]:
            return oauth_error("invalid_grant", "inactive user")
        access = self.org.issue(
            "access", refresh.user_id, refresh.client_id, refresh.scope, extra={"refresh": refresh.token}
        )
        return json_response(self._token_body(access, refresh.user_id, refresh.scope))

    # -- revoke, userinfo, identity --------------------------------------------------------------------------------
    def revoke(self, req: Request) -> Response:
        value = req.values.get("token", "")
        tok = self.org.token(value, "access") or self.org.token(value, "refresh")
        if tok is None:
            return oauth_error("unsupported_token_type", "this token type is not supported")
        self.org.revoke(token=value)
        return Response(status=200)

    def _bearer(self, req: Request):
        auth = req.headers.get("Authorization", "")
        value = auth.split(" ", 1)[1] if " " in auth else req.values.get("oauth_token", "")
        return self.org.session_user(value.strip())

    def userinfo(self, req: Request) -> Response:
        tok = self._bearer(req)
        if tok is None:
            return Response("Bad_OAuth_Token", status=403, content_type="text/plain")
        return json_response(self._userinfo(tok.user_id))

    def _urls(self, user_id: str) -> dict:
        inst = self.urls["instance"]
        org = self.org.org_id
        return {
            "enterprise": f"{inst}/services/Soap/c/{{version}}/{org[:15]}",
            "metadata": f"{inst}/services/Soap/m/{{version}}/{org[:15]}",
            "partner": f"{inst}/services/Soap/u/{{version}}/{org[:15]}",
            "rest": f"{inst}/services/data/v{{version}}/",
            "sobjects": f"{inst}/services/data/v{{version}}/sobjects/",
            "search": f"{inst}/services/data/v{{version}}/search/",
            "query": f"{inst}/services/data/v{{version}}/query/",
            "recent": f"{inst}/services/data/v{{version}}/recent/",
            "tooling_soap": f"{inst}/services/Soap/T/{{version}}/{org[:15]}",
            "tooling_rest": f"{inst}/services/data/v{{version}}/tooling/",
            "profile": f"{inst}/{user_id}",
            "feeds": f"{inst}/services/data/v{{version}}/chatter/feeds",
            "groups": f"{inst}/services/data/v{{version}}/chatter/groups",
            "users": f"{inst}/services/data/v{{version}}/chatter/users",
            "feed_items": f"{inst}/services/data/v{{version}}/chatter/feed-items",
            "feed_elements": f"{inst}/services/data/v{{version}}/chatter/feed-elements",
            "custom_domain": inst,
        }

    def _userinfo(self, user_id: str) -> dict:
        u = self.org.user_row(user_id)
        pic = f"{self.urls['instance']}/profilephoto/005/F"
        return {
            "sub": self.identity_url(user_id),
            "user_id": user_id,
            "organization_id": self.org.org_id,
            "preferred_username": u["Username"],
            "nickname": u["Username"].split("@")[0],
            "name": u["Name"],
            "email": u["Email"],
            "email_verified": True,
            "given_name": u["FirstName"],
            "family_name": u["LastName"],
            "zoneinfo": u["TimeZoneSidKey"],
            "photos": {"picture": pic, "thumbnail": pic.replace("/F", "/T")},
            "profile": f"{self.urls['instance']}/{user_id}",
            "picture": pic,
            "address": {},
            "is_salesforce_integration_user": False,
            "urls": self._urls(user_id),
            "active": bool(u["IsActive"]),
            "user_type": "STANDARD",
            "language": u["LanguageLocaleKey"],
            "locale": u["LocaleSidKey"],
            "utcOffset": 0,
            "updated_at": u["LastModifiedDate"],
            "is_app_installed": True,
        }

    def identity(self, req: Request, org_id: str, user_id: str) -> Response:
        tok = self._bearer(req)
        if tok is None:
            return Response("Bad_OAuth_Token", status=403, content_type="text/plain")
        if org_id[:15] != self.org.org_id[:15] or user_id[:15] != tok.user_id[:15]:
            return Response("Bad_Id", status=403, content_type="text/plain")
        u = self.org.user_row(tok.user_id)
        urls = self._urls(tok.user_id)
        version = req.args.get("version")
        if version:
            urls = {k: v.replace("{version}", version) for k, v in urls.items()}
        info = self._userinfo(tok.user_id)
        return Response(
            dumps(
                {
                    "id": self.identity_url(tok.user_id),
                    "asserted_user": True,
                    "user_id": tok.user_id,
                    "organization_id": self.org.org_id,
                    "username": u["Username"],
                    "nick_name": info["nickname"],
                    "display_name": u["Name"],
                    "email": u["Email"],
                    "email_verified": True,
                    "first_name": u["FirstName"],
                    "last_name": u["LastName"],
                    "timezone": u["TimeZoneSidKey"],
                    "photos": info["photos"],
                    "addr_street": None,
                    "addr_city": None,
                    "addr_state": None,
                    "addr_country": None,
                    "addr_zip": None,
                    "mobile_phone": None,
                    "mobile_phone_verified": False,
                    "is_lightning_login_user": False,
                    "status": {"created_date": None, "body": None},
                    "urls": urls,
                    "active": bool(u["IsActive"]),
                    "user_type": "STANDARD",
                    "language": u["LanguageLocaleKey"],
                    "locale": u["LocaleSidKey"],
                    "utcOffset": 0,
                    "last_modified_date": u["LastModifiedDate"],
                    "is_app_installed": True,
                }
            ),
            content_type="application/json;charset=UTF-8",
        )
