"""A throwaway Django project that signs in with django-allauth's Salesforce provider against sfsim.

Run as ``python -m tests.sfsim.allauth_project LOGIN_URL CA_PATH CLIENT_ID CLIENT_SECRET USERNAME PASSWORD``; it
prints one JSON line describing the social account allauth created. Kept out of the product's settings so that
the product does not grow a "sign in with Salesforce" button just for this conformance test.
"""

from __future__ import annotations

import html
import json
import re
import sys
from urllib.parse import urlsplit

import django
import requests
from django.conf import settings

HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def configure(ca_path: str) -> None:
    settings.configure(
        SECRET_KEY="allauth-conformance-test",
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "allauth",
            "allauth.account",
            "allauth.socialaccount",
            "allauth.socialaccount.providers.salesforce",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "allauth.account.middleware.AccountMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            }
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        AUTHENTICATION_BACKENDS=["allauth.account.auth_backends.AuthenticationBackend"],
        SOCIALACCOUNT_LOGIN_ON_GET=True,
        SOCIALACCOUNT_AUTO_SIGNUP=True,
        SOCIALACCOUNT_STORE_TOKENS=True,
        SOCIALACCOUNT_ADAPTER=f"{__name__}.TrustingAdapter",
        SOCIALACCOUNT_PROVIDERS={"salesforce": {"SCOPE": ["id", "api", "refresh_token"], "OAUTH_PKCE_ENABLED": True}},
        ACCOUNT_EMAIL_VERIFICATION="none",
        USE_TZ=True,
        CA_PATH=ca_path,
    )
    django.setup()


def _urls():
    from django.urls import include, path

    return [path("accounts/", include("allauth.urls"))]


def __getattr__(name: str):
    if name == "urlpatterns":
        return _urls()
    if name == "TrustingAdapter":
        from allauth.socialaccount.adapter import DefaultSocialAccountAdapter

        class TrustingAdapter(DefaultSocialAccountAdapter):
            """The project adapter the reference describes: its requests session trusts sfsim's CA."""

            def get_requests_session(self) -> requests.Session:
                session = super().get_requests_session()
                session.verify = settings.CA_PATH
                session.trust_env = False
                return session

        return TrustingAdapter
    raise AttributeError(name)


def main(login_url: str, ca_path: str, client_id: str, client_secret: str, username: str, password: str) -> None:
    configure(ca_path)
    from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    SocialApp.objects.create(
        provider="salesforce", name="sfsim", client_id=client_id, secret=client_secret, key=login_url
    )
    client = Client()
    start = client.get("/accounts/salesforce/login/?process=login")
    authorize_url = start["Location"]
    browser = requests.Session()
    browser.verify, browser.trust_env = ca_path, False
    page = browser.get(authorize_url, timeout=30)
    form = {k: html.unescape(v) for k, v in HIDDEN_INPUT.findall(page.text)}
    form.update({"username": username, "password": password, "action": "Allow"})
    answer = browser.post(f"{login_url}/services/oauth2/authorize", data=form, allow_redirects=False, timeout=30)
    back = urlsplit(answer.headers["Location"])
    done = client.get(f"{back.path}?{back.query}")
    account = SocialAccount.objects.get(provider="salesforce")
    token = SocialToken.objects.get(account=account)
    print(
        json.dumps(
            {
                "authorize_url": authorize_url,
                "callback_status": done.status_code,
                "uid": account.uid,
                "email": account.user.email,
                "extra_data_keys": sorted(account.extra_data),
                "has_access_token": bool(token.token),
                "has_refresh_token": bool(token.token_secret),
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:7])
