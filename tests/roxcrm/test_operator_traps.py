"""Traps an operator falls into on a first deployment: database connections held by runserver's threads, every
page a 500 before `collectstatic`, a sign-up that answers 500 without a mail server, organization addresses that
differ only in case or read as the site's own pages."""

from __future__ import annotations

import html
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from roxcrm.models import Organization, User
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def production_settings(*names: str, **extra_env: str) -> dict[str, Any]:
    """Settings as roxcrm/settings.py computes them for a production environment (DEBUG off, nothing else set)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DEBUG", "CONN_MAX_AGE", "DATABASE"))}
    env.update({"DEBUG": "False", "SECRET_KEY": "x" * 50, **extra_env})
    script = (
        "import json, sys\n"
        "from roxcrm import settings\n"
        "json.dump({name: eval('settings.' + name) for name in sys.argv[1:]}, sys.stdout, default=str)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *names], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------------------------------------------
# (a) Persistent database connections


def test_postgresql_connections_are_closed_after_each_request_unless_conn_max_age_is_set() -> None:
    # runserver serves each request on a new thread, and each thread would keep its own connection open for
    # CONN_MAX_AGE: 60 seconds of browsing held dozens of connections and PostgreSQL answered "too many clients".
    url = "postgres://rox:secret@127.0.0.1:5432/rox"
    setting = "DATABASES['default']['CONN_MAX_AGE']"
    assert production_settings(setting, DATABASE_URL=url) == {setting: 0}
    assert production_settings(setting, DATABASE_URL=url, CONN_MAX_AGE="60") == {setting: 60}


# ---------------------------------------------------------------------------------------------------------------
# (b) Static files not collected yet


@pytest.fixture
def production_static_files(settings: Any, tmp_path: Path) -> Path:
    """The static files storage production uses, over a STATIC_ROOT that `collectstatic` has not filled."""
    backend = production_settings("STORAGES")["STORAGES"]["staticfiles"]["BACKEND"]
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": backend}}
    settings.STATIC_ROOT = tmp_path
    settings.DEBUG = False
    return tmp_path


def test_pages_work_before_collectstatic_and_the_log_says_to_run_it(
    production_static_files: Path, db: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        first = Client().get(reverse("account_login"))
        second = Client().get(reverse("account_login"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert "/static/css/app.css" in first.content.decode()
    said = [record.getMessage() for record in caplog.records if "collectstatic" in record.getMessage()]
    assert len(said) == 1  # once per process, not once per page
    assert "manage.py collectstatic" in said[0]


def test_after_collectstatic_pages_use_the_hashed_names(production_static_files: Path, db: None) -> None:
    paths = {"css/app.css": "css/app.0123456789ab.css", "favicon.svg": "favicon.0123456789ab.svg"}
    manifest = {"version": "1.1", "hash": "0", "paths": paths}
    (production_static_files / "staticfiles.json").write_text(json.dumps(manifest))
    assert "/static/css/app.0123456789ab.css" in Client().get(reverse("account_login")).content.decode()


# ---------------------------------------------------------------------------------------------------------------
# (c) No mail server


@pytest.fixture
def no_mail_server(settings: Any) -> Any:
    """SMTP to a port where nothing listens, as on a server where EMAIL_URL was never set."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.ACCOUNT_ALLOW_SIGNUPS = True
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    cache.clear()  # allauth's rate limits on sign-ups and confirmation mails, counted by the other tests' sign-ups
    return settings


def test_sign_up_without_a_mail_server_signs_the_person_up_and_says_the_mail_was_not_sent(
    no_mail_server: Any, client: Client, db: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = client.post(
            reverse("account_signup"),
            {"email": "no-mail@example.com", "password1": PASSWORD, "password2": PASSWORD},
            follow=True,
        )
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "Your account is ready, but the confirmation e-mail to no-mail@example.com could not be sent." in page
    assert "You can send it again later from E-mail addresses" in page
    assert "Confirmation e-mail sent" not in page and "We have sent" not in page
    assert User.objects.filter(email="no-mail@example.com").exists()
    assert response.wsgi_request.user.is_authenticated
    logged = [record.getMessage() for record in caplog.records]
    assert "Could not send the confirmation e-mail to no-mail@example.com" in logged


# ---------------------------------------------------------------------------------------------------------------
# (d) Organization addresses


def rename(client: Client, org: Organization, slug: str) -> str:
    response = client.post(reverse("settings_organization", args=[org.slug]), {"name": org.name, "slug": slug})
    return html.unescape(response.content.decode())


def test_an_address_another_organization_has_in_other_case_is_refused(
    org: Organization, other_org: Organization, admin_client: Client
) -> None:
    page = rename(admin_client, org, "GloBex")
    assert "Another organization already uses this address (upper and lower case count as the same)." in page
    org.refresh_from_db()
    assert org.slug == "acme"
    # Its own address in other case is still its own.
    rename(admin_client, org, "ACME")
    org.refresh_from_db()
    assert org.slug == "ACME"


@pytest.mark.parametrize(
    "slug",
    ["admin", "API", "static", "accounts", "Settings", "auth", "o", "organizations", "invitations", "integrations"],
)
def test_reserved_words_and_the_sites_own_paths_are_refused(slug: str, org: Organization, admin_client: Client) -> None:
    page = rename(admin_client, org, slug)
    assert f"“{slug}” is reserved for the site's own pages; choose another." in page
    org.refresh_from_db()
    assert org.slug == "acme"


def test_a_new_organization_gets_a_free_address_that_is_not_reserved(
    settings: Any, admin_client: Client, org: Organization
) -> None:
    settings.ORGANIZATION_CREATION = "anyone"
    Organization.objects.create(name="Initech", slug="Initech")
    admin_client.post(reverse("organization_create"), {"name": "initech"})
    admin_client.post(reverse("organization_create"), {"name": "Admin"})
    assert set(Organization.objects.values_list("slug", flat=True)) >= {"Initech", "initech-2", "admin-2"}


def test_the_database_refuses_addresses_that_differ_only_in_case(org: Organization) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(name="Acme again", slug="ACME")


def test_an_invitation_without_a_mail_server_is_kept_and_its_link_shown(
    no_mail_server: Any, org: Organization, admin_client: Client
) -> None:
    response = admin_client.post(
        reverse("settings_members", args=[org.slug]), {"email": "new@example.com", "role": "member"}, follow=True
    )
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    invitation = org.invitations.get(email="new@example.com")
    assert "The invitation to new@example.com is ready, but the e-mail could not be sent" in page
    assert f"/invitations/{invitation.token}/" in page


def test_a_password_reset_without_a_mail_server_says_so(no_mail_server: Any, admin_user: User, client: Client) -> None:
    response = client.post(reverse("account_reset_password"), {"email": admin_user.email}, follow=True)
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert f"The password reset e-mail to {admin_user.email} could not be sent" in page
