"""Sign-in by e-mail and password (no usernames), sign-up, password reset."""

from __future__ import annotations

from django.core import mail
from django.test import Client
from django.urls import reverse

from roxcrm.models import Organization, User
from tests.conftest import PASSWORD


def test_sign_in_with_email_and_password(org: Organization, client: Client) -> None:
    page = client.get(reverse("account_login")).content.decode()
    assert 'name="login"' in page and "username" not in page.lower()
    response = client.post(reverse("account_login"), {"login": "ADA@acme.example", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard", args=[org.slug])
    response = Client().post(reverse("account_login"), {"login": "ada@acme.example", "password": "wrong"})
    assert "The email address and/or password you specified are not correct." in response.content.decode()


def test_sign_up_needs_only_an_email_and_a_password(client: Client, db: None) -> None:
    page = client.get(reverse("account_signup")).content.decode()
    assert 'name="email"' in page and 'name="username"' not in page
    client.post(reverse("account_signup"), {"email": "Bob@Example.com", "password1": PASSWORD, "password2": PASSWORD})
    assert User.objects.filter(email="bob@example.com").exists()


def test_password_reset_sends_an_email_with_a_working_link(org: Organization, client: Client) -> None:
    client.post(reverse("account_reset_password"), {"email": "ada@acme.example"})
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/auth/password/reset/key/" in line).strip()
    path = link.split("testserver", 1)[1]
    response = client.get(path, follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else path
    new_password = "a different long passphrase"
    client.post(form_url, {"password1": new_password, "password2": new_password})
    assert User.objects.get(email="ada@acme.example").check_password(new_password)
